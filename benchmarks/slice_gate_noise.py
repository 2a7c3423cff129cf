"""How often does the default slice rule fail a candidate that is exactly as good as its
baseline? (The false-failure rate of ``{slices: {metric: roc_auc, min_support: 100,
max_drop: 0.02}}`` with the worst-slice search on.)

Each simulated pair: a table of ``rows`` rows with four categorical columns (2 to 5 levels)
and one numeric column, a label drawn from a logistic model of them, and two models whose
scores are the true logit plus independent noise of the same size: equal in expectation, so
every failure is a false one. The pair goes through loopml's own code: the declared slices
(one per value of the first column) and the worst-slice search of
:func:`loopml.evaluation.slice_metrics.evaluate_slices` (Poisson-bootstrap intervals, paired
differences), then :func:`loopml.evaluation.gate.check_gate`. Counted for four rules: the
default (interval bound, searched slices corrected), the same with ``max_drop: 0``, and the
point drop (``use: value``) at both limits, which is what the gate did before.

Usage: python benchmarks/slice_gate_noise.py [--pairs 300] [--rows 2000] [--resamples 300]
The result goes to benchmarks/results/slice_gate_noise.json (docs/evaluation.md quotes it).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.entities import DatasetEvaluation, Evaluation
from loopml.evaluation.gate import check_gate
from loopml.evaluation.metrics_plan import Plan, estimate
from loopml.evaluation.scoring import Scored
from loopml.evaluation.slice_metrics import evaluate_slices
from loopml.evaluation.slices import parse_slices

RULES: dict[str, dict[str, Any]] = {
    "bound, max_drop 0.02 (default)": {"max_drop": 0.02},
    "bound, max_drop 0": {"max_drop": 0.0},
    "value, max_drop 0.02 (old)": {"max_drop": 0.02, "use": "value"},
    "value, max_drop 0 (old)": {"max_drop": 0.0, "use": "value"},
}


def _scored(p1: np.ndarray) -> Scored:
    return Scored((p1 >= 0.5).astype(np.int64), np.stack([1 - p1, p1], axis=1))


def simulate_pair(seed: int, *, rows: int, resamples: int, top: int = 10) -> dict[str, bool]:
    """One pair of equal models; for each rule of :data:`RULES`, whether the gate failed."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            f"c{levels}": rng.choice([f"v{i}" for i in range(levels)], size=rows)
            for levels in (2, 3, 4, 5)
        }
    )
    frame["x"] = rng.normal(size=rows)
    effects = {col: rng.normal(scale=0.6, size=frame[col].nunique()) for col in frame.columns[:4]}
    logit = frame["x"].to_numpy() * 0.8
    for col, effect in effects.items():
        logit = logit + effect[frame[col].str[1:].astype(int).to_numpy()]
    y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    a, b = (1 / (1 + np.exp(-(logit + rng.normal(size=rows)))) for _ in range(2))
    plan = Plan(task="binary", names=("roc_auc",), k=2, resamples=resamples, seed=seed)
    cand, base = _scored(a), _scored(b)
    overall, deltas = estimate(plan, y, cand, base)
    found = evaluate_slices(
        frame, columns=list(frame.columns), specs=parse_slices(["c4"]), plan=plan, y=y,
        scored=cand, base=base, overall=overall, top=top, min_support=100,
    )  # fmt: skip
    ds = DatasetEvaluation(
        dataset="sim@1", rows=rows, metrics=tuple(overall), deltas=tuple(deltas),
        slices=found.declared, worst_slices=found.found, searched=found.searched,
    )  # fmt: skip
    ev = Evaluation(
        evaluation_id="0" * 32, model="cand@2", baseline="cand@1", task="binary", target="y",
        datasets=(ds,), costs=None, created_at=0, created_by="sim",
        config={"confidence": 0.95, "resamples": resamples},
    )  # fmt: skip
    out = {}
    for name, extra in RULES.items():
        rule = {"metric": "roc_auc", "min_support": 100, **extra}
        decision = check_gate({"name": "sim", "rules": [{"slices": rule}]}, ev, at=0, actor="sim")
        out[name] = not decision.passed
    return out


def false_failure_rates(pairs: int, *, rows: int, resamples: int, seed: int = 0) -> dict[str, Any]:
    """Run ``pairs`` simulated pairs; the share failed per rule, with a 95% Wilson interval."""
    failures = dict.fromkeys(RULES, 0)
    for i in range(pairs):
        for name, failed in simulate_pair(seed + i, rows=rows, resamples=resamples).items():
            failures[name] += failed
    rates = {}
    for name, count in failures.items():
        rates[name] = {"failed": count, "rate": count / pairs, "wilson95": _wilson(count, pairs)}
    return {"pairs": pairs, "rows": rows, "resamples": resamples, "rules": rates}


def _wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=None, help="default 300")
    parser.add_argument("--quick", action="store_true", help="20 pairs, to .quick.json")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--resamples", type=int, default=300)
    args = parser.parse_args()
    args.pairs = args.pairs or (20 if args.quick else 300)
    started = time.perf_counter()
    result = false_failure_rates(args.pairs, rows=args.rows, resamples=args.resamples)
    result["seconds"] = round(time.perf_counter() - started, 1)
    name = "slice_gate_noise.quick.json" if args.quick else "slice_gate_noise.json"
    out = Path(__file__).parent / "results" / name
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for name, r in result["rules"].items():
        print(f"{name:34s} {r['failed']:4d}/{args.pairs}  {r['rate']:.1%}  {r['wilson95']}")
    print(f"written to {out} in {result['seconds']} s")


if __name__ == "__main__":
    main()
