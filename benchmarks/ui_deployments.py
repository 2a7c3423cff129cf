"""Deployments page benchmark: a model's prediction log in time buckets (issue 19: latency,
error and fallback rates over time "from the prediction logs").

A log store gets 1,000,000 rows of one model (``--quick``: 100,000) over 30 days, in the
layout compaction writes (``model=NAME/date=DAY/part-*.parquet``, the fixed columns, 8 typed
inputs, the output): champion, canary and fallback routes, requests of 5 rows, latencies and
a few errors. Measured (median of 5 after a warm-up; the peer's of 3), the same figures per
bucket, route and version (rows, requests, errors, latency p50 and p95) in 120 buckets:

- loopml: :func:`loopml.store.logs.buckets.traffic_buckets`, what ``/deployments`` calls:
  one DuckDB aggregation over the needed columns;
- peer: :func:`loopml.store.logs.read_log` (the whole typed table) then a pandas group-by,
  the way a page without the aggregation would compute them.

Usage: python benchmarks/ui_deployments.py [--quick]   (writes results/ui_deployments.json)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from harness import Comparison, median_seconds, print_table, write_results

MODEL = "bench"
DAY_MS = 86_400_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
BUCKETS = 120


def fill(logs: Path, rows: int, days: int = 30) -> None:
    """``rows`` logged predictions of :data:`MODEL` over ``days`` days, one file a day."""
    from loopml.store.logs.columns import FIXED

    rng = np.random.default_rng(7)
    per_day = rows // days
    for day in range(days):
        n = per_day if day < days - 1 else rows - per_day * (days - 1)
        start = day * per_day
        at = T0 + day * DAY_MS + np.sort(rng.integers(0, DAY_MS, n))
        request = (start + np.arange(n)) // 5
        route = np.where(request % 4 == 0, "canary", "champion")
        route = np.where(request % 50 == 7, "fallback", route)
        version = np.where(route == "canary", 4, np.where(route == "fallback", 0, 3))
        error = np.where(request % 97 == 5, "timeout", None)
        columns = {
            "prediction_id": pa.array([f"{i:032x}" for i in range(start, start + n)]),
            "model": pa.array([MODEL] * n),
            "version": pa.array(version, pa.int64()),
            "route": pa.array(route),
            "at": pa.array(at, pa.timestamp("ms", tz="UTC")),
            "event_at": pa.array(at, pa.timestamp("ms", tz="UTC")),
            "latency_ms": pa.array(rng.gamma(2.0, 4.0, n)),
            "request_key": pa.array([f"r{r}" for r in request]),
            "error": pa.array(error, pa.string()),
            "caller_id": pa.nulls(n, pa.string()),
        }
        assert list(columns) == FIXED.names
        table = pa.table(columns)
        for k in range(8):
            table = table.append_column(f"in.f{k}", pa.array(rng.normal(size=n)))
        table = table.append_column("out", pa.array(rng.integers(0, 2, n).astype(float)))
        day_name = time.strftime("%Y-%m-%d", time.gmtime((T0 + day * DAY_MS) / 1000))
        folder = logs / f"model={MODEL}" / f"date={day_name}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, folder / f"part-{day:04d}.parquet")


def by_pandas(logs: str) -> int:
    """The peer: the whole typed log read back, then grouped in pandas (the same figures)."""
    import pandas as pd

    from loopml.store.logs import read_log

    frame = read_log(logs, model=MODEL).to_pandas()
    at = (frame["at"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(milliseconds=1)
    width = 6 * 3_600_000  # 30 days in 120 buckets
    frame["start"] = at // width * width
    frame["failed"] = frame["error"].notna()
    frame["request"] = frame["request_key"] + "@" + at.astype(str)  # as traffic_buckets
    grouped = frame.groupby(["start", "route", "version"]).agg(
        rows=("prediction_id", "size"),
        requests=("request", "nunique"),
        errors=("failed", "sum"),
        p50=("latency_ms", lambda s: s.quantile(0.5)),
        p95=("latency_ms", lambda s: s.quantile(0.95)),
    )
    return len(grouped)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows = 100_000 if args.quick else 1_000_000
    from loopml.store.logs.buckets import traffic_buckets

    with tempfile.TemporaryDirectory(prefix="loopml-bench-deployments-") as tmp:
        logs = Path(tmp) / "logs"
        print(f"... writing {rows:,} logged rows", flush=True)
        fill(logs, rows)
        size = sum(p.stat().st_size for p in logs.rglob("*.parquet"))
        table = traffic_buckets(str(logs), model=MODEL, buckets=BUCKETS)
        groups = table.num_rows
        assert sum(table.column("rows").to_pylist()) == rows
        assert by_pandas(str(logs)) == groups
        ours = median_seconds(
            lambda: traffic_buckets(str(logs), model=MODEL, buckets=BUCKETS), 5, warmup=1
        )
        peer = median_seconds(lambda: by_pandas(str(logs)), 3, warmup=0)  # its check warmed it
    comparisons = [
        Comparison(
            scenario=f"a model's log in {BUCKETS} time buckets, {rows:,} rows over 30 days",
            unit="s",
            loopml=ours,
            peer=peer,
            peer_name="read_log + pandas",
            higher_is_better=False,
            note=f"median of 5 (peer: 3); {groups} bucket x route x version rows; "
            f"{size / 1e6:.0f} MB of Parquet",
            extra={"rows": rows, "groups": groups, "parquet_bytes": size},
        )
    ]
    path = write_results("ui_deployments", comparisons, quick=args.quick, extra={"rows": rows})
    print_table("ui_deployments (the deployments page's aggregation)", comparisons)
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
