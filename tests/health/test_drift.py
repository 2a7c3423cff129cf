"""Univariate drift per window: the test chosen by type and size, overrides, the false-alarm
rate on windows drawn from the reference's own distribution, bad input as "not computable",
and the domain classifier catching a planted correlation change the univariate tests miss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import loopml
from loopml.core.errors import InvalidArgumentError
from loopml.health.drift import decide, measure
from loopml.health.reference import build_profile
from loopml.health.settings import resolve_thresholds
from loopml.monitoring import MonitorReport
from loopml.stats.multiple import holm

RNG = np.random.default_rng(20261207)
KINDS = {
    "normal": "numeric",
    "lognormal": "numeric",
    "uniform": "numeric",
    "integer": "numeric",
    "gamma": "numeric",
    "exponential": "numeric",
    "bimodal": "numeric",
    "student": "numeric",
    "binary": "numeric",
    "skewed": "numeric",
    "color": "categorical",
    "city": "categorical",
    "flag": "categorical",
}
CITIES = [f"city{i}" for i in range(40)]
CITY_P = 0.85 ** np.arange(40) / (0.85 ** np.arange(40)).sum()


def draw(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Rows of one fixed distribution: numeric columns of many shapes, and categories."""
    return pd.DataFrame(
        {
            "normal": rng.normal(size=n),
            "lognormal": rng.lognormal(size=n),
            "uniform": rng.uniform(size=n),
            "integer": rng.poisson(3, size=n),
            "gamma": rng.gamma(0.5, size=n),
            "exponential": rng.exponential(size=n),
            "bimodal": np.where(
                rng.uniform(size=n) < 0.3, rng.normal(-3, 1, n), rng.normal(2, 1, n)
            ),
            "student": rng.standard_t(3, size=n),
            "binary": rng.integers(0, 2, size=n),
            "skewed": rng.pareto(3, size=n),
            "color": rng.choice(["red", "green", "blue"], size=n, p=[0.6, 0.3, 0.1]),
            "city": rng.choice(CITIES, size=n, p=CITY_P),
            "flag": rng.choice([True, False], size=n),
        }
    )


@pytest.fixture(scope="module")
def reference() -> pd.DataFrame:
    return draw(30_000, np.random.default_rng(1))


def test_the_test_is_chosen_by_type_and_window_size(reference: pd.DataFrame) -> None:
    small = draw(1_000, RNG)
    large = draw(1_001, RNG)
    current = pd.concat([small, large], ignore_index=True)
    report = loopml.monitor(
        current=current, reference=reference, window=1_000, multivariate=False, quality=False
    )
    first, second = report.windows[0], report.windows[1]
    assert first.rows == 1_000 and second.rows == 1_000 and report.windows[2].rows == 1
    assert {first.features[c].test for c in ("normal", "integer")} == {"ks"}
    assert {first.features[c].test for c in ("color", "city", "flag")} == {"chi_square"}
    big = loopml.monitor(
        current=large, reference=reference, multivariate=False, quality=False
    ).windows[0]
    assert big.rows == 1_001
    assert big.features["normal"].test == "wasserstein" and big.features["normal"].p_value is None
    assert big.features["city"].test == "jensen_shannon"
    # per-column override, PSI on request
    psi = loopml.monitor(
        current=large,
        reference=reference,
        tests={"normal": "psi", "color": "psi"},
        thresholds={"psi": 0.15},
        multivariate=False,
        quality=False,
    ).windows[0]
    assert psi.features["normal"].test == "psi" and psi.features["normal"].threshold == 0.15
    assert psi.features["color"].test == "psi"
    with pytest.raises(InvalidArgumentError, match=r"Unknown drift test 'kss'.*Did you mean 'ks'"):
        loopml.monitor(current=large, reference=reference, tests={"normal": "kss"})


def test_a_real_shift_is_flagged_and_named(reference: pd.DataFrame) -> None:
    rng = np.random.default_rng(5)
    for n in (500, 5_000):  # the hypothesis-test and the distance paths
        shifted = draw(n, rng)
        shifted["normal"] += 0.5
        shifted["color"] = rng.choice(["red", "green", "blue"], size=n, p=[0.3, 0.3, 0.4])
        window = loopml.monitor(
            current=shifted, reference=reference, multivariate=False, quality=False
        ).windows[0]
        assert set(window.drifted_features) == {"normal", "color"}, window.features
        assert window.drift_share == pytest.approx(2 / 13)
        assert window.dataset_drift is False  # 2 of 13 is under the default share of 0.5
    report = loopml.monitor(
        current=shifted,
        reference=reference,
        thresholds={"dataset_share": 0.1},
        multivariate=False,
        quality=False,
    )
    assert report.windows[0].dataset_drift is True
    assert MonitorReport.from_dict(report.to_dict()) == report  # JSON round trip


def test_same_distribution_windows_stay_quiet(reference: pd.DataFrame) -> None:
    """Windows drawn from the reference's own distribution: a naive p < 0.05 per feature
    flags about one feature in twenty (and most windows); the monitor's defaults flag at most
    alpha = 5% of windows on any feature (Holm for p-values, noise floors for distances)."""
    rng = np.random.default_rng(11)
    small = pd.concat([draw(400, rng) for _ in range(60)], ignore_index=True)
    large = pd.concat([draw(2_500, rng) for _ in range(24)], ignore_index=True)
    quiet_small = loopml.monitor(
        current=small, reference=reference, window=400, multivariate=False, quality=False
    )
    quiet_large = loopml.monitor(
        current=large, reference=reference, window=2_500, multivariate=False, quality=False
    )
    windows = [*quiet_small.windows, *quiet_large.windows]
    assert len(windows) == 84
    flagged_windows = np.mean([bool(w.drifted_features) for w in windows])
    flagged_features = np.mean([f.drifted for w in windows for f in w.features.values()])
    assert flagged_windows <= 0.08, flagged_windows
    assert flagged_features <= 0.01, flagged_features
    # the same windows tested naively (raw p < 0.05 on every feature): about one feature in
    # twenty, and a third or more of the windows, would have raised an alarm
    profile = build_profile(reference, dict(KINDS))
    limits = resolve_thresholds(None)
    raw = [
        measure(profile, small.iloc[i : i + 400], name, rows=400, override=None, thresholds=limits)
        for i in range(0, len(small), 400)
        for name in KINDS
    ]
    naive = np.array([r.p_value < 0.05 for r in raw]).reshape(-1, len(KINDS))
    assert 0.02 < naive.mean() < 0.1
    assert naive.any(axis=1).mean() > 0.3
    print(
        f"false alarms: naive {naive.mean():.3f} of features, {naive.any(axis=1).mean():.2f} of "
        f"windows; monitor {flagged_features:.4f} of features, {flagged_windows:.3f} of windows"
    )


def test_holm_is_what_keeps_many_features_quiet() -> None:
    """The window decision on 13 p-values under no change: Holm flags a family at <= alpha."""
    rng = np.random.default_rng(3)
    p = rng.uniform(size=(4_000, 13))
    assert np.mean((p < 0.05).any(axis=1)) > 0.45
    assert np.mean([holm(row).any() for row in p]) <= 0.06


def test_bad_input_is_not_computable_with_the_reason(
    reference: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ref = reference.assign(constant=3.0, empty=np.nan)
    current = draw(300, RNG).assign(constant=4.0, empty=np.nan)
    current["normal"] = np.nan
    current["uniform"] = current["uniform"].astype(str)
    current.loc[current.index[:5], "uniform"] = "n/a"  # text where numbers were
    current = current.drop(columns="color")
    window = loopml.monitor(
        current=current, reference=ref, features=[*KINDS, "constant", "empty"], quality=False
    ).windows[0]
    assert window.multivariate is not None and window.multivariate.auc is not None
    f = window.features
    assert f["color"].drifted is None and "missing from the current data" in f["color"].note
    assert f["normal"].drifted is None and "in this window is null" in f["normal"].note
    assert f["constant"].drifted is None
    assert "reference column is constant (3)" in f["constant"].note
    assert "100.0% of this window's values differ" in f["constant"].note
    assert f["empty"].drifted is None and "reference has no values" in f["empty"].note
    assert f["uniform"].drifted is None
    assert (
        "'uniform' is numeric in the reference but holds values that are not" in f["uniform"].note
    )
    assert f["exponential"].drifted is False  # the others still tested
    assert window.drift_share == 0.0  # over the tested features only
    empty = loopml.monitor(
        current=current.iloc[:0], reference=ref, multivariate=True, quality=False
    ).windows[0]
    assert empty.rows == 0 and empty.dataset_drift is None and empty.drift_share is None
    assert all(
        v.drifted is None and v.note == "the window has no rows" for v in empty.features.values()
    )
    assert empty.multivariate is not None and empty.multivariate.drifted is None
    with pytest.raises(
        InvalidArgumentError, match=r"Feature 'nope' is not a column of the reference"
    ):
        loopml.monitor(current=current, reference=ref, features=["nope"])
    with pytest.raises(
        InvalidArgumentError, match=r"current=None reads a model.s prediction log: name the model"
    ):
        loopml.monitor(reference=ref)
    with pytest.raises(InvalidArgumentError, match=r"Pass reference= .* no default reference"):
        loopml.monitor(current=current)
    with pytest.raises(InvalidArgumentError, match=r"reference has no rows"):
        loopml.monitor(current=current, reference=ref.iloc[:0])
    with pytest.raises(InvalidArgumentError, match=r"reference DataFrame's column names .* got 0"):
        loopml.monitor(current=current, reference=pd.DataFrame(np.zeros((3, 2))))
    twice = pd.concat([current[["normal"]], current[["normal"]]], axis=1)
    with pytest.raises(InvalidArgumentError, match=r"current DataFrame's .* 'normal' twice"):
        loopml.monitor(current=twice, reference=ref)
    with pytest.raises(InvalidArgumentError, match=r"features= is empty"):
        loopml.monitor(current=current, reference=ref, features=[])
    assert not (tmp_path / ".loopml").exists()  # DataFrames alone open no store


def test_decide_raises_a_distance_threshold_to_the_noise_floor(reference: pd.DataFrame) -> None:
    profile = build_profile(reference, {"lognormal": "numeric", "city": "categorical"})
    limits = resolve_thresholds(None)
    window = draw(300, RNG)
    raw = {
        name: measure(profile, window, name, rows=300, override=test, thresholds=limits)
        for name, test in (("lognormal", "wasserstein"), ("city", "jensen_shannon"))
    }
    verdicts = decide(raw, alpha=0.05)
    city = verdicts["city"]
    assert city.test == "jensen_shannon" and city.threshold is not None
    assert city.threshold > 0.1 and "threshold raised from 0.1" in city.note  # 40 categories
    assert city.drifted is False
    assert city.statistic is not None and city.statistic > 0.1  # a naive verdict: drift
    assert verdicts["lognormal"].drifted is False


def test_a_correlation_change_is_caught_by_the_domain_classifier_alone() -> None:
    rng = np.random.default_rng(8)

    def pairs(n: int, rho: float) -> pd.DataFrame:
        x = rng.normal(size=n)
        y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=n)
        return pd.DataFrame({"x": x, "y": y, "z": rng.normal(size=n)})

    reference = pairs(20_000, 0.8)
    moved = loopml.monitor(current=pairs(3_000, -0.8), reference=reference, quality=False)
    window = moved.windows[0]
    assert window.drifted_features == ()  # every marginal is the same
    multi = window.multivariate
    assert multi is not None and multi.drifted is True and multi.auc is not None
    assert multi.auc > 0.8
    assert set(multi.top_features[:2]) == {"x", "y"}
    quiet = loopml.monitor(current=pairs(3_000, 0.8), reference=reference, quality=False)
    same = quiet.windows[0].multivariate
    assert same is not None and same.drifted is False and same.auc is not None
    assert same.auc < same.threshold


def test_chi_square_pools_rare_categories_so_quiet_windows_stay_quiet() -> None:
    """300 categories with a long tail in 400-row windows: most are expected fewer than five
    times, where chi-square's approximation fails (15% false alarms at p < 0.05 unpooled)."""
    rng = np.random.default_rng(21)
    cats = [f"c{i}" for i in range(300)]
    shares = 1 / np.arange(1, 301) ** 1.1
    shares /= shares.sum()
    profile = build_profile(
        pd.DataFrame({"k": rng.choice(cats, 200_000, p=shares)}), {"k": "categorical"}
    )
    limits = resolve_thresholds(None)

    def p_value(window: pd.DataFrame) -> float:
        raw = measure(profile, window, "k", rows=len(window), override=None, thresholds=limits)
        assert raw.test.name == "chi_square" and raw.p_value is not None
        return raw.p_value

    quiet = [p_value(pd.DataFrame({"k": rng.choice(cats, 400, p=shares)})) for _ in range(300)]
    assert np.mean(np.array(quiet) < 0.05) <= 0.06
    # a category the reference never had, arriving in bulk, is still caught
    burst = pd.DataFrame({"k": [*rng.choice(cats, 360, p=shares), *["new"] * 40]})
    assert p_value(burst) < 1e-6


def test_data_quality_anomalies_per_window_without_distribution_drift() -> None:
    rng = np.random.default_rng(4)
    reference = pd.DataFrame(
        {"amount": rng.uniform(0, 100, 5_000), "kind": rng.choice(["a", "b"], 5_000)}
    )
    clean = reference.sample(500, random_state=1)
    dirty = clean.copy()
    dirty.loc[dirty.index[:20], "amount"] = 10_000.0  # out of range
    dirty.loc[dirty.index[20:40], "amount"] = np.nan  # nulls where there were none
    report = loopml.monitor(
        current=pd.concat([clean, dirty], ignore_index=True),
        reference=reference,
        window=500,
        multivariate=False,
    )
    quiet, noisy = report.windows
    assert quiet.quality == ()
    kinds = {(a.kind, a.column) for a in noisy.quality}
    assert {("out_of_range", "amount"), ("unexpected_nulls", "amount")} <= kinds
    assert all(a.kind != "distribution_shift" for a in noisy.quality)
    assert any("20" in a.message for a in noisy.quality if a.kind == "out_of_range")


def test_the_domain_classifier_is_quiet_on_same_distribution_windows(
    reference: pd.DataFrame,
) -> None:
    from loopml.health.domain import domain_drift

    rng = np.random.default_rng(2)
    profile = build_profile(reference, dict(KINDS))
    limits = resolve_thresholds(None)
    found = [
        domain_drift(profile, draw(1_500, rng), list(KINDS), thresholds=limits, seed=i)
        for i in range(10)
    ]
    aucs = np.array([m.auc for m in found])
    assert not any(m.drifted for m in found)
    assert abs(aucs.mean() - 0.5) < 0.02 and aucs.max() < found[0].threshold
