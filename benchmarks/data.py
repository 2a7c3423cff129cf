"""Data benchmark: schema inference + reference profile vs pandas, side by side in one run.

Scenario (issue 4 targets): 1,000,000 rows x 50 mixed columns (25 float, 10 int, 10 string
categoricals with 5-200 levels, 3 bool, 2 timestamp; about 2% nulls in half of the columns).
loopml times ``infer_schema`` + ``profile_table`` on the Arrow table: < 10 s, and peak memory
(RSS rise over the run, sampled in a thread) < 3x the table's in-memory size (``nbytes``). The
peer is pandas ``describe(include="all")`` plus ``value_counts`` of every column on the same
data (converted to pandas outside the timing), which yields less (no quantile bins, no roles).

Usage: python benchmarks/data.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 rows for a fast check")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
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
