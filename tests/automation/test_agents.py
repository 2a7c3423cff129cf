"""Two agents on one store never act twice on one trigger (threads and processes, SQLite and
PostgreSQL); an agent started twice under one name is refused with a clear error; SIGTERM
stops an agent after its current step, giving its name and leases back."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

from loopml.automation import Agent, TickReport, load_policy
from loopml.core.errors import ConflictError
from tests.automation.agents import RELEASED, actions, finish, policy_file, poll, start_agent
from tests.automation.conftest import World, policy


def test_two_agents_in_threads_act_once_on_one_trigger(world: World) -> None:
    spec = load_policy(policy())
    with Agent(world.backend, [spec], name="first", interval_s=0):
        pass  # the policy has run: what happens from now on triggers
    world.new_data()
    barrier = threading.Barrier(2)
    reports: dict[str, list[TickReport]] = {}

    def run(name: str) -> None:
        with Agent(world.backend, [spec], name=name, interval_s=0) as agent:
            barrier.wait()
            reports[name] = agent.run_once()

    threads = [threading.Thread(target=run, args=(n,)) for n in ("agent-a", "agent-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [r for reps in reports.values() for rep in reps for r in rep.claimed]
    assert len(claimed) == 1
    assert actions(world) == RELEASED
    holders = {s.holder for s in world.backend.loops.steps(claimed[0].run_id)}
    assert holders <= {"agent-a", "agent-b"}


def test_two_agent_processes_act_once_on_one_trigger(world: World, tmp_path: Path) -> None:
    path = policy_file(tmp_path)
    code, _, err = finish(start_agent(world, path, "--once", "--name", "setup"))
    assert code == 0, err
    world.new_data()
    both = [
        start_agent(world, path, "--once", "--interval", "0", "--name", name)
        for name in ("proc-a", "proc-b")
    ]
    results = [finish(p) for p in both]
    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    outs = "".join(out for _, out, _ in results)
    assert outs.count("triggered by new dataset version cancer@2") == 1
    assert actions(world) == RELEASED


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # names: one backend suffices
def test_an_agent_name_runs_once_and_sigterm_stops_it(world: World, tmp_path: Path) -> None:
    path = policy_file(tmp_path)
    first = start_agent(world, path, "--interval", "1s", "--name", "dup")
    try:
        poll(lambda: world.backend.loops.get_agent("dup") is not None, what="the agent")
        code, _, err = finish(start_agent(world, path, "--once", "--name", "dup"))
        assert code == 1
        assert f"An agent named 'dup' is already running: pid {first.pid} on" in err
        assert "Stop it first (SIGTERM" in err and "or start this one with another --name" in err
        # in-process too, before anything runs
        with pytest.raises(ConflictError, match="An agent named 'dup' is already running"):
            Agent(world.backend, [load_policy(policy())], name="dup").start()
    finally:
        first.send_signal(signal.SIGTERM)
        code, out, err = finish(first)
    assert code == 0, err
    assert "SIGTERM: stopping after the current step" in err and out.rstrip().endswith("stopped")
    assert world.backend.loops.get_agent("dup") is None  # the name is free again
    code, _, err = finish(start_agent(world, path, "--once", "--name", "dup"))
    assert code == 0, err
