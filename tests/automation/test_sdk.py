"""``loopml.loops``, the SDK front of the agent, on both backends: ``run_once`` runs a policy
(a file, a mapping or a loaded policy) on the active client's store until nothing is
runnable, and ``list_policies``, ``list_runs``, ``status``, ``steps`` and ``history`` read
what it did; bad input is named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import loopml
from loopml.automation import Agent, load_policy
from loopml.core.errors import ConflictError, InvalidArgumentError, NotFoundError
from tests.automation.conftest import World, policy


def _policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "cancer-loop.yaml"
    path.write_text(yaml.safe_dump(policy(), sort_keys=False))
    return path


def test_run_once_runs_the_loop_and_the_readers_tell_it(world: World, tmp_path: Path) -> None:
    path = _policy_file(tmp_path)
    assert loopml.loops.run_once(path) == []  # the policy's first run: nothing new yet
    assert [p.name for p in loopml.loops.list_policies()] == ["cancer-loop"]
    with pytest.raises(NotFoundError, match="Policy 'cancer-loop' has no loop run yet"):
        loopml.loops.status("cancer-loop")

    world.new_data()
    said: list[str] = []
    runs = loopml.loops.run_once(str(path), say=said.append)
    assert [(r.status, r.step) for r in runs] == [("running", "observe")]
    run = runs[0]
    assert run.state["challenger"] == "cancer@2" and run.trigger_key == "dataset:cancer@2"
    assert any("waits at observe: Wait on cancer@2 (canary): 0 of 60 labeled" in s for s in said)
    found = loopml.loops.status("cancer-loop")  # a policy's newest run
    assert (found.run_id, found.status) == (run.run_id, "running")
    assert "0 of 60 labeled rows on canary" in found.state["evidence"]["reason"]
    assert loopml.loops.status(run.run_id[:8]).run_id == run.run_id  # or a run id prefix
    holders = {s.holder for s in loopml.loops.steps(run.run_id)}
    assert len(holders) == 1 and holders.pop().startswith("sdk-")

    world.serve()
    again = loopml.loops.run_once(load_policy(policy()))  # a loaded policy works too
    assert [(r.run_id, r.status, r.step) for r in again] == [(run.run_id, "promoted", "done")]
    assert [s.step for s in loopml.loops.steps("cancer-loop")] == [
        "data", "train", "evaluate", "release", "observe", "promote",
    ]  # fmt: skip
    entries = loopml.loops.history("cancer-loop")
    assert [e.title for e in entries] == [
        "triggered", "data", "trained", "gate passed", "released", "evidence", "PROMOTED",
    ]  # fmt: skip
    assert all(e.run_id == run.run_id for e in entries)
    evidence = entries[5]
    assert evidence.reason.startswith("Promote cancer@2 (canary): accuracy difference +0.")
    assert any(line.startswith("gain +0.") for line in evidence.evidence)
    assert loopml.loops.history("cancer-loop", run=run.run_id[:8]) == entries
    assert [r.run_id for r in loopml.loops.list_runs(policy="cancer-loop")] == [run.run_id]
    assert loopml.models.get("cancer@champion").version == 2
    assert loopml.loops.run_once(policy()) == []  # a mapping; nothing left to do


def test_bad_input_is_named(world: World, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="policy file .*nope.yaml' does not exist"):
        loopml.loops.run_once(tmp_path / "nope.yaml")
    with pytest.raises(InvalidArgumentError, match="field 'release.shar' is not a policy field"):
        loopml.loops.run_once(policy(release={"mode": "canary", "shar": 10}))
    with pytest.raises(InvalidArgumentError, match="must be a YAML file's path, a mapping or"):
        loopml.loops.run_once([42])
    with pytest.raises(NotFoundError, match="field 'deployment': There is no deployment 'prd'"):
        loopml.loops.run_once(policy(deployment="prd"))
    assert loopml.loops.list_policies() == []  # nothing ran
    path = _policy_file(tmp_path)
    busy = pytest.raises(ConflictError, match="An agent named 'busy' is already running")
    with Agent(world.backend, [load_policy(path)], name="busy"), busy:
        loopml.loops.run_once(path, name="busy")
    with pytest.raises(NotFoundError, match=r"named 'cancer-lop'.*Did you mean 'cancer-loop'\?"):
        loopml.loops.status("cancer-lop")
    with pytest.raises(NotFoundError, match="No loop run id starts with 'abcd'"):
        loopml.loops.steps("abcd")
    with pytest.raises(NotFoundError, match="No agent has run a policy named 'other'"):
        loopml.loops.history("other")
