"""Alert rules: validation on load, each condition kind, cooldown through the stored events
(across service instances), the webhook against a real HTTP listener (retries, a dead
endpoint), and quiet data firing nothing."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopml.core.entities import (
    ConceptDrift,
    FeatureDrift,
    MetricValue,
    MonitorWindow,
    MultivariateDrift,
)
from loopml.core.errors import InvalidArgumentError
from loopml.core.settings import Settings
from loopml.health import MonitorService
from loopml.health.alert_sinks import ALERT_EVENT, FAILED_EVENT, fire, post_webhook
from loopml.health.alerts import AlertRule, Sink, load_rules
from loopml.store.backend import open_backend

# -- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "match"),
    [
        ([{"name": "a", "when": "dataset_drift", "sevrity": "info"}], r"unknown field 'sevrity'"),
        ([{"name": "a", "when": "dataset_drift", "severity": "high"}], r"\.severity: 'high'"),
        ([{"when": "dataset_drift"}], r"rules\[0\]\.name: every rule needs a name"),
        ([{"name": "a"}], r"\(a\)\.when: a rule needs a condition"),
        ([{"name": "a", "when": "dataset drift"}], r"is not a condition.*dataset_drift"),
        ([{"name": "a", "when": "drift_share >= lots"}], r"'lots' .* is not a number"),
        ([{"name": "a", "when": "performance.auc < 0.8"}], r"'auc' is not a monitored metric"),
        ([{"name": "a", "when": "ops.errors > 0.1"}], r"'errors' is not an operational figure"),
        ([{"name": "a", "when": "dataset_drift", "cooldown": "soon"}], r"\.cooldown: 'soon'"),
        ([{"name": "a", "when": "dataset_drift", "sinks": ["email"]}], r"sinks\[0\].*not a sink"),
        (
            [{"name": "a", "when": "dataset_drift", "sinks": [{"webhook": "ftp://x"}]}],
            r"must be an http\(s\):// URL",
        ),
        (
            [{"name": "a", "when": "dataset_drift", "sinks": [{"webhook": "http://"}]}],
            r"URL with a host",
        ),
        (
            [
                {
                    "name": "a",
                    "when": "dataset_drift",
                    "sinks": [{"webhook": "http://x", "tries": 0}],
                }
            ],
            r"\.tries: 0 must be an int from 1 to 10",
        ),
        ([{"name": "a", "when": "dataset_drift"}] * 2, r"two rules are named 'a'"),
        ([{"name": "a", "when": "dataset_drift", "persist": 0}], r"\.persist: 0 must be"),
        ([], r"non-empty list"),
        ({"rule": []}, r"one key, 'rules'"),
        ("/nonexistent/alerts.yaml", r"no alert rules file"),
    ],
)
def test_bad_rules_are_named_with_the_fix(rules: Any, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        load_rules(rules)


def test_rules_load_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text(
        "rules:\n"
        "  - name: shift\n    when: drift_share   >=  0.3\n    cooldown: 6h\n"
        "    sinks: [events, {webhook: 'http://127.0.0.1:9/x', tries: 4, backoff: 0.1}]\n"
        "  - name: auc\n    when: performance.roc_auc < 0.8\n    severity: critical\n"
    )
    shift, auc = load_rules(path)
    assert shift.when == "drift_share >= 0.3" and shift.cooldown_ms == 6 * 3_600_000
    assert shift.sinks == (Sink("webhook", "http://127.0.0.1:9/x", 4, 0.1, 5.0),)
    assert auc.severity == "critical" and auc.sinks == (Sink("stdout"),)
    assert auc.cooldown_ms == 3_600_000 and auc.bound == "interval"
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [\n")
    with pytest.raises(InvalidArgumentError, match="is not valid YAML"):
        load_rules(bad)


# -- conditions ----------------------------------------------------------------------------------


def _window(**fields: Any) -> MonitorWindow:
    return MonitorWindow(index=0, start="2024-03-01T00:00:00Z", end=None, rows=500, **fields)


def _rule(when: str, **extra: Any) -> AlertRule:
    return load_rules([{"name": "r", "when": when, **extra}])[0]


DRIFTED = FeatureDrift("ks", 0.4, 1e-9, 0.05, True)
QUIET = FeatureDrift("ks", 0.02, 0.8, 0.05, False)


@pytest.mark.parametrize(
    ("when", "extra", "hot", "cold"),
    [
        ("dataset_drift", {}, {"dataset_drift": True}, {"dataset_drift": False}),
        ("drift_share >= 0.3", {}, {"drift_share": 0.5}, {"drift_share": 0.2}),
        (
            "feature: amount drifted",
            {},
            {"features": {"amount": DRIFTED}},
            {"features": {"amount": QUIET, "kind": DRIFTED}},
        ),
        (
            "multivariate.drifted",
            {},
            {"multivariate": MultivariateDrift(0.9, 0.6, True)},
            {"multivariate": MultivariateDrift(0.52, 0.6, False)},
        ),
        ("prediction_drift", {}, {"prediction_drift": DRIFTED}, {"prediction_drift": QUIET}),
        (
            "concept_drift",
            {},
            {"concept_drift": ConceptDrift(True, "fell")},
            {"concept_drift": ConceptDrift(None, "no labels")},
        ),
        # the interval's high bound by default: an AUC whose interval reaches 0.8 is noise
        (
            "performance.roc_auc < 0.8",
            {},
            {"performance": {"roc_auc": MetricValue("roc_auc", 0.7, 0.65, 0.76)}},
            {"performance": {"roc_auc": MetricValue("roc_auc", 0.78, 0.7, 0.85)}},
        ),
        (
            "performance.roc_auc < 0.8",
            {"bound": "value"},
            {"performance": {"roc_auc": MetricValue("roc_auc", 0.78, 0.7, 0.85)}},
            {"performance": {"roc_auc": MetricValue("roc_auc", None, reason="no labels")}},
        ),
        (
            "estimated.accuracy < 0.9",
            {},
            {"estimated": {"accuracy": MetricValue("accuracy", 0.8, 0.78, 0.83)}},
            {"estimated": {"accuracy": MetricValue("accuracy", 0.88, 0.85, 0.91)}},
        ),
        # 2 errors in 100 rows: the Wilson interval [0.006, 0.070] is not wholly above 1%
        (
            "ops.error_rate > 0.01",
            {},
            {"ops": {"error_rate": 0.06, "rows": 1000.0}},
            {"ops": {"error_rate": 0.02, "rows": 100.0}},
        ),
        (
            "ops.latency_p99_ms > 250",
            {},
            {"ops": {"latency_p99_ms": 300.0, "rows": 10.0}},
            {"ops": {"latency_p99_ms": 120.0, "rows": 10.0}},
        ),
        (
            "estimated.accuracy > 0.9",  # '>' uses the low bound
            {},
            {"estimated": {"accuracy": MetricValue("accuracy", 0.95, 0.92, 0.97)}},
            {"estimated": {"accuracy": MetricValue("accuracy", 0.95, 0.88, 0.99)}},
        ),
    ],
)
def test_each_condition_fires_on_its_signal_only(
    when: str, extra: dict[str, Any], hot: dict[str, Any], cold: dict[str, Any]
) -> None:
    rule = _rule(when, **extra)
    assert rule.check(_window(**hot)) is not None
    assert rule.check(_window(**cold)) is None
    assert rule.check(_window()) is None  # not computable: never fires


def test_metric_evidence_says_which_bound_was_compared() -> None:
    evidence = _rule("performance.roc_auc < 0.8").check(
        _window(performance={"roc_auc": MetricValue("roc_auc", 0.7, 0.65, 0.76)})
    )
    assert evidence is not None and evidence["compared"] == "high"
    assert evidence["performance"]["high"] == 0.76 and evidence["threshold"] == 0.8


# -- a real store: cooldown, event log, quiet data ------------------------------------------------


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(7)
    n = 3_000
    reference = pd.DataFrame(
        {
            "amount": rng.lognormal(size=n),
            "score": rng.normal(size=n),
            "kind": rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2]),
        }
    )
    quiet = pd.DataFrame(
        {
            "amount": rng.lognormal(size=n),
            "score": rng.normal(size=n),
            "kind": rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2]),
        }
    )
    shifted = quiet.assign(amount=quiet["amount"] * 2.5, score=quiet["score"] + 1.0)
    return {"reference": reference, "quiet": quiet, "shifted": shifted}


class Clock:
    def __init__(self, at: int) -> None:
        self.at = at

    def __call__(self) -> int:
        return self.at


ALL_RULES = [
    {"name": "dataset", "when": "dataset_drift", "sinks": []},
    {"name": "share", "when": "drift_share >= 0.3", "sinks": [], "persist": 2},
    {"name": "amount", "when": "feature: amount drifted", "sinks": [], "persist": 2},
    {"name": "multi", "when": "multivariate.drifted", "sinks": []},
]


def test_quiet_data_fire_nothing_and_shift_fires(
    settings: Settings, frames: dict[str, pd.DataFrame]
) -> None:
    backend = open_backend(settings)
    service = MonitorService(backend, clock=Clock(1_700_000_000_000))
    quiet = service.monitor(
        current=frames["quiet"], reference=frames["reference"], window=1000, alerts=ALL_RULES
    )
    # same distribution, yet window 0's KS on 'amount' falls under 5% (a per-window test's
    # false alarm): a one-window rule fires on it, persist: 2 does not
    assert [w.drifted_features for w in quiet.windows] == [("amount",), (), ()]
    assert quiet.alerts == ()
    assert backend.events.list_events(kind=ALERT_EVENT) == []
    one_window = [{**r, "persist": 1} for r in ALL_RULES[1:3]]
    fluke = MonitorService(None).monitor(
        current=frames["quiet"],
        reference=frames["reference"],
        window=1000,
        multivariate=False,
        alerts=one_window,
    )
    assert [(a.rule, a.window) for a in fluke.alerts] == [("share", 0), ("amount", 0)]
    shifted = service.monitor(
        current=frames["shifted"], reference=frames["reference"], window=1000, alerts=ALL_RULES
    )
    assert {a.rule for a in shifted.alerts} == {"dataset", "share", "amount", "multi"}
    amount = next(a for a in shifted.alerts if a.rule == "amount")
    assert amount.window == 2 and amount.evidence["windows"] == [0, 1, 2]  # latest window
    assert amount.subject == "data:a DataFrame" and amount.deliveries == {"events": "ok"}
    logged = backend.events.list_events(kind=ALERT_EVENT)
    assert sorted(e.data["rule"] for e in logged) == ["amount", "dataset", "multi", "share"]
    assert next(e for e in logged if e.data["rule"] == "amount").data["evidence"]["drifted"]
    # the report (with its alerts) is JSON-ready
    assert json.loads(json.dumps(shifted.to_dict()))["alerts"][0]["status"] == "fired"


def test_a_rule_on_an_untested_feature_is_refused(frames: dict[str, pd.DataFrame]) -> None:
    with pytest.raises(InvalidArgumentError, match=r"'amuont' is not a tested feature.*amount"):
        MonitorService(None).monitor(
            current=frames["quiet"],
            reference=frames["reference"],
            alerts=[{"name": "a", "when": "feature: amuont drifted"}],
        )


def test_persist_needs_consecutive_windows() -> None:
    hot, cold = _window(dataset_drift=True), _window(dataset_drift=False)
    windows = [
        MonitorWindow(**{**w.__dict__, "index": i})
        for i, w in enumerate([hot, cold, hot, hot, cold])
    ]
    rules = load_rules([{"name": "d", "when": "dataset_drift", "persist": 2, "sinks": []}])
    (alert,) = fire(rules, windows, subject="data:x", events=None, actor="t", at=1)
    assert alert.window == 3
    rules = load_rules([{"name": "d", "when": "dataset_drift", "persist": 3, "sinks": []}])
    assert fire(rules, windows, subject="data:x", events=None, actor="t", at=1) == ()


def test_cooldown_dedups_across_instances_then_fires_again(
    settings: Settings, frames: dict[str, pd.DataFrame]
) -> None:
    rules = [{"name": "amount", "when": "feature: amount drifted", "cooldown": "1h", "sinks": []}]
    t0 = 1_700_000_000_000

    def run(at: int) -> str:
        # a new backend and service each time: the cooldown is read from the stored events
        backend = open_backend(settings, cached=False)
        try:
            report = MonitorService(backend, clock=Clock(at)).monitor(
                current=frames["shifted"],
                reference=frames["reference"],
                features=["amount"],
                multivariate=False,
                alerts=rules,
            )
        finally:
            backend.close()
        (alert,) = report.alerts
        return alert.status

    assert run(t0) == "fired"
    assert run(t0 + 30 * 60_000) == "suppressed"  # within the hour
    assert run(t0 + 61 * 60_000) == "fired"  # past it
    events = open_backend(settings).events.list_events(kind=ALERT_EVENT)
    assert [e.at for e in events] == [t0, t0 + 61 * 60_000]


# -- webhook against a real listener --------------------------------------------------------------


class _Hook:
    """An HTTP listener on 127.0.0.1 answering with the queued statuses (then 200)."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.bodies: list[dict[str, Any]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                hook.bodies.append(json.loads(self.rfile.read(length)))
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def hook() -> Iterator[_Hook]:
    h = _Hook([])
    yield h
    h.close()


def _dead_url() -> str:
    with socket.socket() as s:  # a port nothing listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/alerts"


def test_webhook_retries_a_500_with_backoff_then_succeeds(hook: _Hook) -> None:
    hook.statuses[:] = [500, 503]
    waits: list[float] = []
    outcome = post_webhook(Sink("webhook", hook.url, 4, 0.5, 5.0), {"rule": "r"}, waits.append)
    assert outcome == "ok" and len(hook.bodies) == 3 and hook.bodies[-1] == {"rule": "r"}
    assert waits == [0.5, 1.0]  # exponential
    hook.statuses[:] = [404]
    outcome = post_webhook(Sink("webhook", hook.url, 4, 0.5, 5.0), {}, waits.append)
    assert outcome == "failed: HTTP 404 after 1 attempt(s)"  # a refusal is not retried
    hook.statuses[:] = [500] * 5
    outcome = post_webhook(Sink("webhook", hook.url, 3, 0.0, 5.0), {}, waits.append)
    assert outcome == "failed: HTTP 500 after 3 attempt(s)"  # bounded


def test_alert_reaches_the_webhook_and_a_dead_one_is_recorded(
    settings: Settings, hook: _Hook, frames: dict[str, pd.DataFrame]
) -> None:
    hook.statuses[:] = [500]
    dead = _dead_url()
    rules = [
        {
            "name": "amount",
            "when": "feature: amount drifted",
            "severity": "critical",
            "sinks": [{"webhook": hook.url, "backoff": 0.01}, {"webhook": dead, "tries": 2}],
        }
    ]
    backend = open_backend(settings)
    report = MonitorService(backend, clock=Clock(1_700_000_000_000)).monitor(
        current=frames["shifted"],
        reference=frames["reference"],
        features=["amount"],
        multivariate=False,
        alerts=rules,
    )
    (alert,) = report.alerts  # the run completed despite the dead endpoint
    assert alert.deliveries[f"webhook {hook.url}"] == "ok"
    assert alert.deliveries[f"webhook {dead}"].startswith("failed: ConnectError")
    assert len(hook.bodies) == 2 and hook.bodies[-1]["rule"] == "amount"
    assert hook.bodies[-1]["severity"] == "critical" and hook.bodies[-1]["evidence"]["drifted"]
    (failed,) = backend.events.list_events(kind=FAILED_EVENT)
    assert failed.data["sink"] == f"webhook {dead}" and "after 2 attempt(s)" in failed.reason


def test_stdout_sink_prints_and_no_store_still_reports(
    capsys: pytest.CaptureFixture[str], frames: dict[str, pd.DataFrame]
) -> None:
    window = _window(dataset_drift=True, drift_share=0.6)
    rules = load_rules([{"name": "d", "when": "dataset_drift", "severity": "info"}])
    (alert,) = fire(rules, [window], subject="data:x", events=None, actor="t", at=5)
    assert alert.status == "fired" and alert.deliveries == {"stdout": "ok"}
    assert "ALERT [info] d: dataset_drift held on data:x" in capsys.readouterr().out
    report = MonitorService(None).monitor(
        current=frames["shifted"],
        reference=frames["reference"],
        multivariate=False,
        alerts=[{"name": "d", "when": "dataset_drift", "sinks": []}],
    )
    assert [a.rule for a in report.alerts] == ["d"]
    assert "no store: alerts are not logged and no cooldown applies" in report.notes


def test_loopml_monitor_with_alerts_logs_to_the_default_store(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, frames: dict[str, pd.DataFrame]
) -> None:
    """DataFrames alone with alerts=: the fluent call uses the default store for the log."""
    import loopml
    from loopml.client import fluent

    for key, value in {
        "LOOPML_HOME": str(settings.home),
        "LOOPML_DB_URL": settings.db_url,
        "LOOPML_ARTIFACTS_URL": settings.artifacts_url,
        "LOOPML_CAPTURE_ENV": "false",
    }.items():
        monkeypatch.setenv(key, value)
    try:
        report = loopml.monitor(
            current=frames["shifted"],
            reference=frames["reference"],
            multivariate=False,
            alerts={"rules": [{"name": "d", "when": "dataset_drift", "sinks": []}]},
        )
    finally:
        fluent.reset_client()
    assert [(a.rule, a.deliveries) for a in report.alerts] == [("d", {"events": "ok"})]
    (event,) = open_backend(settings).events.list_events(kind=ALERT_EVENT)
    assert event.subject == "data:a DataFrame" and event.data["evidence"]["drift_share"] > 0.5
