"""The whole loop on each backend, driven by ``Agent.run_once``: a new dataset version
triggers a retraining, the gate, a canary, live evidence from real served traffic with its
labels, and a promotion (a planted-good challenger) or a rollback (a planted-bad one); a
gate failure; the approval path; every decision an event with its reason and evidence."""

from __future__ import annotations

from dataclasses import replace

from loopml.automation import Agent, LoopService, load_policy
from loopml.core.entities import ApprovalStatus
from tests.automation.conftest import World, policy


def _agent(world: World, spec: dict[str, object]) -> Agent:
    return Agent(world.backend, [load_policy(spec)], name="test-agent", interval_s=0)


def test_a_better_challenger_is_canaried_and_promoted_on_live_evidence(world: World) -> None:
    with _agent(world, policy()) as agent:
        assert agent.run_once()[0].claimed == []  # nothing new since the policy started
        data = world.new_data()
        reports = agent.run_once()
        run = reports[0].claimed[0]
        assert run.trigger_key == f"dataset:{data}" and run.trigger == "dataset"
        # trained, gated, released: it waits for live evidence
        waiting = world.backend.loops.get_run(run.run_id)
        assert (waiting.status, waiting.step) == ("running", "observe")
        assert waiting.state["challenger"] == "cancer@2" and waiting.state["data"] == data
        record = world.deployments.get("prod")
        assert record.canary is not None and (record.canary.ref, record.canary.share) == (
            "cancer@2",
            50.0,
        )
        assert "0 of 60 labeled rows on canary" in waiting.state["evidence"]["reason"]
        answers = world.serve()
        assert {route for route, _ in answers} == {"champion", "canary"}
        agent.run_once()
    done = world.backend.loops.get_run(run.run_id)
    assert (done.status, done.step) == ("promoted", "done")
    assert world.registry.aliases("cancer")["champion"] == 2
    assert world.registry.get("cancer@2").approval is ApprovalStatus.APPROVED
    record = world.deployments.get("prod")
    assert record.canary is None and record.champion == "cancer@champion"
    steps = [s.step for s in world.backend.loops.steps(run.run_id)]
    assert steps == ["data", "train", "evaluate", "release", "observe", "promote"]
    kinds = [e.kind for e in world.events(subject="loop:cancer-loop")]
    assert kinds == [
        "loop.triggered",
        "loop.data_ready",
        "loop.trained",
        "loop.gate_passed",
        "loop.released",
        "loop.evidence",
        "loop.promoted",
    ]
    evidence = world.events(kind="loop.evidence")[0]
    assert evidence.reason.startswith("Promote cancer@2 (canary): accuracy difference +0.")
    figures = evidence.data["evidence"]
    assert figures["challenger"]["labeled"] >= 60 and figures["gain"]["low"] > 0
    # compare_live's figures: requests as the unit, a confidence sequence, the policy's limits
    assert figures["challenger"]["requests"] == figures["challenger"]["rows"]  # one row each
    assert figures["level"] == "95% confidence sequence" and not figures["paired"]
    assert [c["status"] for c in figures["checks"]] == ["pass"] * 5
    limits = figures["limits"]
    assert (limits["min_labeled"], limits["rollback_drop"], limits["max_error_rate"]) == (
        60,
        0.02,
        0.2,
    )
    assert all(
        e.actor == "automation:cancer-loop" for e in world.events(subject="loop:cancer-loop")
    )
    moved = world.events(kind="alias.moved")[-1]
    assert moved.actor == "automation:cancer-loop"
    history = LoopService(world.backend).history("cancer-loop")
    assert [h.title for h in history][-1] == "PROMOTED"
    assert any("gain +0." in line for h in history for line in h.evidence)


def _good_champion(world: World) -> None:
    """Make ``cancer@2`` (every feature) the champion instead of the weak ``cancer@1``."""
    from tests.automation.training import FEATURES, TARGET, fit

    rows = world.frame.iloc[:150]
    ref = world.datasets.register("cancer-first", rows.reset_index(drop=True), target=TARGET).ref
    good = fit(ref)
    version = world.registry.register(good, "cancer", input_example=rows[FEATURES].head())
    world.registry.approve(version.ref, comment="better")
    world.registry.set_alias("cancer", "champion", version.version)


def test_a_worse_challenger_that_passed_the_gate_is_rolled_back(world: World) -> None:
    _good_champion(world)
    spec = policy(
        train={"pipeline": "tests.automation.training:fit_weak", "params": {}},
        evaluate={"gate": {"name": "lenient", "rules": [{"metric": "accuracy", "min": 0.6}]}},
    )
    with _agent(world, spec) as agent:
        world.new_data()
        run = agent.run_once()[0].claimed[0]
        assert world.backend.loops.get_run(run.run_id).state["challenger"] == "cancer@3"
        assert world.deployments.get("prod").canary is not None
        world.serve()
        agent.run_once()
    done = world.backend.loops.get_run(run.run_id)
    assert (done.status, done.step) == ("rolled_back", "done")
    assert world.registry.aliases("cancer")["champion"] == 2  # the champion kept serving
    record = world.deployments.get("prod")
    assert record.canary is None and record.version == 3  # created, canary on, canary off
    rejected = world.registry.get("cancer@3")
    assert rejected.approval is ApprovalStatus.REJECTED
    assert rejected.reviewer == "automation:cancer-loop" and "Roll back" in rejected.review_comment
    evidence = world.events(kind="loop.evidence")[0]
    assert evidence.reason.startswith(
        "Roll back cancer@3 (canary): accuracy of cancer@3 (canary) is below cancer@2 "
        "(champion): accuracy difference -0."
    )
    assert "wholly below -0.0200 (rollback_drop)" in evidence.reason
    assert evidence.data["evidence"]["gain"]["high"] < -0.02
    rolled = world.events(kind="loop.rolled_back")[0]
    assert "taken off deployment 'prod' (version 3)" in rolled.reason
    assert "the champion cancer@2 keeps serving" in rolled.reason
    assert rolled.data["actions"] == ["deployment 'prod' version 3", "rejected cancer@3"]


def test_a_gate_failure_ends_the_run_rejected_with_its_checks(world: World) -> None:
    spec = policy(train={"pipeline": "tests.automation.training:fit_shuffled", "params": {}})
    with _agent(world, spec) as agent:
        world.new_data()
        run = agent.run_once()[0].claimed[0]
    done = world.backend.loops.get_run(run.run_id)
    assert (done.status, done.step) == ("rejected", "done")
    assert [s.step for s in world.backend.loops.steps(run.run_id)] == ["data", "train", "evaluate"]
    assert world.backend.loops.steps(run.run_id)[-1].outcome == "rejected"
    failed = world.events(kind="loop.gate_failed")[0]
    assert failed.reason.startswith("gate 'offline': 1 of 1 checks failed: accuracy >= 0.8")
    checks = failed.data["gate"]["checks"]
    assert checks[0]["passed"] is False and checks[0]["rule"] == "accuracy >= 0.8"
    # nothing went live
    assert world.deployments.get("prod").version == 1
    assert world.registry.aliases("cancer")["champion"] == 1


def test_a_person_approves_before_the_promotion(world: World) -> None:
    from loopml.core.settings import Settings
    from loopml.registry import ModelRegistry
    from loopml.store.backend import open_backend

    spec = policy(
        approval="required",
        train={"pipeline": "tests.automation.training:fit_and_register", "params": {}},
    )
    with _agent(world, spec) as agent:
        world.new_data()
        run = agent.run_once()[0].claimed[0]
        trained = world.events(kind="loop.trained")[0]
        assert "registered by the pipeline" in trained.reason
        assert trained.data["outputs"] == {"train_rows": 300}
        world.serve()
        agent.run_once()
        waiting = world.backend.loops.get_run(run.run_id)
        assert (waiting.status, waiting.step) == ("awaiting_approval", "approval")
        asked = world.events(kind="loop.evidence")[0]
        assert "Awaiting approval: `loopml models approve cancer@2`" in asked.reason
        assert world.registry.aliases("cancer")["champion"] == 1
        events = len(world.events())
        agent.run_once()  # nobody approved yet: nothing happens, nothing is logged
        assert len(world.events()) == events
        assert (
            world.backend.loops.get_run(run.run_id)
            .state["waiting"]
            .startswith("waiting for a person to approve cancer@2")
        )
        settings: Settings = world.settings
        person = ModelRegistry(open_backend(replace(settings, user="ada")))
        person.approve("cancer@2", comment="looked at the slices")
        agent.run_once()
    done = world.backend.loops.get_run(run.run_id)
    assert (done.status, done.step) == ("promoted", "done")
    approved = world.events(kind="loop.approved")[0]
    assert approved.reason == "cancer@2 approved by ada: looked at the slices"
    assert world.registry.aliases("cancer")["champion"] == 2
    assert [s.step for s in world.backend.loops.steps(run.run_id)] == [
        "data", "train", "evaluate", "release", "observe", "approval", "promote",
    ]  # fmt: skip


def test_a_person_who_rejects_rolls_the_canary_back(world: World) -> None:
    with _agent(world, policy(approval="required")) as agent:
        world.new_data()
        run = agent.run_once()[0].claimed[0]
        world.serve()
        agent.run_once()
        world.registry.reject("cancer@2", comment="not before the audit")
        agent.run_once()
    done = world.backend.loops.get_run(run.run_id)
    assert done.status == "rolled_back"
    assert world.events(kind="loop.approval_refused")[0].reason.endswith(
        "rejected by " + world.registry.get("cancer@2").reviewer + ": not before the audit"
    )
    assert world.deployments.get("prod").canary is None
    assert world.registry.aliases("cancer")["champion"] == 1


def test_a_failed_training_fails_the_run_and_touches_nothing(world: World) -> None:
    spec = policy(train={"pipeline": "tests.automation.training:broken", "params": {}})
    with _agent(world, spec) as agent:
        world.new_data()
        run = agent.run_once()[0].claimed[0]
    done = world.backend.loops.get_run(run.run_id)
    assert (done.status, done.step) == ("failed", "done")
    failed = world.events(kind="loop.failed")[0]
    assert failed.reason == (
        "step train failed: RuntimeError: the training on cancer@2 ran out of memory"
    )
    assert world.deployments.get("prod").version == 1
    assert [v.version for v in world.registry.versions("cancer")] == [1]


def test_a_shadow_is_compared_on_the_same_requests_and_promoted(world: World) -> None:
    spec = policy()
    spec["release"] = {"mode": "shadow"}
    spec["rollback"] = {"metric_drop": 0.02}  # a shadow has no rates to bound
    with _agent(world, spec) as agent:
        world.new_data()
        run = agent.run_once()[0].claimed[0]
        assert world.deployments.get("prod").shadows == ("cancer@2",)
        answers = world.serve()
        assert {route for route, _ in answers} == {"champion"}  # a shadow never answers
        agent.run_once()
    assert world.backend.loops.get_run(run.run_id).status == "promoted"
    evidence = world.events(kind="loop.evidence")[0]
    assert evidence.reason.startswith("Promote cancer@2 (shadow): accuracy difference +0.")
    figures = evidence.data["evidence"]
    assert figures["challenger"]["labeled"] == 300 and figures["paired"]  # every request
    assert figures["notes"] == []  # the champion's answers to the same requests all count
    record = world.deployments.get("prod")
    assert record.shadows == () and world.registry.aliases("cancer")["champion"] == 2


def test_a_challenger_that_fails_requests_is_rolled_back_on_its_error_rate(world: World) -> None:
    world.deployments.set("prod", fallback="value:false", reason="answer when a model fails")
    spec = policy(
        train={"pipeline": "tests.automation.training:fit_flaky", "params": {}},
        rollback={"max_error_rate": 0.05},
    )
    with _agent(world, spec) as agent:
        world.new_data()
        run = agent.run_once()[0].claimed[0]
        answers = world.serve()
        assert any(route == "fallback" for route, _ in answers)  # it answered for the canary
        agent.run_once()
    assert world.backend.loops.get_run(run.run_id).status == "rolled_back"
    evidence = world.events(kind="loop.evidence")[0]
    assert evidence.reason.startswith("Roll back cancer@2 (canary): error rate of cancer@2 ")
    assert "wholly above 5.0% (max_error_rate)" in evidence.reason
    rates = evidence.data["evidence"]["rates"]["error_rate"]
    assert rates["low"] > 0.05 and evidence.data["evidence"]["challenger"]["errors"] > 10
    assert world.deployments.get("prod").canary is None


def test_a_pipeline_trains_the_challenger_once_however_often_the_step_runs(world: World) -> None:
    from loopml.automation.training import train

    spec = policy(train={"pipeline": "tests.automation.training:train_pipeline"})
    with _agent(world, spec) as agent:
        world.new_data()
        run = agent.run_once()[0].claimed[0]
        world.serve()
        agent.run_once()
    assert world.backend.loops.get_run(run.run_id).status == "promoted"
    trained = world.events(kind="loop.trained")[0]
    assert "(registered by the pipeline)" in trained.reason
    assert trained.data["outputs"] == {"train_rows": 300}
    step_run = world.backend.tracking.get_run(world.registry.get("cancer@2").run_id)
    assert step_run.parent_run_id == trained.data["pipeline_run"]  # registered by its step
    # the train step repeated (after a crash): the pipeline's cache registers nothing new
    again = train(world.backend, load_policy(spec), run.run_id, "cancer@2")
    assert again.ref == "cancer@2" and again.registered_by == "pipeline"
    assert [v.version for v in world.registry.versions("cancer")] == [1, 2]
