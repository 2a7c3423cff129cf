"""Tracking benchmark: loopml vs MLflow (SQLite backend), side by side in one run.

Scenarios (issue 3 targets):
1. 5,000 single ``log_metric`` calls, timed until every point is durable (loopml includes its
   final flush): >= 100x MLflow's points/s.
2. ``log_batch`` of 1,000-point batches: >= 5x MLflow's points/s.
3. ``search_runs`` over 10,000 runs x 20 params x 20 metrics, two-condition filter + order:
   >= 10x faster than MLflow and < 100 ms median here (whole result as a DataFrame, and
   top-100 as typed runs).
4. 8 processes x 10,000 single points at once into one embedded store and into PostgreSQL:
   every point stored, no 'database is locked' (loopml only).

Usage: python benchmarks/tracking.py [--quick]
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from harness import Comparison, median_seconds, print_table, write_results

FILTER = "metrics.m0 > 0.5 and params.p1 = 'v1'"
ORDER = ["metrics.m2 DESC"]
PG_SERVER = os.environ.get("LOOPML_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")


def _loopml_client(root: Path) -> Any:
    from loopml import LoopmlClient

    return LoopmlClient(home=root / "loopml")


def _mlflow(root: Path) -> Any:
    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    return mlflow


def bench_single(root: Path, n: int) -> list[Comparison]:
    from mlflow.tracking import MlflowClient  # noqa: F401  (import cost outside the timing)

    client = _loopml_client(root)
    run = client.start_run("bench-single", capture=False)
    start = time.perf_counter()
    for i in range(n):
        run.log_metric("m", float(i), step=i)
    run.flush()
    loopml_s = time.perf_counter() - start
    run.end()
    assert len(client.get_metric_history(run.run_id, "m")) == n

    mlflow = _mlflow(root)
    mlflow.set_experiment("bench-single")
    with mlflow.start_run():
        start = time.perf_counter()
        for i in range(n):
            mlflow.log_metric("m", float(i), step=i)
        mlflow_s = time.perf_counter() - start
    with mlflow.start_run():
        start = time.perf_counter()
        for i in range(n):
            mlflow.log_metric("m", float(i), step=i, synchronous=False)
        mlflow.flush_async_logging()
        mlflow_async_s = time.perf_counter() - start
    return [
        Comparison(
            f"{n:,} single log_metric calls",
            "points/s",
            n / loopml_s,
            n / mlflow_s,
            "mlflow",
            True,
            100,
            note="timed until durable; loopml buffers and writes in batches",
        ),
        Comparison(
            "  same, MLflow with synchronous=False (not the default)",
            "points/s",
            n / loopml_s,
            n / mlflow_async_s,
            "mlflow async",
            True,
            None,
        ),
    ]


def bench_batch(root: Path, batches: int, size: int = 1000) -> list[Comparison]:
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    from loopml.core.entities import MetricPoint

    def points(b: int) -> list[tuple[str, float, int, int]]:
        return [
            (f"m{i % 10}", random.random(), b * size + i, 1_700_000_000_000 + i)
            for i in range(size)
        ]

    data = [points(b) for b in range(batches)]
    client = _loopml_client(root)
    run = client.start_run("bench-batch", capture=False)
    loopml_batches = [[MetricPoint(k, v, s, t) for k, v, s, t in batch] for batch in data]
    start = time.perf_counter()
    for batch in loopml_batches:
        client.log_batch(run.run_id, metrics=batch)
    loopml_s = time.perf_counter() - start
    run.end()

    mlflow = _mlflow(root)
    ml = MlflowClient()
    exp = mlflow.set_experiment("bench-batch")
    ml_run = ml.create_run(exp.experiment_id)
    mlflow_batches = [[Metric(k, v, t, s) for k, v, s, t in batch] for batch in data]
    start = time.perf_counter()
    for batch in mlflow_batches:
        ml.log_batch(ml_run.info.run_id, metrics=batch)
    mlflow_s = time.perf_counter() - start
    total = batches * size
    return [
        Comparison(
            f"log_batch, {batches} x {size:,} points",
            "points/s",
            total / loopml_s,
            total / mlflow_s,
            "mlflow",
            True,
            5,
        )
    ]


def _run_payload(rng: random.Random) -> tuple[dict[str, str], dict[str, float], dict[str, str]]:
    params = {f"p{j}": f"v{rng.randrange(4)}" for j in range(20)}
    metrics = {f"m{j}": rng.random() for j in range(20)}
    tags = {"team": rng.choice(["risk", "ops"]), "stage": "bench"}
    return params, metrics, tags


def bench_search(root: Path, runs: int) -> list[Comparison]:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    from loopml.core.entities import MetricPoint

    rng = random.Random(42)
    payloads = [_run_payload(rng) for _ in range(runs)]

    client = _loopml_client(root)
    start = time.perf_counter()
    for params, metrics, tags in payloads:
        run = client.start_run("bench-search", capture=False, tags=tags)
        client.log_batch(
            run.run_id,
            params=params,
            metrics=[MetricPoint(k, v, 0, 1_700_000_000_000) for k, v in metrics.items()],
        )
        run.end()
    loopml_fill = time.perf_counter() - start

    mlflow = _mlflow(root)
    ml = MlflowClient()
    exp = mlflow.set_experiment("bench-search")
    start = time.perf_counter()
    for params, metrics, tags in payloads:
        r = ml.create_run(exp.experiment_id, tags=tags)
        ml.log_batch(
            r.info.run_id,
            params=[Param(k, v) for k, v in params.items()],
            metrics=[Metric(k, v, 1_700_000_000_000, 0) for k, v in metrics.items()],
        )
        ml.set_terminated(r.info.run_id)
    mlflow_fill = time.perf_counter() - start

    expected = sum(1 for p, m, _ in payloads if m["m0"] > 0.5 and p["p1"] == "v1")
    frame = client.search_runs("bench-search", filter=FILTER, order_by=ORDER)
    ml_frame = mlflow.search_runs(
        [exp.experiment_id], filter_string=FILTER, order_by=ORDER, max_results=100_000
    )
    assert len(frame) == len(ml_frame) == expected, (len(frame), len(ml_frame), expected)
    assert list(frame["run_id"].head(0)) == []  # columns exist even when sliced
    assert frame["metrics.m2"].is_monotonic_decreasing

    repeats_l, repeats_m = 21, 5
    loopml_full = median_seconds(
        lambda: client.search_runs("bench-search", filter=FILTER, order_by=ORDER), repeats_l
    )
    mlflow_full = median_seconds(
        lambda: mlflow.search_runs(
            [exp.experiment_id], filter_string=FILTER, order_by=ORDER, max_results=100_000
        ),
        repeats_m,
    )
    loopml_top = median_seconds(
        lambda: client.search_runs(
            "bench-search", filter=FILTER, order_by=ORDER, limit=100, output="runs"
        ),
        repeats_l,
    )
    mlflow_top = median_seconds(
        lambda: ml.search_runs(
            [exp.experiment_id], filter_string=FILTER, order_by=ORDER, max_results=100
        ),
        repeats_m,
    )
    return [
        Comparison(
            f"search_runs -> DataFrame, {runs:,} runs, {expected:,} match",
            "ms",
            loopml_full * 1000,
            mlflow_full * 1000,
            "mlflow",
            False,
            10,
            note=f"median; loopml must be < 100 ms: {loopml_full * 1000:.1f} ms",
            extra={"under_100ms": loopml_full < 0.1},
        ),
        Comparison(
            f"search_runs -> top 100 typed runs, {runs:,} runs",
            "ms",
            loopml_top * 1000,
            mlflow_top * 1000,
            "mlflow",
            False,
            10,
            extra={"under_100ms": loopml_top < 0.1},
        ),
        Comparison(
            f"write {runs:,} runs (20 params, 20 metrics, 2 tags each)",
            "runs/s",
            runs / loopml_fill,
            runs / mlflow_fill,
            "mlflow",
            True,
            None,
        ),
    ]


WORKER = """
import sys, loopml
n = int(sys.argv[1])
with loopml.start_run(experiment="bench-concurrent", name=sys.argv[2], capture=False) as run:
    for i in range(n):
        run.log_metric("m", float(i), step=i)
print(run.run_id)
"""


def _concurrent(db_url: str, home: Path, procs: int, points: int) -> dict[str, Any]:
    script = home / "worker.py"
    home.mkdir(parents=True, exist_ok=True)
    script.write_text(WORKER)
    env = {
        **os.environ,
        "LOOPML_HOME": str(home),
        "LOOPML_DB_URL": db_url,
        "LOOPML_ARTIFACTS_URL": str(home / "artifacts"),
    }
    # create the schema first so the timing measures logging, not the first migration
    from loopml.core.settings import resolve_settings
    from loopml.store.backend import open_backend

    open_backend(resolve_settings({"home": home, "db_url": db_url}), cached=False).close()
    start = time.perf_counter()
    running = [
        subprocess.Popen(
            [sys.executable, str(script), str(points), f"w{i}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(procs)
    ]
    outputs = [p.communicate() for p in running]
    seconds = time.perf_counter() - start
    errors = [err for p, (_, err) in zip(running, outputs, strict=True) if p.returncode != 0]
    locked = sum("locked" in err for _, err in outputs)
    from loopml import LoopmlClient

    client = LoopmlClient(home=home, db_url=db_url)
    stored = sum(
        len(client.get_metric_history(out.split()[-1], "m"))
        for p, (out, _) in zip(running, outputs, strict=True)
        if p.returncode == 0
    )
    return {
        "processes": procs,
        "points_each": points,
        "seconds": seconds,
        "expected": procs * points,
        "stored": stored,
        "failed_processes": len(errors),
        "database_locked_messages": locked,
        "points_per_s": stored / seconds,
    }


def bench_concurrency(root: Path, procs: int, points: int) -> list[Comparison]:
    import sqlalchemy as sa

    results = {
        "sqlite": _concurrent(
            f"sqlite:///{root / 'conc' / 'loopml.db'}", root / "conc", procs, points
        )
    }
    name = f"loopml_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        results["postgresql"] = _concurrent(f"{PG_SERVER}/{name}", root / "conc-pg", procs, points)
    finally:
        from loopml.store.backend import close_cached_backends

        close_cached_backends()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    out = []
    for backend, r in results.items():
        ok = r["stored"] == r["expected"] and r["failed_processes"] == 0
        out.append(
            Comparison(
                f"{procs} processes x {points:,} points at once, {backend}",
                "points/s",
                r["points_per_s"],
                None,
                "-",
                True,
                None,
                note=f"stored {r['stored']:,}/{r['expected']:,}, failed processes "
                f"{r['failed_processes']}, 'locked' errors {r['database_locked_messages']}"
                + ("" if ok else "  <-- FAILED"),
                extra=r,
            )
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes for a fast check")
    args = parser.parse_args()
    sizes = (
        {"single": 500, "batches": 5, "runs": 1000, "procs": 4, "points": 2000}
        if args.quick
        else {"single": 5000, "batches": 20, "runs": 10_000, "procs": 8, "points": 10_000}
    )
    comparisons: list[Comparison] = []
    with tempfile.TemporaryDirectory(prefix="loopml-bench-") as tmp:
        root = Path(tmp)
        for label, step in (
            ("single log_metric", lambda: bench_single(root / "single", sizes["single"])),
            ("log_batch", lambda: bench_batch(root / "batch", sizes["batches"])),
            ("search_runs", lambda: bench_search(root / "search", sizes["runs"])),
            ("concurrency", lambda: bench_concurrency(root, sizes["procs"], sizes["points"])),
        ):
            print(f"... {label}", flush=True)
            (root / label.split()[0]).mkdir(exist_ok=True)
            comparisons += step()
    path = write_results("tracking", comparisons, quick=args.quick, extra={"sizes": sizes})
    print_table("tracking (loopml vs MLflow on SQLite)", comparisons)
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
