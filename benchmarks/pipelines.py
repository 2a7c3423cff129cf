"""Pipelines benchmark: a 4-step pipeline with two independent branches of real CPU work, on
the in-process, process-pool and Ray executors; a fully cached re-run; loopml's cost per step.

Scenario: ``make_data`` (a synthetic classification table, scikit-learn's
``make_classification``) feeds two branches that each fit a model, single-threaded, for about
1.5 s on an idle core (--quick: about 0.3 s): a random forest and gradient boosting;
``compare`` scores both on a holdout. Each executor runs it with ``force=True`` (every step
runs; the process pool and Ray are started and warmed up first, as they stay up between
runs), and the branches in parallel must show in the wall time against in-process. Then a
re-run with every step a cache hit (goal: under 1 s for the whole pipeline). The cost per
step is the pipeline's in-process wall time minus calling the four functions directly, over
four steps (paired within each round): for this pipeline (its models and frames stored as
artifacts) and for four steps that pass small numbers (the fixed cost: five runs written per
pipeline run, cache lookups, tracing). The executor scenarios run in rounds, best of 5, so a
shared machine's load weighs on each alike (the branches' overlap, from the workers' clocks,
is recorded too); the store is a new embedded SQLite store.

Usage: python benchmarks/pipelines.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core per step: the branches' parallelism
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # is the executor's, not the libraries'

sys.path.insert(0, str(Path(__file__).parent))
import pandas as pd

import loopml
from harness import Comparison, print_table, write_results


@loopml.step
def make_data(rows: int, *, seed: int = 0) -> pd.DataFrame:
    from sklearn.datasets import make_classification

    features, labels = make_classification(
        n_samples=rows, n_features=20, n_informative=8, random_state=seed
    )
    frame = pd.DataFrame(features, columns=[f"f{i}" for i in range(features.shape[1])])
    return frame.assign(label=labels)


@loopml.step
def fit_forest(frame: pd.DataFrame, *, trees: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    train = frame.iloc[: len(frame) * 3 // 4]
    model = RandomForestClassifier(n_estimators=trees, max_depth=12, random_state=0, n_jobs=1)
    return model.fit(train.drop(columns="label"), train["label"])


@loopml.step
def fit_boosting(frame: pd.DataFrame, *, rounds: int) -> Any:
    from sklearn.ensemble import GradientBoostingClassifier

    train = frame.iloc[: len(frame) * 3 // 4]
    model = GradientBoostingClassifier(n_estimators=rounds, max_depth=3, random_state=0)
    return model.fit(train.drop(columns="label"), train["label"])


@loopml.step
def compare(forest: Any, boosting: Any, frame: pd.DataFrame) -> dict[str, float]:
    test = frame.iloc[len(frame) * 3 // 4 :]
    features, labels = test.drop(columns="label"), test["label"]
    return {
        "forest": float(forest.score(features, labels)),
        "boosting": float(boosting.score(features, labels)),
    }


@loopml.pipeline
def two_models(rows: int = 8_000, trees: int = 80, rounds: int = 35) -> Any:
    data = make_data(rows)
    forest = fit_forest(data, trees=trees)
    boosting = fit_boosting(data, rounds=rounds)
    return compare(forest, boosting, data)


def direct(rows: int, trees: int, rounds: int) -> dict[str, float]:
    """The same four functions, called one after the other."""
    data = make_data.fn(rows)
    return compare.fn(fit_forest.fn(data, trees=trees), fit_boosting.fn(data, rounds=rounds), data)


@loopml.step
def plus(x: int, *, by: int) -> int:
    return x + by


@loopml.pipeline
def tiny(start: int = 0) -> Any:
    return plus(plus(plus(plus(start, by=1), by=2), by=3), by=4)


def direct_tiny(start: int) -> int:
    return plus.fn(plus.fn(plus.fn(plus.fn(start, by=1), by=2), by=3), by=4)


def overlap(result: Any) -> float:
    """Seconds during which the two branches ran at the same time (worker clocks)."""
    forest, boosting = result.steps["fit_forest"], result.steps["fit_boosting"]
    return max(
        0.0,
        min(forest.ended_at, boosting.ended_at) - max(forest.started_at, boosting.started_at),
    )


def median_of(repeats: int, run: Any) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    args = parser.parse_args()
    sizes = (
        {"rows": 4_000, "trees": 30, "rounds": 15}
        if args.quick
        else {"rows": 8_000, "trees": 80, "rounds": 35}
    )
    repeats = 1 if args.quick else 5
    tiny_repeats = 5 if args.quick else 20

    import ray

    from loopml.core.settings import resolve_settings

    home = Path(tempfile.mkdtemp(prefix="loopml-bench-pipelines-")) / ".loopml"
    settings = resolve_settings({"home": home, "capture_env": False})

    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    ray_start_s = time.perf_counter() - started
    for name in ("process", "ray"):  # start and warm the workers, as a long-lived pool is
        two_models.run(executor=name, force=True, settings=settings, **sizes)
    tiny.run(settings=settings, force=True)  # first-use imports out of the figures

    # Round robin, so that the load of a shared machine weighs on every figure alike.
    data = make_data.fn(sizes["rows"])
    runs: dict[str, Any] = {
        "forest_s": lambda: fit_forest.fn(data, trees=sizes["trees"]),
        "boosting_s": lambda: fit_boosting.fn(data, rounds=sizes["rounds"]),
        "direct": lambda: direct(**sizes),
        **{
            name: lambda name=name: two_models.run(
                executor=name, force=True, settings=settings, **sizes
            )
            for name in ("inprocess", "process", "ray")
        },
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    overlaps: dict[str, list[float]] = {"process": [], "ray": [], "inprocess": []}
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            done = run()
            times[name].append(time.perf_counter() - started)
            if name in overlaps:
                overlaps[name].append(overlap(done))
    seconds = {name: min(values) for name, values in times.items()}
    # loopml's cost: in-process minus direct within each round (run back to back), median
    paired = statistics.median(
        a - b for a, b in zip(times["inprocess"], times["direct"], strict=True)
    )
    ray.shutdown()
    branch = {"forest_s": seconds["forest_s"], "boosting_s": seconds["boosting_s"]}
    direct_s, inprocess_s = seconds["direct"], seconds["inprocess"]
    process_s, ray_s = seconds["process"], seconds["ray"]

    result = two_models.run(settings=settings, **sizes)
    assert result.cache_hits == 4, result.steps
    cached_s = median_of(repeats * 3, lambda: two_models.run(settings=settings, **sizes))

    tiny_direct_s = median_of(tiny_repeats, lambda: direct_tiny(0))
    tiny_forced_s = median_of(tiny_repeats, lambda: tiny.run(force=True, settings=settings))
    tiny_cached_s = median_of(tiny_repeats, lambda: tiny.run(settings=settings))

    work = f"branches {branch['forest_s']:.1f} s and {branch['boosting_s']:.1f} s"
    comparisons = [
        Comparison(
            "4-step pipeline, two independent branches: wall time on Ray vs in-process",
            "s",
            ray_s,
            inprocess_s,
            "in-process",
            higher_is_better=False,
            target_ratio=1.3,
            note=f"{work}; Ray local, 2 CPUs, started and warmed up before",
        ),
        Comparison(
            "4-step pipeline, two independent branches: wall time on a process pool vs in-process",
            "s",
            process_s,
            inprocess_s,
            "in-process",
            higher_is_better=False,
            target_ratio=1.3,
            note=f"{work}; 2 worker processes, started and warmed up before (a pool is "
            "kept between runs)",
        ),
        Comparison(
            "the same pipeline re-run, every step a cache hit",
            "s",
            cached_s,
            1.0,
            "goal",
            higher_is_better=False,
            target_ratio=1.0,
            note="the whole run: tracing, 4 lookups, 5 runs written, outputs loaded",
        ),
        Comparison(
            "loopml's cost per step, this pipeline (in-process, every step run)",
            "ms",
            paired / 4 * 1000,
            None,
            "",
            higher_is_better=False,
            note="the median over rounds of in-process minus calling the four functions "
            "just before; includes storing two models and the table as artifacts",
        ),
        Comparison(
            "loopml's cost per step, four steps passing small numbers (every step run)",
            "ms",
            (tiny_forced_s - tiny_direct_s) / 4 * 1000,
            None,
            "",
            higher_is_better=False,
            note="runs written, values stored, cache lookups",
        ),
        Comparison(
            "loopml's cost per step, four steps passing small numbers, all cache hits",
            "ms",
            tiny_cached_s / 4 * 1000,
            None,
            "",
            higher_is_better=False,
        ),
    ]
    extra = {
        "sizes": sizes,
        "repeats": repeats,
        "seconds": {
            "direct": direct_s,
            "inprocess": inprocess_s,
            "process": process_s,
            "ray": ray_s,
            "cached": cached_s,
            "ray_start": ray_start_s,
            **branch,
        },
        "accuracy": result.outputs,
        "branch_overlap_s": {name: statistics.median(v) for name, v in overlaps.items()},
    }
    path = write_results("pipelines", comparisons, quick=args.quick, extra=extra)
    print(f"wrote {path}")
    print_table("pipelines (executors, cache, cost per step)", comparisons)


if __name__ == "__main__":
    main()
