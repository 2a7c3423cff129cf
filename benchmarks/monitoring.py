"""Monitoring vs Evidently and NannyML (issue 15's speed section), in one run.

1. Data drift. A 1,000,000-row reference and a 1,000,000-row current table of 25 columns
   (:func:`monitoring_window.table`: 20 numeric of different scales, 5 categorical of 10-30
   levels), a shift planted in 5 columns of the current one (:data:`PLANTED`, three of them
   subtle), written once to Parquet in a temp dir. Each side reads the files and runs in its
   own process, so its peak resident memory is its own: loopml's ``loopml.monitor(current=,
   reference=)`` with the checks Evidently's preset makes (``multivariate=False,
   quality=False``) and again with its defaults; the same two with the reference registered
   once as a dataset version in a temporary embedded store (``reference="reference@1"``: the
   process reads only the current file and the stored profile; the registration, with the
   monitoring profile a first run computes and stores, measured apart as a once-per-version
   cost); Evidently's ``DataDriftPreset`` in its own virtualenv
   (``benchmarks/monitoring_evidently.py``), which has no stored reference and holds both
   frames; and the tests loopml ran written directly on NumPy/SciPy arrays (the limit;
   ``benchmarks/monitoring_drift_side.py``). Times run from the data in memory to the
   verdicts; loopml's and the bare side's are the median of ``--repeats`` fresh processes
   (their largest peak memory), Evidently's one run taken between them (so that the
   machine's load falls on both alike).
2. Label-free performance. A gradient-boosted classifier trained on synthetic data whose
   P(y | x) never changes, scored on a labeled reference it did not train on and on 5
   windows whose inputs move (a covariate shift growing from the third window). loopml's
   ``loopml.monitor(model, current=<windows, no labels>, reference=<labeled>, window=N)``
   against NannyML's ``CBPE`` (``benchmarks/monitoring_nannyml.py``, its own virtualenv) on
   the same scores and windows: the time of each, and the estimated ROC AUC and accuracy per
   window beside the realized values (computed here from the labels).

Evidently and NannyML run from ``.venv-evidently`` and ``.venv-nannyml`` (``make bench`` makes
them) with ``DO_NOT_TRACK=1`` and ``NML_DISABLE_USAGE_LOGGING=1``; loopml never imports them.

Usage: python benchmarks/monitoring.py [--quick] [--rows N] [--window N] [--repeats N]
Results: benchmarks/results/monitoring.json (``.quick.json`` with --quick), rendered into
docs/monitoring.md and docs/benchmarks.md by ``python benchmarks/render_docs.py``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Comparison, print_table, write_results
from monitoring_window import Shift, table

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EVIDENTLY = ROOT / ".venv-evidently" / "bin" / "python"
NANNYML = ROOT / ".venv-nannyml" / "bin" / "python"
#: The peers' telemetry and usage logging, off.
PEER_ENV = {"DO_NOT_TRACK": "1", "NML_DISABLE_USAGE_LOGGING": "1"}

NUMERIC = [f"n{i}" for i in range(20)]
CATEGORICAL = [f"c{i}" for i in range(5)]
#: The shifts planted in the current table; n3, n7 and c1 are subtle (their distances are
#: 1.5-1.8 times the 0.1 threshold both tools use).
PLANTED: dict[str, Shift] = {
    "n0": ("mean", 0.5),
    "n3": ("mean", 0.15),
    "n7": ("scale", 1.2),
    "n12": ("mean", 0.25),
    "c1": ("categories", 0.15),
}
DESCRIBED = {
    "mean": "mean moved by {:g} standard deviation",
    "scale": "spread times {:g}, same mean",
    "categories": "{:.0%} of rows moved to one level",
}

#: Inputs of the classifier of part 2.
FEATURES = [f"x{i}" for i in range(6)]
#: The covariate shift of each analysis window (0: the training distribution).
SHIFTS = (0.0, 0.0, 1 / 3, 2 / 3, 1.0)


def run_side(python: Path, script: str, *args: str) -> dict[str, Any]:
    """Run one side in its own process; its ``RESULT {json}`` line."""
    if not python.exists():
        raise SystemExit(f"{python} does not exist: run `make peers` (or `make bench`) first")
    done = subprocess.run(
        [str(python), str(HERE / script), *args],
        capture_output=True,
        text=True,
        env=os.environ | PEER_ENV,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{script} {args[:1]} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


# -- 1. data drift -------------------------------------------------------------------------------


def drift(rows: int, repeats: int, tmp: Path) -> tuple[list[Comparison], dict[str, Any]]:
    rng = np.random.default_rng(0)
    ref_path, cur_path = tmp / "reference.parquet", tmp / "current.parquet"
    table(rows, rng, shift=False).to_parquet(ref_path, index=False)
    gc.collect()
    table(rows, rng, shift=PLANTED).to_parquet(cur_path, index=False)
    gc.collect()
    mb = (ref_path.stat().st_size + cur_path.stat().st_size) / 1e6
    print(f"data drift: {rows:,} + {rows:,} rows x 25 columns ({mb:.0f} MB of Parquet)")
    columns = ["--numeric", ",".join(NUMERIC), "--categorical", ",".join(CATEGORICAL)]
    files = [str(ref_path), str(cur_path)]
    home = ["--home", str(tmp / "store")]
    python = Path(sys.executable)
    # once per dataset version: the reference registered in a temporary embedded store and
    # its monitoring profile stored; the loopml-stored sides read only the current file
    registered = run_side(python, "monitoring_drift_side.py", "register", *files, *columns, *home)
    print(
        f"  {'register':<22} {registered['seconds']:7.2f} s {registered['peak_mib']:7.0f} MiB "
        f"(register {registered['register_seconds']:.1f} s, profile "
        f"{registered['profile_seconds']:.1f} s)"
    )
    names = ("numpy", "loopml", "loopml-defaults", "loopml-stored", "loopml-stored-defaults")
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    evidently: dict[str, Any] = {}
    for i in range(repeats):
        for name, found in runs.items():
            store = home if name.startswith("loopml-stored") else []
            found.append(
                run_side(python, "monitoring_drift_side.py", name, *files, *columns, *store)
            )
            print(f"  {name:<22} {found[-1]['seconds']:7.2f} s {found[-1]['peak_mib']:7.0f} MiB")
        if i == repeats // 2:  # Evidently's one run between loopml's, under the same load
            evidently = run_side(EVIDENTLY, "monitoring_evidently.py", *files, *columns)
            print(
                f"  {'evidently':<22} {evidently['seconds']:7.2f} s "
                f"{evidently['peak_mib']:7.0f} MiB"
            )

    def summary(found: list[dict[str, Any]]) -> dict[str, Any]:
        first = found[0]
        return first | {
            "seconds": statistics.median(r["seconds"] for r in found),
            "seconds_all": [round(r["seconds"], 3) for r in found],
            "read_seconds": statistics.median(r["read_seconds"] for r in found),
            **{
                key: max(r[key] for r in found)
                for key in ("before_mib", "run_peak_mib", "peak_mib", "peak_mib_after_read")
            },
            "flagged_all": [r["flagged"] for r in found],
        }

    sides = {name: summary(found) for name, found in runs.items()} | {"evidently": evidently}
    planted = sorted(PLANTED)
    # per side: every run flagged exactly the planted columns
    exact = {
        name: all(f == planted for f in s.get("flagged_all", [s["flagged"]]))
        for name, s in sides.items()
    }
    lm, lmd, ev, bare = (sides[n] for n in ("loopml", "loopml-defaults", "evidently", "numpy"))
    st, std = sides["loopml-stored"], sides["loopml-stored-defaults"]
    # the stored profile is the one the frames' runs compute: the same statistics
    same = {
        name: all(
            sides[name]["columns"][c]["statistic"] == frame["columns"][c]["statistic"]
            for c in frame["columns"]
        )
        for name, frame in (("loopml-stored", lm), ("loopml-stored-defaults", lmd))
    }
    size = f"{rows:,} vs {rows:,} rows x 25 columns"
    stored = (
        "the reference registered as a dataset version (loopml holds the current frame and "
        "the stored profile; Evidently, with no stored reference, holds both frames)"
    )

    def flags(side: dict[str, Any]) -> str:
        found = side["flagged"]
        missed = sorted(set(planted) - set(found))
        extra = sorted(set(found) - set(planted))
        if not missed and not extra:
            return "the 5 planted"
        return f"missed {missed or 'none'}, also {extra or 'none'}"

    def memory(side: dict[str, Any], data: str) -> str:
        rise, peer_rise = (s["run_peak_mib"] - s["before_mib"] for s in (side, ev))
        return (
            f"resident when the run started (libraries + data): loopml {side['before_mib']:.0f}"
            f" MiB ({data}), Evidently {ev['before_mib']:.0f} MiB (both frames); the run's "
            f"rise over it: loopml {rise:.0f} MiB, Evidently {peer_rise:.0f} MiB; the whole "
            f"process, the read included: loopml {side['peak_mib']:.0f} MiB, Evidently "
            f"{ev['peak_mib']:.0f} MiB"
        )

    def timed(side: dict[str, Any], what: str) -> str:
        return (
            f"flagged: loopml {flags(side)}, Evidently {flags(ev)}; reading the Parquet "
            f"({what}): loopml {side['read_seconds']:.1f} s, Evidently {ev['read_seconds']:.1f} s"
        )

    def versus(
        scenario: str, side: dict[str, Any], unit: str, note: str, target: float
    ) -> Comparison:
        key = "seconds" if unit == "s" else "run_peak_mib"
        return Comparison(
            f"data drift, {size}, {scenario}",
            unit,
            side[key],
            ev[key],
            "Evidently DataDriftPreset",
            higher_is_better=False,
            target_ratio=target,
            note=note,
        )

    run_peak = "peak memory of the process during the run"
    both = "both frames in memory on both sides"
    domain = "domain classifier AUC {:.3f}"
    comparisons = [
        versus(
            f"the preset's checks (a test per column), {both}: wall time",
            lm,
            "s",
            timed(lm, "loopml both files"),
            10,
        ),
        versus(
            f"the preset's checks, {stored}: {run_peak}",
            st,
            "MiB",
            memory(st, "the current frame"),
            3,
        ),
        versus(f"the preset's checks, {both}: {run_peak}", lm, "MiB", memory(lm, "both frames"), 3),
        versus(
            "the preset's checks, the reference registered as a dataset version: wall time",
            st,
            "s",
            timed(st, "loopml the current file alone"),
            10,
        ),
        versus(
            "loopml.monitor's defaults (+ domain classifier, data quality, summaries), "
            f"{both}: wall time",
            lmd,
            "s",
            f"flagged: {flags(lmd)}; {domain.format(lmd['domain_auc'])}",
            10,
        ),
        versus(
            f"loopml.monitor's defaults, {both}: {run_peak}",
            lmd,
            "MiB",
            memory(lmd, "both frames"),
            3,
        ),
        versus(
            "loopml.monitor's defaults, the reference registered as a dataset version (the "
            "domain classifier on the profile's stored row sample, the quality checks on the "
            "version's stored data profile): wall time",
            std,
            "s",
            f"flagged: {flags(std)}; {domain.format(std['domain_auc'])}",
            10,
        ),
        versus(
            f"loopml.monitor's defaults, the reference registered as a dataset version: {run_peak}",
            std,
            "MiB",
            memory(std, "the current frame"),
            3,
        ),
        Comparison(
            f"registering the {rows:,}-row reference as a dataset version, once per version "
            "(loopml.datasets.register from the Parquet file, then the monitoring profile a "
            "first run computes and stores): wall time",
            "s",
            registered["seconds"],
            None,
            "-",
            higher_is_better=False,
            note=f"register {registered['register_seconds']:.1f} s (the file stored, "
            f"{registered['stored_mb']} MB, its schema and data profile), monitoring profile "
            f"{registered['profile_seconds']:.1f} s (the rows read back from the store and "
            f"summarized); peak memory of that process {registered['peak_mib']:.0f} MiB",
        ),
        Comparison(
            f"data drift, {size}: loopml (the preset's checks, both frames) vs the same tests "
            "on bare NumPy/SciPy arrays (the limit; target: within 3x)",
            "s",
            lm["seconds"],
            bare["seconds"],
            "bare NumPy/SciPy",
            higher_is_better=False,
            target_ratio=1 / 3,
            note=f"bare: peak memory during the run {bare['run_peak_mib']:.0f} MiB; flagged: "
            f"{flags(bare)}",
        ),
    ]
    per_column = {
        name: {"shift": _described(name)}
        | {side: sides[side]["columns"].get(name) for side in sides}
        for name in [*NUMERIC, *CATEGORICAL]
    }
    extra = {
        "rows": rows,
        "repeats": repeats,
        "parquet_mb": round(mb, 1),
        "planted": planted,
        "flagged": {name: s["flagged"] for name, s in sides.items()},
        "exactly_planted": exact,
        "stored_same_statistics": same,
        "register": registered,
        "columns": per_column,
        "sides": {
            name: {k: v for k, v in s.items() if k not in ("columns", "flagged_all")}
            for name, s in sides.items()
        },
    }
    return comparisons, extra


def _described(name: str) -> str:
    if name not in PLANTED:
        return ""
    how, size = PLANTED[name]
    return DESCRIBED[how].format(size)


# -- 2. label-free performance ------------------------------------------------------------------


def population(rows: int, rng: np.random.Generator, shift: float) -> pd.DataFrame:
    """Rows of the classification task: P(y | x) is fixed; ``shift`` narrows the strongest
    feature ``x0`` (to half its spread at 1) and moves ``x1`` by one standard deviation."""
    x = rng.normal(size=(rows, len(FEATURES)))
    x[:, 0] *= 1.0 - 0.5 * shift
    x[:, 1] += shift
    logit = 1.5 * x[:, 0] - x[:, 1] + 0.8 * x[:, 2] * x[:, 3] + 0.5 * np.sin(2 * x[:, 4])
    frame = pd.DataFrame(x, columns=FEATURES)
    frame["y"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return frame


def estimate(window: int, repeats: int, tmp: Path) -> tuple[list[Comparison], dict[str, Any]]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import accuracy_score, roc_auc_score

    rng = np.random.default_rng(1)
    train_rows, reference_rows = window // 2, 2 * window
    train = population(train_rows, rng, 0.0)
    reference = population(reference_rows, rng, 0.0)
    analysis = pd.concat([population(window, rng, s) for s in SHIFTS], ignore_index=True)
    model = HistGradientBoostingClassifier(random_state=0).fit(train[FEATURES], train["y"])
    for frame in (reference, analysis):
        frame["score"] = model.predict_proba(frame[FEATURES])[:, 1]
        frame["pred"] = (frame["score"] >= 0.5).astype(np.int64)
    print(
        f"label-free estimate: {len(SHIFTS)} windows x {window:,} rows, reference "
        f"{reference_rows:,} labeled rows, model trained on {train_rows:,}"
    )

    realized = []
    for i in range(len(SHIFTS)):
        part = analysis.iloc[i * window : (i + 1) * window]
        realized.append(
            {
                "roc_auc": float(roc_auc_score(part["y"], part["score"])),
                "accuracy": float(accuracy_score(part["y"], part["pred"])),
            }
        )

    ref_path, ana_path = tmp / "cbpe_reference.parquet", tmp / "cbpe_analysis.parquet"
    reference.to_parquet(ref_path, index=False)
    analysis.drop(columns="y").to_parquet(ana_path, index=False)
    os.environ["LOOPML_HOME"] = str(tmp / "loopml")
    import loopml
    from loopml.health.performance import calibrate, estimated

    trained = loopml.datasets.register("cbpe-train", train, target="y")
    version = loopml.models.register(
        model, "cbpe", input_example=train[FEATURES].head(), training_data=trained.ref
    )
    current = analysis[[*FEATURES, "score"]]  # no labels: they have not arrived
    nannyml_runs: list[dict[str, Any]] = []
    loopml_seconds: list[float] = []
    for _ in range(repeats):  # taking turns; NannyML in a fresh process each time
        nannyml_runs.append(
            run_side(
                NANNYML,
                "monitoring_nannyml.py",
                str(ref_path),
                str(ana_path),
                "--chunk-size",
                str(window),
            )
        )
        print(f"  nannyml CBPE     {nannyml_runs[-1]['seconds']:7.2f} s")
        start = time.perf_counter()
        report = loopml.monitor(
            version.ref,
            current=current,
            reference=reference[[*FEATURES, "score", "y"]],
            window=window,
            score_column="score",
            multivariate=False,
            quality=False,
            store=False,
        )
        loopml_seconds.append(time.perf_counter() - start)
        print(f"  loopml.monitor   {loopml_seconds[-1]:7.2f} s ({report.calibration})")
    seconds = statistics.median(loopml_seconds)
    nannyml = nannyml_runs[0] | {
        "seconds": statistics.median(r["seconds"] for r in nannyml_runs),
        "import_seconds": statistics.median(r["import_seconds"] for r in nannyml_runs),
    }
    assert all(r["chunks"] == nannyml["chunks"] for r in nannyml_runs)
    # the estimate alone, as the monitor runs it: the calibration on the same sample of the
    # reference (with the reference's bootstrap interval), CBPE with its interval per window
    from loopml.health.model_side import _sample

    rows = _sample(reference, 0)
    start = time.perf_counter()
    calibrated = calibrate(rows["y"].to_numpy(), rows["score"].to_numpy(), "reference")
    for i in range(len(SHIFTS)):
        estimated(calibrated, analysis["score"].to_numpy()[i * window : (i + 1) * window])
    kernel = time.perf_counter() - start
    # ... and the point estimates alone, without the simulated intervals
    from loopml.stats.cbpe import estimate as cbpe_estimate

    start = time.perf_counter()
    for i in range(len(SHIFTS)):
        scores = analysis["score"].to_numpy()[i * window : (i + 1) * window]
        cbpe_estimate(calibrated.calibration, scores, (scores >= 0.5).astype(np.int64), draws=0)
    points = time.perf_counter() - start

    windows = []
    for i, (w, chunk) in enumerate(zip(report.windows, nannyml["chunks"], strict=True)):
        assert w.rows == window and chunk["end"] - chunk["start"] + 1 == window, (w, chunk)
        row: dict[str, Any] = {"window": i + 1, "rows": w.rows, "shift": round(SHIFTS[i], 3)}
        for metric in ("roc_auc", "accuracy"):
            value = w.estimated[metric]
            row[metric] = {
                "realized": realized[i][metric],
                "loopml": value.value,
                "loopml_low": value.low,
                "loopml_high": value.high,
                "nannyml": chunk[metric],
            }
        windows.append(row)

    def mae(metric: str, side: str) -> float:
        return float(np.mean([abs(r[metric][side] - r[metric]["realized"]) for r in windows]))

    label = f"{len(SHIFTS)} windows x {window:,} rows"
    comparisons = [
        Comparison(
            f"label-free estimate (CBPE) of ROC AUC and accuracy, {label}: wall time",
            "s",
            seconds,
            nannyml["seconds"],
            "NannyML CBPE",
            higher_is_better=False,
            note=f"loopml: the whole loopml.monitor call (also drift of the {len(FEATURES)} "
            f"inputs and of the scores); of which the estimate {kernel:.2f} s (the "
            "calibration with the reference's bootstrap interval, then per window CBPE with "
            "its interval from 500 simulated label vectors), and its point values alone "
            f"{points:.2f} s; NannyML: fit + estimate, its bounds from a "
            f"closed-form sampling error (its import {nannyml['import_seconds']:.1f} s not "
            "counted)",
        ),
    ]
    for metric, name in (("roc_auc", "ROC AUC"), ("accuracy", "accuracy")):
        comparisons.append(
            Comparison(
                f"estimated {name}, {label}: mean absolute error vs the realized value",
                name,
                mae(metric, "loopml"),
                mae(metric, "nannyml"),
                "NannyML CBPE",
                higher_is_better=False,
                note="largest error: loopml "
                f"{max(abs(r[metric]['loopml'] - r[metric]['realized']) for r in windows):.4f}, "
                "NannyML "
                f"{max(abs(r[metric]['nannyml'] - r[metric]['realized']) for r in windows):.4f}",
            )
        )
    extra = {
        "window_rows": window,
        "reference_rows": reference_rows,
        "train_rows": train_rows,
        "calibration": report.calibration,
        "repeats": repeats,
        "loopml_seconds": seconds,
        "loopml_seconds_all": [round(s, 3) for s in loopml_seconds],
        "nannyml_seconds_all": [round(r["seconds"], 3) for r in nannyml_runs],
        "loopml_estimate_seconds": kernel,
        "loopml_point_estimate_seconds": points,
        "nannyml_seconds": nannyml["seconds"],
        "nannyml_import_seconds": nannyml["import_seconds"],
        "nannyml_peak_mib": nannyml["peak_mib"],
        "nannyml_versions": nannyml["versions"],
        "windows": windows,
    }
    return comparisons, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows; windows of 10,000")
    parser.add_argument("--rows", type=int, default=None, help="default 1,000,000 per side")
    parser.add_argument("--window", type=int, default=None, help="default 100,000")
    parser.add_argument("--repeats", type=int, default=None, help="default 3 (--quick: 1)")
    args = parser.parse_args()
    rows = args.rows or (100_000 if args.quick else 1_000_000)
    window = args.window or (10_000 if args.quick else 100_000)
    repeats = args.repeats or (1 if args.quick else 3)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="loopml-bench-monitoring-") as name:
        tmp = Path(name)
        drifts, drift_extra = drift(rows, repeats, tmp)
        estimates, estimate_extra = estimate(window, repeats, tmp)
    comparisons = drifts + estimates
    print_table("monitoring", comparisons)
    path = write_results(
        "monitoring",
        comparisons,
        quick=args.quick,
        extra={"drift": drift_extra, "estimate": estimate_extra},
    )
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
