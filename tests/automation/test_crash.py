"""An agent killed with SIGKILL mid-policy, and restarted, repeats no action and loses no
step; a dead agent's lease is taken over by another agent once it expires (an injected clock),
and a step whose agent lost its lease is never stored."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from loopml.automation import Agent, TickReport, load_policy
from loopml.automation.machine import advance
from loopml.automation.steps import StepContext
from loopml.core.clock import now_ms
from loopml.core.errors import ConflictError
from tests.automation.agents import RELEASED, actions, finish, policy_file, poll, start_agent
from tests.automation.conftest import World, policy


@pytest.mark.parametrize(
    ("db_url", "steps_before_kill"),
    [("sqlite", 1), ("sqlite", 2), ("sqlite", 3), ("postgresql", 2)],
    indirect=["db_url"],
)
def test_an_agent_killed_mid_policy_resumes_without_repeating_a_step(
    world: World, tmp_path: Path, steps_before_kill: int
) -> None:
    path = policy_file(tmp_path)
    spec = load_policy(path)
    with Agent(world.backend, [spec], name="setup"):
        pass  # the policy has run once: what happens from now on triggers
    world.new_data()
    victim = start_agent(world, path, "--interval", "1s", "--name", "victim")
    loops = world.backend.loops

    def reached() -> bool:
        runs = loops.list_runs()
        return bool(runs) and runs[0].steps_done >= steps_before_kill

    try:
        poll(reached, what=f"{steps_before_kill} stored step(s)")
    finally:
        os.kill(victim.pid, signal.SIGKILL)
        victim.communicate()
    run = loops.list_runs()[0]
    assert run.steps_done >= steps_before_kill
    stored_before = [s.step for s in loops.steps(run.run_id)]
    if run.is_open and run.step != "observe":  # killed mid-step: the lease was never given back
        assert run.lease_holder == "victim"
    # restarted under the same name: its dead process's name and leases are taken over at once
    code, out, err = finish(
        start_agent(world, path, "--once", "--interval", "0", "--name", "victim")
    )
    assert code == 0, err
    assert "triggered" not in out  # the trigger was claimed before the kill
    after = actions(world)
    assert after == RELEASED, (stored_before, out)
    resumed = loops.get_run(run.run_id)
    assert (resumed.status, resumed.step) == ("running", "observe")
    assert [s.seq for s in loops.steps(run.run_id)] == [1, 2, 3, 4]
    # the loop goes on to its end from there
    world.serve()
    with Agent(world.backend, [spec], name="victim", interval_s=0) as agent:
        agent.run_once()
    assert loops.get_run(run.run_id).status == "promoted"
    assert world.registry.aliases("cancer")["champion"] == 2


class Clock:
    """A clock the test moves on (starting now: the store's own times are real)."""

    def __init__(self) -> None:
        self.ms = now_ms()

    def __call__(self) -> int:
        return self.ms


def test_a_dead_agents_lease_is_taken_over_when_it_expires(world: World) -> None:
    clock = Clock()
    spec = load_policy(policy())
    with Agent(world.backend, [spec], name="setup", interval_s=0, clock=clock):
        pass
    world.new_data()
    # an agent claims the trigger, stores the data step, and dies holding the lease
    dead = Agent(world.backend, [spec], name="dead", interval_s=0, lease_s=30, clock=clock)
    dead.start()
    dead._claim(spec, TickReport())
    run = world.backend.loops.list_runs()[0]
    held = world.backend.loops.acquire(run.run_id, "dead", now=clock(), ttl_ms=30_000)
    assert held is not None
    ctx = StepContext(dead.backend_for(spec), spec, "dead", clock, 0)
    stop = threading.Event()
    first = advance(ctx, world.backend.loops, held, after_step=lambda *_: stop.set(), stop=stop)
    assert first.step == "train" and first.lease_holder == "dead"
    dead._beats.set()  # its heartbeat stops, as a killed process's does
    with Agent(world.backend, [spec], name="heir", interval_s=0, lease_s=30, clock=clock) as heir:
        clock.ms += 29_000
        report = heir.tick()
        assert report.busy == [run.run_id] and not report.advanced  # the lease still runs
        clock.ms += 2_000
        heir.run_once()
    taken = world.events(kind="loop.taken_over")
    assert len(taken) == 1 and taken[0].data == {"from": "dead", "to": "heir", "step": "train"}
    assert "took loop run" in taken[0].reason and "whose lease expired" in taken[0].reason
    steps = world.backend.loops.steps(run.run_id)
    assert [(s.step, s.holder) for s in steps] == [
        ("data", "dead"),
        ("train", "heir"),
        ("evaluate", "heir"),
        ("release", "heir"),
    ]
    # the dead agent, were it to wake up, cannot store a step: its lease is gone
    late = world.backend.loops.get_run(run.run_id)
    with pytest.raises(ConflictError, match="cannot store step 'observe'"):
        advance(ctx, world.backend.loops, late)
    assert [s.step for s in world.backend.loops.steps(run.run_id)][-1] == "release"
