"""Data benchmark: schema inference + reference profile vs pandas, side by side in one run.

Scenario (issue 4 targets): 1,000,000 rows x 50 mixed columns (25 float, 10 int, 10 string
categoricals with 5-200 levels, 3 bool, 2 timestamp; about 2% nulls in half of the columns).
loopml times ``infer_schema`` + ``profile_table`` on the Arrow table: < 10 s, and peak memory
(RSS rise over the run, sampled in a thread) < 3x the table's in-memory size (``nbytes``). The
peer is pandas ``describe(include="all")`` plus ``value_counts`` of every column on the same
data (converted to pandas outside the timing), which yields less (no quantile bins, no roles).

Wide mode (``--wide``): registration of a 20-row table of 250, 1,000, 2,000 and 10,000 mixed
columns (float, int, string, bool in turn) into a fresh embedded store, each size in its own
process: wall seconds of ``register`` and the process's peak RSS. With ``--baseline-src DIR``
(e.g. the ``src`` folder of an older checkout) the same runs use that code too, side by side;
a size that runs past ``--timeout`` is recorded as not done. Results: ``results/data_wide.json``.

Usage: python benchmarks/data.py [--quick]
       python benchmarks/data.py --wide [--columns 250,1000] [--baseline-src DIR] [--timeout S]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from harness import Comparison, median_seconds, print_table, write_results


def make_table(rows: int, seed: int = 0) -> Any:
    """Generate the mixed table (deterministic for a seed)."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}

    def mask(i: int) -> Any:
        return rng.random(rows) < 0.02 if i % 2 == 0 else None

    for i in range(25):
        values = rng.normal(loc=i, scale=1 + i, size=rows)
        columns[f"f{i}"] = pa.array(values, mask=mask(i))
    for i in range(10):
        values = rng.integers(0, 10 ** (1 + i % 5), size=rows)
        columns[f"i{i}"] = pa.array(values, mask=mask(i))
    for i in range(10):
        levels = 5 + i * 195 // 9
        names = pa.array([f"level_{j:03d}" for j in range(levels)])
        weights = rng.dirichlet(np.ones(levels))
        idx = pa.array(rng.choice(levels, size=rows, p=weights).astype("int32"), mask=mask(i))
        columns[f"s{i}"] = pa.DictionaryArray.from_arrays(idx, names).cast(pa.string())
    for i in range(3):
        columns[f"b{i}"] = pa.array(rng.random(rows) < 0.3 + 0.2 * i, mask=mask(i))
    start = np.datetime64("2024-01-01T00:00:00", "us")
    for i in range(2):
        offsets = rng.integers(0, 365 * 24 * 3600 * 10**6, size=rows).astype("timedelta64[us]")
        columns[f"t{i}"] = pa.array(start + offsets, mask=mask(i)).cast(
            pa.timestamp("us", tz="UTC")
        )
    return pa.table(columns)


def peak_rss_delta(fn: Callable[[], object], interval: float = 0.005) -> tuple[float, int]:
    """Run ``fn`` once; return (seconds, peak RSS rise in bytes), RSS sampled in a thread."""
    import psutil

    gc.collect()
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = base
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, proc.memory_info().rss)
            time.sleep(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    start = time.perf_counter()
    try:
        fn()
    finally:
        elapsed = time.perf_counter() - start
        done.set()
        thread.join()
    peak = max(peak, proc.memory_info().rss)
    return elapsed, peak - base


def loopml_profile(table: Any) -> Any:
    from loopml.data.profile import profile_table
    from loopml.data.schema import infer_schema

    schema = infer_schema(table)
    return profile_table(table, schema)


def pandas_profile(frame: Any) -> Any:
    described = frame.describe(include="all")
    counts = {name: frame[name].value_counts() for name in frame.columns}
    return described, counts


def wide_table(columns: int, rows: int = 20, seed: int = 0) -> Any:
    """A ``rows`` x ``columns`` table cycling float, int, string and bool columns."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for i in range(columns):
        kind = i % 4
        if kind == 0:
            data[f"f{i}"] = pa.array(rng.normal(size=rows))
        elif kind == 1:
            data[f"i{i}"] = pa.array(rng.integers(0, 100, size=rows))
        elif kind == 2:
            data[f"s{i}"] = pa.array([f"level_{v}" for v in rng.integers(0, 5, size=rows)])
        else:
            data[f"b{i}"] = pa.array(rng.random(rows) < 0.5)
    return pa.table(data)


def wide_child(columns: int) -> None:
    """Register one wide table in a fresh store; print seconds and peak RSS as JSON."""
    import resource
    import tempfile

    from loopml.core.settings import resolve_settings
    from loopml.data import DatasetService
    from loopml.store.backend import open_backend

    table = wide_table(columns)
    with tempfile.TemporaryDirectory(prefix="loopml-wide-") as tmp:
        home = Path(tmp) / ".loopml"
        settings = resolve_settings({"home": home, "capture_env": False}, cwd=Path(tmp))
        service = DatasetService(open_backend(settings))
        before_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        version = service.register("wide", table)
        seconds = time.perf_counter() - start
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert len(version.profile.columns) == columns
    print(
        json.dumps(
            {"seconds": seconds, "peak_rss_mb": peak_kb / 1024, "rss_before_mb": before_kb / 1024}
        )
    )


def _run_wide(columns: int, src: str | None, timeout: float) -> dict[str, Any]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--wide-child", str(columns)],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"seconds": None, "peak_rss_mb": None, "note": f"not done after {timeout:g} s"}
    if done.returncode != 0:
        return {"seconds": None, "peak_rss_mb": None, "note": done.stderr.strip()[-300:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def wide_main(args: argparse.Namespace) -> None:
    sizes = [int(c) for c in args.columns.split(",")]
    comparisons = []
    raw: dict[str, Any] = {}
    for columns in sizes:
        print(f"... registering 20 x {columns:,} (this code)", flush=True)
        after = _run_wide(columns, None, args.timeout)
        before = None
        if args.baseline_src:
            print(f"... registering 20 x {columns:,} (baseline {args.baseline_src})", flush=True)
            before = _run_wide(columns, args.baseline_src, args.timeout)
        raw[str(columns)] = {"after": after, "before": before}
        for unit, key in (("s", "seconds"), ("MB", "peak_rss_mb")):
            if after[key] is None:
                continue
            peer = None if before is None else before[key]
            comparisons.append(
                Comparison(
                    scenario=f"register 20 x {columns:,} columns ({key})",
                    unit=unit,
                    loopml=after[key],
                    peer=peer,
                    peer_name="baseline" if before is not None else "-",
                    higher_is_better=False,
                    note="" if before is None else before.get("note", ""),
                )
            )
    path = write_results("data_wide", comparisons, quick=False, extra={"wide": raw})
    print_table("data --wide (this code vs baseline)", comparisons)
    print(f"results written to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows for a fast check")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--wide", action="store_true", help="registration of wide tables")
    parser.add_argument("--columns", default="250,1000,2000,10000", help="--wide: sizes")
    parser.add_argument("--baseline-src", default=None, help="--wide: src folder to compare")
    parser.add_argument("--timeout", type=float, default=600.0, help="--wide: per run, seconds")
    parser.add_argument("--wide-child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.wide_child is not None:
        wide_child(args.wide_child)
        return
    if args.wide:
        wide_main(args)
        return
    rows = 100_000 if args.quick else 1_000_000
    import duckdb  # noqa: F401  (import cost outside the timing)
    import pandas as pd  # noqa: F401

    print(f"... generating {rows:,} rows x 50 columns", flush=True)
    table = make_table(rows)
    nbytes = int(table.nbytes)

    print("... loopml infer_schema + profile_table (memory run)", flush=True)
    first_s, loopml_rss = peak_rss_delta(lambda: loopml_profile(table))
    print("... loopml (timed runs)", flush=True)
    loopml_s = median_seconds(lambda: loopml_profile(table), repeats=args.repeats, warmup=0)

    print("... pandas describe + value_counts", flush=True)
    frame = table.to_pandas()
    peer_first_s, peer_rss = peak_rss_delta(lambda: pandas_profile(frame))
    peer_s = median_seconds(lambda: pandas_profile(frame), repeats=args.repeats, warmup=0)

    profile = loopml_profile(table)
    mb = 1024 * 1024
    comparisons = [
        Comparison(
            scenario=f"infer_schema + profile_table, {rows:,} x 50",
            unit="s",
            loopml=loopml_s,
            peer=peer_s,
            peer_name="pandas describe(all)+value_counts",
            higher_is_better=False,
            note=f"target < 10 s: {'met' if loopml_s < 10 else 'MISSED'}",
            extra={"first_run_s": first_s, "peer_first_run_s": peer_first_s},
        ),
        Comparison(
            scenario="peak RSS rise during the run",
            unit="MB",
            loopml=loopml_rss / mb,
            peer=peer_rss / mb,
            peer_name="pandas describe(all)+value_counts",
            higher_is_better=False,
            note=(
                f"table nbytes {nbytes / mb:,.0f} MB; loopml {loopml_rss / nbytes:.2f}x of it "
                f"(target < 3x: {'met' if loopml_rss < 3 * nbytes else 'MISSED'})"
            ),
            extra={"table_nbytes": nbytes, "ratio_to_nbytes": loopml_rss / nbytes},
        ),
    ]
    sizes = {"rows": rows, "columns": table.num_columns, "profiled_columns": len(profile.columns)}
    path = write_results("data", comparisons, quick=args.quick, extra={"sizes": sizes})
    print_table("data (loopml vs pandas)", comparisons)
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
