"""The whole loop on each backend, driven by ``Agent.run_once``: a new dataset version
triggers a retraining, the gate, a canary, live evidence from real served traffic with its
labels, and a promotion (a planted-good challenger) or a rollback (a planted-bad one); a
gate failure; the approval path; every decision an event with its reason and evidence."""

from __future__ import annotations

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
    assert evidence.reason.startswith("Promote cancer@2 (canary): accuracy +0.")
    figures = evidence.data["evidence"]
    assert figures["challenger"]["labeled"] >= 60 and figures["gain"]["low"] > 0
    assert all(e.actor == "automation:cancer-loop" for e in world.events(subject="loop:cancer-loop"))
    moved = world.events(kind="alias.moved")[-1]
    assert moved.actor == "automation:cancer-loop"
    history = LoopService(world.backend).history("cancer-loop")
    assert [h.title for h in history][-1] == "PROMOTED"
    assert any("gain +0." in line for h in history for line in h.evidence)
