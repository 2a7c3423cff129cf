"""The unpaired bootstrap of two models on two sets of rows, and the cluster bootstrap
(``groups=``): coverage of the true difference, independence of the two sides, wider
intervals when rows of a group share their fate, and bad groups named."""

from __future__ import annotations

import numpy as np
import pytest

from loopml.core.errors import InvalidArgumentError
from loopml.stats.bootstrap import bootstrap_metrics
from loopml.stats.unpaired import bootstrap_unpaired


def _side(n: int, accuracy: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, 2, n)
    return y, np.where(rng.random(n) < accuracy, y, 1 - y)


def _clustered(
    groups: int, size: int, accuracy: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows in groups whose accuracy varies from group to group (one request's rows share
    its hour and its difficulty)."""
    g = np.repeat(np.arange(groups), size)
    p = np.clip(rng.normal(accuracy, 0.15, groups), 0, 1)[g]
    y = rng.integers(0, 2, g.size)
    return y, np.where(rng.random(g.size) < p, y, 1 - y), g


def test_unpaired_difference_covers_the_truth_and_matches_the_analytic_width() -> None:
    covered, widths, analytic = 0, [], []
    for i in range(150):
        rng = np.random.default_rng(i)
        (ya, pa), (yb, pb) = _side(400, 0.85, rng), _side(700, 0.80, rng)
        found = bootstrap_unpaired(
            ["accuracy"], (ya, pa, None), (yb, pb, None), k=2, task="binary", resamples=300,
            seed=i,
        )["accuracy"]  # fmt: skip
        d = found.difference
        assert d is not None and d.low is not None and d.high is not None
        assert found.estimate.value == np.mean(ya == pa)
        assert found.baseline is not None and found.baseline.value == np.mean(yb == pb)
        assert d.value == pytest.approx(np.mean(ya == pa) - np.mean(yb == pb))
        covered += d.low <= 0.05 <= d.high
        widths.append(d.high - d.low)
        analytic.append(2 * 1.96 * np.sqrt(0.85 * 0.15 / 400 + 0.8 * 0.2 / 700))
    assert 133 <= covered <= 149  # 95% of 150, within noise
    assert np.mean(widths) == pytest.approx(np.mean(analytic), rel=0.05)


def test_the_two_sides_are_resampled_independently() -> None:
    """The same rows on both sides: paired, the difference is exactly 0; unpaired, its
    interval has the width of two independent samples (sqrt 2 times one side's)."""
    rng = np.random.default_rng(0)
    y, pred = _side(2_000, 0.8, rng)
    paired = bootstrap_metrics(
        ["accuracy"], y, pred, None, k=2, task="binary", baseline=(pred, None), resamples=300
    )["accuracy"]
    assert paired.difference is not None and paired.difference.high == 0.0
    result = bootstrap_unpaired(
        ["accuracy"], (y, pred, None), (y, pred, None), k=2, task="binary", resamples=300
    )
    assert result.method == "poisson-unpaired"
    unpaired = result["accuracy"]
    d, one = unpaired.difference, unpaired.estimate
    assert d is not None and d.low is not None and d.high is not None
    assert one.low is not None and one.high is not None
    assert (d.high - d.low) / (one.high - one.low) == pytest.approx(np.sqrt(2), rel=0.1)


def test_groups_resample_whole_groups() -> None:
    rng = np.random.default_rng(3)
    a, b = _clustered(60, 20, 0.85, rng), _clustered(60, 20, 0.85, rng)
    by_row = bootstrap_unpaired(
        ["accuracy"], (a[0], a[1], None), (b[0], b[1], None), k=2, task="binary"
    )["accuracy"].difference
    by_group = bootstrap_unpaired(
        ["accuracy"], (a[0], a[1], None), (b[0], b[1], None), k=2, task="binary",
        groups=(a[2], b[2]),
    )["accuracy"].difference  # fmt: skip
    assert by_row is not None and by_group is not None
    assert by_row.value == by_group.value
    width = [x.high - x.low for x in (by_row, by_group)]  # type: ignore[operator]
    assert width[1] > 1.5 * width[0]  # 20 rows of a group are far from 20 independent rows
    # one group per row is the row bootstrap itself
    rows = np.arange(len(a[0]))
    same = bootstrap_metrics(["accuracy"], a[0], a[1], None, k=2, task="binary", groups=rows)
    plain = bootstrap_metrics(["accuracy"], a[0], a[1], None, k=2, task="binary")
    assert same["accuracy"].estimate.value == plain["accuracy"].estimate.value
    assert same["accuracy"].estimate.high == pytest.approx(
        plain["accuracy"].estimate.high, abs=0.01
    )


def test_groups_must_give_one_label_per_row() -> None:
    y = np.array([0, 1, 1, 0])
    with pytest.raises(InvalidArgumentError, match=r"one group per row \(4 rows\)"):
        bootstrap_metrics(["accuracy"], y, y, None, k=2, task="binary", groups=[1, 2])
    with pytest.raises(InvalidArgumentError, match=r"'rmse' does not apply to task 'binary'"):
        bootstrap_unpaired(["rmse"], (y, y, None), (y, y, None), k=2, task="binary")
