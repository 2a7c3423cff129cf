"""Cost measurement: the latency figure is the median over timing rounds, so a stall of the
machine during one round moves the interval, not the figure a gate compares (a scripted
clock stands in for a busy machine: no sleeps, nothing timed)."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.datasets import load_diabetes

from loopml.core.entities import DatasetEvaluation, Evaluation, MetricValue
from loopml.evaluation import costs
from loopml.evaluation.costs import measure_costs
from loopml.evaluation.gate import check_gate


class ScriptedModel:
    """Predicting takes 1 ms, or 400 ms while the machine is 'busy' (a window of the
    scripted clock that covers part of one round)."""

    def __init__(self, busy: tuple[float, float]) -> None:
        self.now = 0.0
        self.busy = busy

    def clock(self) -> float:
        return self.now

    def predict(self, frame: pd.DataFrame) -> Any:
        self.now += 0.4 if self.busy[0] <= self.now < self.busy[1] else 0.001
        return [0.0] * len(frame)


def _frame() -> pd.DataFrame:
    return load_diabetes(as_frame=True).frame.drop(columns="target")


def test_a_stall_in_one_round_moves_the_interval_not_the_median() -> None:
    model = ScriptedModel(busy=(0.25, 0.35))  # inside the second round of 1-row batches
    result = measure_costs(model, _frame(), artifact_bytes=10, clock=model.clock)
    assert result.rounds == costs.ROUNDS == 5
    assert result.latency_ms["p99_1"] < 2  # the figure: median of the rounds' p99
    assert result.latency_high_ms["p99_1"] > 100  # the stalled round is in the range
    assert result.latency_low_ms["p99_1"] <= result.latency_ms["p99_1"]
    policy = {"name": "p", "rules": [{"cost": {"p99_1_ms": 50}}]}
    ev = Evaluation(
        evaluation_id="e" * 32, model="m@2", baseline=None, task="regression", target="y",
        datasets=(DatasetEvaluation("d@1", 10, (MetricValue("rmse", 1.0),)),), costs=result,
        created_at=0, created_by="ci",
    )  # fmt: skip
    check = check_gate(policy, ev, at=1, actor="ci").checks[0]
    assert check.passed is True
    assert "(median of 5 rounds, range over the rounds in brackets), within the budget 50" in (
        check.reason
    )
    assert check.observed.startswith("1.000 [") and check.observed.endswith("]")


def test_one_round_reports_no_interval() -> None:
    model = ScriptedModel(busy=(0.0, 0.0))
    result = measure_costs(model, _frame(), artifact_bytes=10, rounds=1, clock=model.clock)
    assert result.rounds == 1
    assert result.latency_ms["p50_1000"] == result.latency_low_ms["p50_1000"]
