"""Evaluation benchmark: bootstrap intervals of the default binary metrics vs a sklearn loop.

Scenario: 1,000 Poisson-bootstrap resamples of 100,000 rows (--quick: 200 of 20,000) of a
binary problem, the ten default metrics (accuracy, balanced_accuracy, precision, recall, f1,
roc_auc, pr_auc, log_loss, brier, ece), alone and paired against a baseline model. loopml runs
``bootstrap_metrics``; the peer is the common approach, a Python loop of index resampling
calling scikit-learn's metric functions (ECE by a NumPy binning, sklearn has none), timed on
20 resamples and extrapolated linearly to the full count. Target: a few seconds for loopml at
full size on 2 cores. Peak memory is the RSS rise sampled in a thread.

Usage: python benchmarks/evaluation.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from data import peak_rss_delta
from harness import Comparison, print_table, write_results

PEER_RESAMPLES = 20


def make_problem(rows: int, seed: int = 0) -> dict[str, Any]:
    """Labels, a candidate and a weaker baseline (predictions and probabilities)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, rows)
    out: dict[str, Any] = {"y": y}
    for name, signal in (("candidate", 1.2), ("baseline", 0.8)):
        logit = signal * (2 * y - 1) + rng.normal(size=rows)
        p1 = 1 / (1 + np.exp(-logit))
        out[name] = ((p1 > 0.5).astype(np.int64), np.stack([1 - p1, p1], 1))
    return out


def sklearn_loop(problem: dict[str, Any], resamples: int, paired: bool) -> list[float]:
    """The peer: index resampling + scikit-learn metric calls per resample."""
    import numpy as np
    from sklearn import metrics as skm

    y = problem["y"]
    rng = np.random.default_rng(0)
    models = [problem["candidate"], problem["baseline"]] if paired else [problem["candidate"]]
    out: list[float] = []
    for _ in range(resamples):
        idx = rng.integers(0, len(y), len(y))
        t = y[idx]
        for pred, score in models:
            p, s = pred[idx], score[idx]
            p1 = s[:, 1]
            bins = np.minimum((p1 * 10).astype(int), 9)
            gap = np.bincount(bins, weights=t - p1, minlength=10)
            out += [
                skm.accuracy_score(t, p),
                skm.balanced_accuracy_score(t, p),
                skm.precision_score(t, p),
                skm.recall_score(t, p),
                skm.f1_score(t, p),
                skm.roc_auc_score(t, p1),
                skm.average_precision_score(t, p1),
                skm.log_loss(t, s),
                skm.brier_score_loss(t, p1),
                float(np.abs(gap).sum() / len(t)),
            ]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 resamples of 20,000 rows")
    args = parser.parse_args()
    rows, resamples = (20_000, 200) if args.quick else (100_000, 1_000)
    import sklearn.metrics  # noqa: F401  (import cost outside the timing)

    from loopml.stats.bootstrap import bootstrap_metrics
    from loopml.stats.metrics import default_metrics

    problem = make_problem(rows)
    names = default_metrics("binary")
    y = problem["y"]
    pred, score = problem["candidate"]

    def ours(paired: bool) -> Any:
        return bootstrap_metrics(
            names,
            y,
            pred,
            score,
            k=2,
            task="binary",
            resamples=resamples,
            baseline=problem["baseline"] if paired else None,
        )

    comparisons = []
    for paired in (False, True):
        label = "paired with a baseline" if paired else "one model"
        print(f"... loopml bootstrap_metrics, {label}", flush=True)
        ours(paired)  # warm-up (scipy import, caches)
        seconds, rss = peak_rss_delta(lambda p=paired: ours(p))
        print(f"... sklearn loop on {PEER_RESAMPLES} resamples, {label}", flush=True)
        start = time.perf_counter()
        sklearn_loop(problem, PEER_RESAMPLES, paired)
        peer = (time.perf_counter() - start) * resamples / PEER_RESAMPLES
        comparisons.append(
            Comparison(
                scenario=f"{resamples:,} resamples x {rows:,} rows, 10 metrics, {label}",
                unit="s",
                loopml=seconds,
                peer=peer,
                peer_name="sklearn index-resampling loop",
                higher_is_better=False,
                note=(
                    f"peer timed on {PEER_RESAMPLES} resamples, extrapolated linearly; "
                    f"loopml peak RSS rise {rss / 2**20:,.0f} MB"
                ),
                extra={"loopml_peak_rss_mb": rss / 2**20},
            )
        )
    result = ours(True)
    sample = {m.name: m.difference.to_dict() for m in result.metrics if m.difference}
    path = write_results(
        "evaluation",
        comparisons,
        quick=args.quick,
        extra={"sizes": {"rows": rows, "resamples": resamples}, "differences": sample},
    )
    print_table("evaluation (loopml vs sklearn loop)", comparisons)
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
