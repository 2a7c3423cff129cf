"""Monitoring, one window's cost: a 100,000-row window against a 1,000,000-row reference whose
profile is stored (issue 15's per-window target: under 1 s), step by step.

Scenario: 25 columns (20 numeric of different scales, 5 categorical of 10-30 levels), shift
planted in 5 numeric columns of the window. Steps timed in this one process: profiling the
reference and serializing it (done once per dataset version), reading the stored profile
back, the univariate checks of the window (first with the noise floors of the drifted
distances, then again with them cached), the data-quality checks, the distribution summaries,
and the domain classifier (reported apart, as the issue asks). Not a comparison with Evidently
or NannyML (that is benchmarks/monitoring.py, which draws its data from :func:`table`).

Usage: python benchmarks/monitoring_window.py [--rows 1000000] [--window 100000] [--quick]
Results: benchmarks/results/monitoring_window.json (rendered into docs/monitoring.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from harness import Comparison, write_results
from loopml.health.domain import domain_drift
from loopml.health.drift import reference_summary, window_drift, window_summary
from loopml.health.reference import ReferenceProfile, build_profile
from loopml.health.service import _QualityChecker
from loopml.health.settings import resolve_thresholds
from loopml.health.sources import Data

#: A shift planted in one column: ``("mean", d)`` moves a numeric column by ``d`` of its
#: standard deviations, ``("scale", f)`` multiplies its spread by ``f`` (same mean), and
#: ``("categories", s)`` moves a share ``s`` of a categorical column's rows to its first level.
Shift = tuple[Literal["mean", "scale", "categories"], float]
#: What ``shift=True`` plants: 0.3 standard deviations in n0-n4.
WINDOW_SHIFTS: dict[str, Shift] = {f"n{i}": ("mean", 0.3) for i in range(5)}


def table(
    rows: int, rng: np.random.Generator, *, shift: bool | Mapping[str, Shift]
) -> pd.DataFrame:
    """20 numeric columns ``n0``-``n19`` (normal, mean 0, standard deviation ``i + 1``) and 5
    categorical ``c0``-``c4`` (``10 + 5 i`` equally likely levels ``v0``, ``v1``, ...), with
    ``shift`` planted (True: :data:`WINDOW_SHIFTS`)."""
    data = {f"n{i}": rng.normal(size=rows) * (i + 1) for i in range(20)}
    for i in range(5):
        data[f"c{i}"] = rng.choice([f"v{j}" for j in range(10 + 5 * i)], size=rows)
    frame = pd.DataFrame(data)
    planted = WINDOW_SHIFTS if shift is True else (shift or {})
    for name, (how, size) in planted.items():
        if how == "categories":
            frame.loc[rng.random(rows) < size, name] = "v0"
        elif how == "scale":
            frame[name] *= size
        else:
            frame[name] += size * (int(name[1:]) + 1)
    return frame


#: (step, seconds) in the order they ran; written to results/monitoring_window.json.
STEPS: list[tuple[str, float]] = []


def timed(label: str, work: object) -> object:
    start = time.perf_counter()
    result = work()  # type: ignore[operator]
    seconds = time.perf_counter() - start
    STEPS.append((label, seconds))
    print(f"{label:<58s} {seconds:7.2f} s")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="default 1,000,000")
    parser.add_argument("--window", type=int, default=None, help="default 100,000")
    parser.add_argument("--quick", action="store_true", help="100,000 and 10,000 rows")
    args = parser.parse_args()
    args.rows = args.rows or (100_000 if args.quick else 1_000_000)
    args.window = args.window or (10_000 if args.quick else 100_000)
    rng = np.random.default_rng(0)
    reference, window = table(args.rows, rng, shift=False), table(args.window, rng, shift=True)
    kinds = {c: ("numeric" if c.startswith("n") else "categorical") for c in reference.columns}
    features = list(kinds)
    limits = resolve_thresholds(None)
    print(f"reference {args.rows:,} rows, window {args.window:,} rows, 25 columns")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    profile = timed(
        "profile the reference (once per dataset version)", lambda: build_profile(reference, kinds)
    )
    stored = timed("serialize it", profile.to_bytes)  # type: ignore[attr-defined]
    print(f"{'  stored size':<58s} {len(stored) / 1e6:7.1f} MB")  # type: ignore[arg-type]
    profile = timed("read the stored profile back", lambda: ReferenceProfile.from_bytes(stored))  # type: ignore[arg-type]
    verdicts = timed(
        "univariate checks, first window (noise floors computed)",
        lambda: window_drift(
            profile, window, features, rows=len(window), tests={}, thresholds=limits
        ),
    )
    timed(
        "univariate checks, next window (floors cached)",
        lambda: window_drift(
            profile, window, features, rows=len(window), tests={}, thresholds=limits
        ),
    )
    checker = _QualityChecker(Data(label="reference", frame_=reference), features)
    timed("data-quality checks", lambda: checker(window))
    timed(
        "distribution summaries (report charts)",
        lambda: {
            n: window_summary(profile, window, n, reference_summary(profile, n)) for n in kinds
        },
    )
    multi = timed(
        "domain classifier (reported apart)",
        lambda: domain_drift(profile, window, features, thresholds=limits),
    )
    drifted = sorted(n for n, f in verdicts.items() if f.drifted)  # type: ignore[attr-defined]
    print(f"drifted: {drifted}; domain AUC {multi.auc:.3f} {multi.top_features}")  # type: ignore[attr-defined]
    steps = [
        Comparison(label, "s", seconds, None, "-", higher_is_better=False)
        for label, seconds in STEPS
    ]
    extra = {
        "reference_rows": args.rows,
        "window_rows": args.window,
        "stored_profile_mb": round(len(stored) / 1e6, 2),  # type: ignore[arg-type]
        "drifted": drifted,
        "domain_auc": round(float(multi.auc), 3),  # type: ignore[attr-defined]
    }
    path = write_results("monitoring_window", steps, quick=args.quick, extra=extra)
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
