"""loopml's side, and the bare NumPy/SciPy limit, of benchmarks/monitoring.py's data drift run.

Each run is its own process (so its peak memory is its own), started by monitoring.py from
loopml's virtualenv. It reads the reference and current Parquet files, runs one side and
prints one line ``RESULT {json}`` on stdout: the seconds of the run (from the data in memory
to the verdicts), the seconds of the read, the process's peak resident memory (MiB) and per
column the test, statistic, threshold and verdict.

Sides:

- ``loopml``: ``loopml.monitor(current=..., reference=..., multivariate=False, quality=False)``,
  the checks Evidently's data drift preset makes (a test per column, the drifted share);
- ``loopml-defaults``: ``loopml.monitor(current=..., reference=...)`` with its defaults, which
  add the domain classifier, the data-quality checks and the distribution summaries;
- ``register``: the reference registered as a dataset version in the embedded store at
  ``--home`` (``loopml.datasets.register`` from the Parquet file) and its monitoring profile
  computed and stored as a monitor's first run against it does: the once-per-version cost;
- ``loopml-stored`` and ``loopml-stored-defaults``: as ``loopml`` and ``loopml-defaults`` with
  ``reference="reference@1"`` from that store; the process reads only the current file (the
  reference's rows are never read: the run must say it read the stored profile);
- ``numpy``: the tests loopml ran (normalized Wasserstein on the 1,001-point quantile grid for
  numbers, Jensen-Shannon distance in base 2 for categories, threshold 0.1), written directly
  on NumPy arrays with SciPy, the Parquet categories read as dictionary codes and counted
  with ``np.bincount``: the limit, with no profile, no sample and no checks of the input.

Usage: python benchmarks/monitoring_drift_side.py SIDE REF CUR --numeric n0,n1 --categorical c0
       [--home DIR]  (the store of the register and loopml-stored sides)
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np

from monitoring_side import RunMemory, peak_mib, read_frame, release_arrow

#: The bare side's thresholds: loopml's defaults for its distances.
THRESHOLD = 0.1
GRID = np.linspace(0.0, 1.0, 1001)
#: The dataset name the reference is registered under.
DATASET = "reference"


def run_register(reference: str, home: str) -> dict[str, Any]:
    os.environ["LOOPML_HOME"] = home
    import loopml
    from loopml.client.fluent import _get_client
    from loopml.core.clock import now_ms
    from loopml.health.reference import feature_kinds
    from loopml.health.sources import reference_profile, resolve

    service = _get_client().monitoring  # the store opened before the clock, as in a session
    memory = RunMemory()
    start = time.perf_counter()
    version = loopml.datasets.register(DATASET, reference)
    registered = time.perf_counter() - start
    # what a monitor's first run against the version does before its windows (the rows read
    # back from the store, summarized, stored); every later run reads this profile instead
    start = time.perf_counter()
    data = resolve(version.ref, "reference", service.datasets)
    _, reused = reference_profile(
        data, feature_kinds(version.schema), service.datasets, actor="benchmark", at=now_ms()
    )
    profiled = time.perf_counter() - start
    assert not reused and version.version == 1, (version.ref, reused)
    return {
        "seconds": registered + profiled,
        "register_seconds": registered,
        "profile_seconds": profiled,
        "ref": version.ref,
        "rows": version.rows,
        "stored_mb": round(version.size_bytes / 1e6, 1),
        "columns": {},
        **memory.stop(),
    }


def run_loopml(
    reference: str, current: str, *, defaults: bool, home: str | None = None
) -> dict[str, Any]:
    if home is not None:
        os.environ["LOOPML_HOME"] = home
    import loopml
    from loopml.health import MonitorService  # noqa: F401  (imported before the clock starts)

    ref: Any = f"{DATASET}@1"
    if home is not None:  # the store opened before the clock, as in a session
        from loopml.client.fluent import _get_client

        _get_client()
    start = time.perf_counter()
    if home is None:
        ref = read_frame(reference)
    cur = read_frame(current)
    read = time.perf_counter() - start
    after_read = peak_mib()
    memory = RunMemory()
    start = time.perf_counter()
    if defaults:
        report = loopml.monitor(current=cur, reference=ref)
    else:
        report = loopml.monitor(current=cur, reference=ref, multivariate=False, quality=False)
    seconds = time.perf_counter() - start
    used = memory.stop()
    if home is not None and "reference statistics read from the stored profile" not in (
        report.notes
    ):
        raise SystemExit(f"the stored profile was not used: {report.notes}")
    window = report.windows[0]
    columns = {
        name: {
            "test": f.test,
            "statistic": f.statistic,
            "threshold": f.threshold,
            "drifted": f.drifted,
        }
        for name, f in window.features.items()
    }
    out: dict[str, Any] = {
        "seconds": seconds,
        "read_seconds": read,
        "peak_mib_after_read": after_read,
        "columns": columns,
        "drift_share": window.drift_share,
        **used,
    }
    if window.multivariate is not None:
        out["domain_auc"] = window.multivariate.auc
        out["domain_top_features"] = list(window.multivariate.top_features)
    if defaults:
        out["quality_anomalies"] = len(window.quality)
    return out


def _counts(column: Any) -> dict[str, int]:
    """Category -> rows of a dictionary-encoded column: one ``np.bincount`` per chunk."""
    counts: dict[str, int] = {}
    for chunk in column.chunks:
        codes = chunk.indices.to_numpy(zero_copy_only=False)
        found = np.bincount(codes, minlength=len(chunk.dictionary))
        for level, n in zip(chunk.dictionary.to_pylist(), found.tolist(), strict=True):
            counts[level] = counts.get(level, 0) + n
    return counts


def run_numpy(
    reference: str, current: str, numeric: list[str], categorical: list[str]
) -> dict[str, Any]:
    import pyarrow.parquet as pq
    from scipy.spatial.distance import jensenshannon

    start = time.perf_counter()
    ref = pq.read_table(reference, read_dictionary=categorical)
    cur = pq.read_table(current, read_dictionary=categorical)
    ref_num = {n: ref.column(n).to_numpy() for n in numeric}
    cur_num = {n: cur.column(n).to_numpy() for n in numeric}
    release_arrow()
    read = time.perf_counter() - start
    after_read = peak_mib()

    memory = RunMemory()
    start = time.perf_counter()
    columns: dict[str, dict[str, Any]] = {}
    for name in numeric:
        r, c = ref_num[name], cur_num[name]
        gap = np.abs(np.quantile(r, GRID) - np.quantile(c, GRID))
        w1 = float(np.sum((gap[1:] + gap[:-1]) / 2) / (GRID.size - 1)) / float(r.std())
        columns[name] = {"test": "wasserstein", "statistic": w1, "drifted": w1 > THRESHOLD}
    for name in categorical:
        ref_counts, cur_counts = _counts(ref.column(name)), _counts(cur.column(name))
        levels = sorted(set(ref_counts) | set(cur_counts))
        p = np.array([ref_counts.get(v, 0) for v in levels], dtype=np.float64)
        q = np.array([cur_counts.get(v, 0) for v in levels], dtype=np.float64)
        js = float(jensenshannon(p, q, base=2))
        columns[name] = {"test": "jensen_shannon", "statistic": js, "drifted": js > THRESHOLD}
    seconds = time.perf_counter() - start
    used = memory.stop()
    for column in columns.values():
        column["threshold"] = THRESHOLD
    return {
        "seconds": seconds,
        "read_seconds": read,
        "peak_mib_after_read": after_read,
        "columns": columns,
        **used,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "side",
        choices=[
            "loopml",
            "loopml-defaults",
            "loopml-stored",
            "loopml-stored-defaults",
            "numpy",
            "register",
        ],
    )
    parser.add_argument("reference")
    parser.add_argument("current")
    parser.add_argument("--numeric", required=True, help="comma-separated column names")
    parser.add_argument("--categorical", required=True, help="comma-separated column names")
    parser.add_argument("--home", help="LOOPML_HOME of the register and loopml-stored sides")
    args = parser.parse_args()
    stored = args.side in ("register", "loopml-stored", "loopml-stored-defaults")
    if stored and not args.home:
        parser.error(f"{args.side} needs --home (the store the reference is registered in)")
    if args.side == "numpy":
        out = run_numpy(
            args.reference, args.current, args.numeric.split(","), args.categorical.split(",")
        )
    elif args.side == "register":
        out = run_register(args.reference, args.home)
    else:
        out = run_loopml(
            args.reference,
            args.current,
            defaults=args.side.endswith("defaults"),
            home=args.home if stored else None,
        )
    out["side"] = args.side
    out["flagged"] = sorted(c for c, v in out["columns"].items() if v["drifted"])
    print("RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
