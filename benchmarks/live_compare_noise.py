"""How often does the live comparison roll back a challenger exactly as good as its champion,
when the agent looks again and again as labels arrive? And how soon does it catch a worse one
or promote a better one?

Each simulated pair is a stream of requests of ``rows`` rows, routed at random half to the
canary and half to the champion. The rows of one request share its difficulty (the model's
chance of being right on them is drawn per request around 0.85, as flights of one hour share
their weather), so a request's rows are not independent. The challenger's chance is the
champion's plus ``gap`` (0: equal models, every rollback a false one). After every
``step`` requests the labels of all requests so far have arrived and the agent looks: the
two sides go through :func:`loopml.health.live_comparison.compare_sides` (the same code as
``compare_live`` after reading the log) with the default limits (``min_labeled=1000``,
``rollback_drop=0.01``, ``margin=0``). Four ways of computing the intervals are compared:
sequential or fixed, and resampling whole requests (the default) or single rows (ignoring
that a request's rows share their fate, which is what a plain bootstrap would do).

Usage: python benchmarks/live_compare_noise.py [--quick] [--pairs 150]
The result goes to benchmarks/results/live_compare_noise.json (docs/monitoring.md quotes it).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from harness import write_results
from loopml.health.live_comparison import compare_sides
from loopml.health.live_traffic import Side, Traffic
from loopml.health.live_verdict import LivePolicy

#: (sequential, resample whole requests) per way of computing the intervals.
MODES = {
    "sequential, by request (default)": (True, True),
    "fixed 95%, by request": (False, True),
    "sequential, by row": (True, False),
    "fixed 95%, by row": (False, False),
}
SCENARIOS = {"equal": 0.0, "worse by 0.05": -0.05, "better by 0.05": 0.05}


def _side(route: str, version: int, y: np.ndarray, pred: np.ndarray, by_request: bool) -> Side:
    requests, rows = y.shape
    groups = np.repeat(np.arange(requests), rows) if by_request else np.arange(y.size)
    return Side(
        route,
        version,
        rows=y.size,
        requests=requests,
        y=y.ravel(),
        pred=pred.ravel(),
        groups=groups,
        first_ms=0,
        last_ms=0,
    )


def simulate_pair(
    seed: int, *, gap: float, requests: int, rows: int, step: int, resamples: int
) -> dict[str, list[str]]:
    """One pair; per mode, the verdict at each look."""
    rng = np.random.default_rng(seed)
    difficulty = np.clip(rng.normal(0.85, 0.1, requests), 0.02, 0.98)
    canary = rng.random(requests) < 0.5
    chance = np.clip(difficulty + gap * canary, 0, 1)
    y = rng.integers(0, 2, (requests, rows))
    pred = np.where(rng.random((requests, rows)) < chance[:, None], y, 1 - y)
    out: dict[str, list[str]] = {name: [] for name in MODES}
    for seen in range(step, requests + 1, step):
        mine, theirs = canary[:seen], ~canary[:seen]
        for name, (sequential, by_request) in MODES.items():
            traffic = Traffic(
                _side("canary", 2, y[:seen][mine], pred[:seen][mine], by_request),
                _side("champion", 1, y[:seen][theirs], pred[:seen][theirs], by_request),
                paired=False,
                since_ms=0,
                until_ms=None,
            )
            found = compare_sides(
                traffic, model="sim", metric="accuracy", task="binary", k=2,
                policy=LivePolicy(sequential=sequential), resamples=resamples, seed=seed,
            )  # fmt: skip
            out[name].append(found.verdict)
    return out


def study(
    pairs: int, *, gap: float, first_seed: int, requests: int, rows: int, step: int, resamples: int
) -> dict[str, Any]:
    """Per mode: how many pairs were ever rolled back or promoted, and at which look."""
    tally: dict[str, dict[str, Any]] = {
        name: {"rollback": 0, "promote": 0, "first_decision_rows": []} for name in MODES
    }
    for i in range(pairs):
        found = simulate_pair(
            first_seed + i, gap=gap, requests=requests, rows=rows, step=step,
            resamples=resamples,
        )  # fmt: skip
        for name, verdicts in found.items():
            t = tally[name]
            decided = [v for v in verdicts if v != "wait"]
            if decided:
                t[decided[0]] += 1
                look = next(j for j, v in enumerate(verdicts) if v != "wait")
                t["first_decision_rows"].append((look + 1) * step * rows // 2)
    out = {}
    for name, t in tally.items():
        out[name] = {
            "rollback": t["rollback"],
            "promote": t["promote"],
            "rollback_rate": t["rollback"] / pairs,
            "rollback_wilson95": _wilson(t["rollback"], pairs),
            "promote_rate": t["promote"] / pairs,
            "median_rows_per_side_at_decision": (
                float(np.median(t["first_decision_rows"])) if t["first_decision_rows"] else None
            ),
        }
    return out


def _wilson(k: int, n: int) -> list[float]:
    from loopml.stats.proportions import wilson

    return [round(v, 4) for v in wilson(k, n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=None, help="equal pairs (default 150)")
    parser.add_argument("--quick", action="store_true", help="20 pairs, to .quick.json")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rows", type=int, default=10, help="rows per request")
    parser.add_argument("--step", type=int, default=25, help="requests between looks")
    parser.add_argument("--resamples", type=int, default=300)
    args = parser.parse_args()
    pairs = args.pairs or (20 if args.quick else 150)
    started = time.perf_counter()
    scenarios = {}
    for index, (label, gap) in enumerate(SCENARIOS.items()):
        n = pairs if gap == 0 else max(10, pairs // 4)
        scenarios[label] = {
            "gap": gap,
            "pairs": n,
            "modes": study(
                n, gap=gap, first_seed=10_000 * index, requests=args.requests, rows=args.rows,
                step=args.step, resamples=args.resamples,
            ),
        }  # fmt: skip
        for name, r in scenarios[label]["modes"].items():
            print(
                f"{label:15s} {name:34s} rollback {r['rollback']:4d}/{n} promote {r['promote']:4d}"
            )
    extra = {
        "requests": args.requests,
        "rows_per_request": args.rows,
        "looks": math.floor(args.requests / args.step),
        "step_requests": args.step,
        "resamples": args.resamples,
        "policy": LivePolicy().to_dict(),
        "scenarios": scenarios,
        "seconds": round(time.perf_counter() - started, 1),
    }
    path = write_results("live_compare_noise", [], quick=args.quick, extra=extra)
    print(f"results written to {path} in {extra['seconds']} s")


if __name__ == "__main__":
    main()
