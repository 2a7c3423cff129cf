"""The monitoring kernels: KS, Wasserstein and Jensen-Shannon drift tests, Holm's correction,
reference sketches and CBPE, against SciPy, scikit-learn and simulations where the truth is known."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import accuracy_score, roc_auc_score

from loopml.core.errors import InvalidArgumentError
from loopml.stats.cbpe import Calibration, estimate, fit_calibration
from loopml.stats.drift import (
    JensenShannonDrift,
    KSDrift,
    WassersteinDrift,
    get_drift_test,
    quantile_distance,
)
from loopml.stats.multiple import bonferroni, holm, holm_adjusted
from loopml.stats.sketch import (
    OTHER,
    categorical_sketch,
    count_categories,
    numeric_sketch,
)

RNG = np.random.default_rng(20261203)


def test_ks_equals_scipy() -> None:
    ref, cur = RNG.normal(size=3000), RNG.normal(0.2, 1, size=500)
    result = KSDrift().compute(ref, cur)
    expected = scipy.stats.ks_2samp(ref, cur)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.p_value == pytest.approx(expected.pvalue)
    assert result.drifted is bool(expected.pvalue < 0.05)


def test_wasserstein_from_quantiles_is_close_to_scipy_exact() -> None:
    ref, cur = RNG.gamma(2.0, size=20_000), RNG.gamma(2.3, size=50_000)
    exact = scipy.stats.wasserstein_distance(ref, cur)
    assert quantile_distance(ref, cur) == pytest.approx(exact, rel=0.02)
    result = WassersteinDrift().compute(ref, cur)
    assert result.statistic == pytest.approx(exact / ref.std(), rel=0.02)
    assert result.drifted and result.p_value is None and result.note == ""


def test_wasserstein_of_a_constant_reference_says_so() -> None:
    same = WassersteinDrift().compute(np.full(100, 3.0), np.full(50, 3.0))
    assert same.statistic == 0.0 and not same.drifted
    moved = WassersteinDrift().compute(np.full(100, 3.0), np.full(50, 4.0))
    assert moved.statistic == pytest.approx(1 / 3) and moved.drifted
    assert "reference is constant" in moved.note


def test_jensen_shannon_equals_scipy_and_is_bounded() -> None:
    ref, cur = np.array([500, 300, 200, 0]), np.array([100, 300, 550, 50])
    result = JensenShannonDrift().compute(ref, cur)
    assert result.statistic == pytest.approx(jensenshannon(ref, cur, base=2))
    assert 0 < result.statistic <= 1 and result.drifted
    disjoint = JensenShannonDrift().compute([10, 0], [0, 10])
    assert disjoint.statistic == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["ks", "wasserstein"])
def test_sample_tests_refuse_non_finite_values(name: str) -> None:
    with pytest.raises(InvalidArgumentError, match=r"'current' argument .* must hold finite"):
        get_drift_test(name).compute([1.0, 2.0], [1.0, np.nan])
    with pytest.raises(InvalidArgumentError, match=r"'reference' argument .* non-empty 1-D"):
        get_drift_test(name).compute([], [1.0])


def test_distance_thresholds_raised_to_the_noise_floor_keep_quiet_windows_quiet() -> None:
    """A 1,001-row window of a long-tailed column crosses 0.1 by chance (about 1% of windows);
    with the threshold raised to the noise floor at level 0.99 the false alarms are about 1%
    or fewer per feature, and at the family level the monitor uses (1 - 0.05 / 25) nearly none."""
    population = RNG.lognormal(size=200_000)
    sample = numeric_sketch(population).sample
    test = WassersteinDrift()
    trials = 400
    stats = np.array(
        [test.compute(sample, RNG.choice(population, 1001)).statistic for _ in range(trials)]
    )
    floor_99 = test.noise_floor(sample, 1001, level=0.99)
    floor_family = test.noise_floor(sample, 1001, level=1 - 0.05 / 25)
    assert floor_99 is not None and floor_family is not None and floor_family > floor_99
    assert np.mean(stats > max(0.1, floor_99)) <= 0.025
    assert np.mean(stats > max(0.1, floor_family)) <= 0.005
    # the floor follows the statistic's real spread: a normal column, small and large windows
    normal = np.sort(RNG.normal(size=20_000))
    for n in (200, 5000):
        sims = [test.compute(normal, RNG.normal(size=n)).statistic for _ in range(300)]
        floor = test.noise_floor(normal, n, level=0.95)
        assert floor == pytest.approx(np.quantile(sims, 0.95), rel=0.25)
    assert test.noise_floor(np.full(10, 2.0), 100) is None  # a constant reference: no scale


def test_jensen_shannon_noise_floor_matches_the_simulated_spread() -> None:
    cats = {f"c{i}": int(1000 * 0.8**i) + 1 for i in range(40)}
    sketch = categorical_sketch(cats)
    reference = sketch.counts * 100
    shares = reference / reference.sum()
    test = JensenShannonDrift()
    for n in (300, 1001, 5000):
        sims = [test.compute(reference, RNG.multinomial(n, shares)).statistic for _ in range(400)]
        floor = test.noise_floor(reference, n, level=0.99)
        assert floor == pytest.approx(np.quantile(sims, 0.99), rel=0.15)
    assert test.noise_floor([5, 0, 0], 100) is None  # one category: nothing can move
    assert KSDrift().noise_floor([1.0, 2.0], 10) is None  # hypothesis tests use p-values


def test_holm_controls_the_family_wise_error_rate() -> None:
    """25 features, no change: naive p < 0.05 flags most windows; Holm about 5% or fewer."""
    windows, features = 2000, 25
    p = RNG.uniform(size=(windows, features))  # p-values under the null are uniform
    naive = (p < 0.05).any(axis=1).mean()
    corrected = np.mean([holm(row).any() for row in p])
    assert naive > 0.6
    assert corrected <= 0.065  # 0.05 plus three standard errors of 2,000 windows


def test_holm_matches_hand_computation_and_dominates_bonferroni() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max
    assert holm_adjusted(p).tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm(p).tolist() == [True, False, False, True]
    assert bonferroni(p).tolist() == [True, False, False, True]
    many = RNG.uniform(0, 0.02, size=30)
    assert holm(many).sum() >= bonferroni(many).sum()
    with pytest.raises(InvalidArgumentError, match=r"'alpha' must be a number in \(0, 1\)"):
        holm(p, alpha=1.5)


def test_numeric_sketch_summarizes_every_value_and_keeps_a_seeded_sample() -> None:
    values = np.concatenate([RNG.normal(10, 2, size=50_000), [np.nan] * 7])
    sketch = numeric_sketch(values)
    present = values[~np.isnan(values)]
    assert (sketch.count, sketch.nulls) == (50_000, 7)
    assert sketch.mean == pytest.approx(present.mean()) and sketch.std == pytest.approx(
        present.std()
    )
    assert sketch.quantiles[[0, 500, 1000]].tolist() == pytest.approx(
        [present.min(), np.median(present), present.max()]
    )
    assert sketch.sample.size == 20_000 and np.all(np.diff(sketch.sample) >= 0)
    assert np.array_equal(numeric_sketch(values).sample, sketch.sample)
    assert not sketch.constant and numeric_sketch([2.0, 2.0, np.nan]).constant
    empty = numeric_sketch([np.nan, np.nan])
    assert empty.count == 0 and empty.nulls == 2 and empty.sample.size == 0
    with pytest.raises(InvalidArgumentError, match="infinite"):
        numeric_sketch([1.0, np.inf])


def test_categorical_sketch_pools_rare_and_unseen_categories() -> None:
    sketch = categorical_sketch({"a": 50, "b": 30, "c": 2, "d": 1}, nulls=4, max_categories=2)
    assert sketch.categories == ("a", "b", OTHER)
    assert sketch.counts.tolist() == [50, 30, 3] and sketch.nulls == 4 and sketch.count == 83
    ref, cur = count_categories(sketch, {"a": 5, "z": 9, "c": 1})
    assert ref.tolist() == [50, 30, 3] and cur.tolist() == [5, 0, 10]
    full = categorical_sketch({"a": 1, "b": 1})
    ref, cur = count_categories(full, {"a": 1, "new": 2})
    assert ref.tolist() == [1, 1, 0] and cur.tolist() == [1, 0, 2]


def _calibrated_world(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    score = rng.beta(2, 3, size=n)  # the model's scores, calibrated by construction
    label = (rng.uniform(size=n) < score).astype(int)
    return score, label


def test_calibration_is_monotone_and_recovers_a_distortion() -> None:
    score, label = _calibrated_world(20_000, 1)
    distorted = score**3  # an overconfident-low model: same ranking, wrong probabilities
    cal = fit_calibration(distorted, label)
    assert np.all(np.diff(cal.probabilities) >= 0) and cal.rows == 20_000
    grid = np.linspace(0.05, 0.95, 10)
    assert cal(grid**3) == pytest.approx(grid, abs=0.06)
    with pytest.raises(InvalidArgumentError, match="needs both classes"):
        fit_calibration([0.1, 0.9], [1, 1])
    with pytest.raises(InvalidArgumentError, match="one 0/1 label per score"):
        fit_calibration([0.1, 0.9], [0, 2])


def test_cbpe_intervals_cover_the_realized_metrics() -> None:
    """When calibration holds, the realized accuracy and ROC AUC of a window fall inside the
    estimate's 95% interval in about 95% of windows (checked over 60 windows)."""
    ref_score, ref_label = _calibrated_world(20_000, 2)
    cal = fit_calibration(ref_score, ref_label)
    covered = {"accuracy": 0, "roc_auc": 0}
    windows = 60
    for seed in range(windows):
        score, label = _calibrated_world(2_000, 100 + seed)
        predicted = (score >= 0.5).astype(int)
        est = estimate(cal, score, predicted, draws=300, seed=seed)
        realized = {
            "accuracy": accuracy_score(label, predicted),
            "roc_auc": roc_auc_score(label, score),
        }
        for name, value in realized.items():
            low, high = est[name].low, est[name].high
            assert low is not None and high is not None
            covered[name] += low <= value <= high
    for name, hits in covered.items():
        assert hits / windows >= 0.85, (name, hits)


def test_cbpe_does_not_see_concept_drift_but_tracks_covariate_shift() -> None:
    """Covariate shift (more rows where the model is sure): the estimate moves with the truth.
    Concept drift (labels flipped for a region): the estimate stays, the realized value falls."""
    ref_score, ref_label = _calibrated_world(20_000, 3)
    cal = fit_calibration(ref_score, ref_label)
    rng = np.random.default_rng(4)
    shifted = np.clip(rng.beta(0.6, 0.6, size=5000), 1e-6, 1 - 1e-6)  # covariate shift
    shifted_label = (rng.uniform(size=5000) < shifted).astype(int)
    est = estimate(cal, shifted, (shifted >= 0.5).astype(int))
    assert est["roc_auc"].value == pytest.approx(roc_auc_score(shifted_label, shifted), abs=0.02)
    score, label = _calibrated_world(5000, 5)
    drifted = np.where(score > 0.6, 1 - label, label)  # the world changed for confident rows
    est = estimate(cal, score, (score >= 0.5).astype(int))
    realized = roc_auc_score(drifted, score)
    assert est["roc_auc"].low is not None and realized < est["roc_auc"].low - 0.05


def test_cbpe_refuses_bad_predictions_and_reports_undefined_auc() -> None:
    cal = Calibration(np.array([0.0, 1.0]), np.array([0.0, 0.0]), 10, 0)
    est = estimate(cal, [0.2, 0.7], [0, 0], draws=20)
    assert est["roc_auc"].value is None and "both classes" in est["roc_auc"].reason
    assert est["accuracy"].value == pytest.approx(1.0)
    with pytest.raises(InvalidArgumentError, match="one 0/1 label per score"):
        estimate(cal, [0.2, 0.7], [0, 3])
