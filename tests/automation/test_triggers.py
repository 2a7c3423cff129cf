"""Triggers on each backend: a cron schedule on an injected clock (each instant claimed once,
missed instants not made up, an instant during an open run skipped with its reason), a real
monitoring alert on served traffic (its evidence in the timeline, the training data taken
from the prediction log), and what the triggers see before the policy first ran."""

from __future__ import annotations

import datetime as dt

import loopml
from loopml.automation import Agent, LoopService, load_policy
from tests.automation.conftest import World, policy


class Clock:
    """A clock the test moves (ms since the epoch)."""

    def __init__(self, at: dt.datetime) -> None:
        self.ms = int(at.timestamp() * 1000)

    def __call__(self) -> int:
        return self.ms

    def set(self, at: dt.datetime) -> None:
        self.ms = int(at.timestamp() * 1000)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_a_schedule_claims_each_instant_once_on_an_injected_clock(world: World) -> None:
    clock = Clock(utc(2026, 1, 5, 2, 59))  # a Monday, a minute before the instant
    spec = policy(triggers=[{"schedule": "0 3 * * 1"}])
    with Agent(world.backend, [load_policy(spec)], name="cron", interval_s=0, clock=clock) as agent:
        assert agent.run_once()[0].claimed == []  # last Monday's instant is before the start
        clock.set(utc(2026, 1, 5, 3, 0, 30))
        first = agent.run_once()[0].claimed
        assert [r.trigger_key for r in first] == ["schedule:2026-01-05T03:00:00Z"]
        assert first[0].trigger_data == {"schedule": "0 3 * * 1", "instant": "2026-01-05T03:00:00Z"}
        clock.set(utc(2026, 1, 5, 9, 0))
        assert agent.run_once()[0].claimed == []  # the same instant: claimed already
        # three Mondays later, the run still open (waiting for evidence): only the latest
        # instant counts, and it is skipped while the run is open
        clock.set(utc(2026, 1, 26, 3, 5))
        skipped = agent.run_once()[0].claimed
        assert [(r.trigger_key, r.status) for r in skipped] == [
            ("schedule:2026-01-26T03:00:00Z", "skipped")
        ]
    runs = world.backend.loops.list_runs(policy="cancer-loop")
    assert [r.status for r in runs] == ["skipped", "running"]
    reason = world.events(kind="loop.skipped")[0].reason
    assert reason == (
        "schedule '0 3 * * 1': the instant 2026-01-26T03:00:00Z; skipped: loop run "
        f"{runs[1].run_id[:12]} of this policy is still open (step observe, running)"
    )
    triggered = world.events(kind="loop.triggered")[0]
    assert triggered.at == int(utc(2026, 1, 5, 3, 0, 30).timestamp() * 1000)


def test_a_monitoring_alert_triggers_a_retraining_on_the_prediction_log(world: World) -> None:
    spec = policy(
        triggers=[{"alert": {"rule": "accuracy-fell"}}],
        train={"data": {"from_log": {"last": "30d"}}},
    )
    rules = {"rules": [{"name": "accuracy-fell", "when": "performance.accuracy < 0.9"}]}
    with Agent(world.backend, [load_policy(spec)], name="alerts", interval_s=0) as agent:
        world.serve()  # the weak champion answers everything
        calm = {"rules": [{"name": "other-rule", "when": "performance.accuracy < 0.9"}]}
        loopml.monitor("cancer@champion", current=None, alerts=calm, multivariate=False)
        assert agent.run_once()[0].claimed == []  # another rule's alert: not this trigger
        report = loopml.monitor("cancer@champion", current=None, alerts=rules, multivariate=False)
        assert [a.rule for a in report.alerts] == ["accuracy-fell"]
        alert = world.events(kind="monitor.alert")[-1]
        run = agent.run_once()[0].claimed[0]
    assert run.trigger_key == f"alert:{alert.event_id}" and run.trigger == "alert"
    data = world.events(kind="loop.data_ready")[0]
    assert data.reason.startswith(
        "training data cancer-production@1: 300 labeled rows of the prediction log of cancer"
    )
    stored = world.backend.loops.get_run(run.run_id)
    assert stored.state["challenger"] == "cancer@2" and stored.step == "observe"
    assert world.registry.get("cancer@2").training_data == "cancer-production@1"
    history = LoopService(world.backend).history("cancer-loop")
    assert history[0].title == "triggered"
    assert history[0].reason.startswith("alert 'accuracy-fell' (warning) on model:cancer")
    assert (
        history[0]
        .evidence[0]
        .startswith("alert 'accuracy-fell' (warning), condition 'performance.accuracy < 0.9'")
    )


def test_dataset_versions_before_the_policy_first_ran_do_not_trigger(world: World) -> None:
    world.new_data()  # cancer@2 exists before any agent ran the policy
    with Agent(world.backend, [load_policy(policy())], name="late", interval_s=0) as agent:
        assert agent.run_once()[0].claimed == []
        world.new_data(slice(0, 320))
        assert [r.trigger_key for r in agent.run_once()[0].claimed] == ["dataset:cancer@3"]
    # a restarted agent keeps the policy's first run: nothing old is claimed again
    with Agent(world.backend, [load_policy(policy())], name="late", interval_s=0) as agent:
        assert agent.run_once()[0].claimed == []
    assert len(world.backend.loops.list_runs()) == 1
