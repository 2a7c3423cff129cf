"""``loopml agent --once`` and ``loopml loop list|history|status`` in process, on both
backends: the loop driven from the command line, its timeline told with reasons and
evidence, and bad input answered with one clear line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from loopml.cli import main
from tests.automation.conftest import World, policy

Invoke = Callable[..., tuple[int, str, str]]


@pytest.fixture
def invoke(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Invoke:
    monkeypatch.setenv("COLUMNS", "250")

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _policy_file(tmp_path: Path, **changes: object) -> Path:
    path = tmp_path / "cancer-loop.yaml"
    path.write_text(yaml.safe_dump(policy(**changes), sort_keys=False))
    return path


def test_the_agent_runs_the_loop_and_the_timeline_tells_it(
    world: World, invoke: Invoke, tmp_path: Path
) -> None:
    path = str(_policy_file(tmp_path))
    once = ("agent", "--policy", path, "--once", "--interval", "0", "--name", "cli-agent")
    code, out, err = invoke(*once)
    assert code == 0, err
    assert "agent cli-agent" in out and "runs cancer-loop until nothing is runnable" in out
    assert "0 run(s) claimed" in out
    code, out, _ = invoke("loop", "list")
    assert code == 0 and "cancer-loop" in out and "dataset cancer" in out
    assert "No loop run yet" in out

    world.new_data()
    code, out, err = invoke(*once)
    assert code == 0, err
    assert "triggered by new dataset version cancer@2" in out
    assert "loop.gate_passed: gate 'offline': all 1 checks passed" in out
    assert "loop.released: canary cancer@2 at 50% on deployment 'prod'" in out
    assert "waits at observe: Wait on cancer@2 (canary): 0 of 60 labeled rows" in out
    world.serve()
    code, out, err = invoke(*once)
    assert code == 0, err
    assert "loop.promoted: cancer@2 is the champion (was cancer@1)" in out

    code, out, _ = invoke("loop", "list", "--policy", "cancer-loop")
    assert code == 0 and "promoted" in out and "dataset:cancer@2" in out
    run_id = world.backend.loops.list_runs()[0].run_id
    code, out, _ = invoke("loop", "history", "cancer-loop")
    assert code == 0
    assert f"loop run {run_id[:12]}" in out
    for expected in (
        "triggered",
        "trained  trained cancer@2 with tests.automation.training:fit on cancer@2",
        "[pass] accuracy >= 0.8",
        "gain +0.",
        "PROMOTED",
        "did: champion cancer@1 -> cancer@2",
    ):
        assert expected in out, expected
    code, out, _ = invoke("loop", "status", run_id[:8])
    assert code == 0
    assert "promoted at step done" in out and "challenger  cancer@2" in out
    assert out.count("cli-agent") == 6  # each step's agent
    code, out, _ = invoke("loop", "history", "cancer-loop", "--json")
    assert code == 0 and '"kind": "loop.promoted"' in out


def test_bad_input_is_one_clear_line(world: World, invoke: Invoke, tmp_path: Path) -> None:
    bad = _policy_file(tmp_path, release={"mode": "canary", "shar": 10})
    code, _, err = invoke("agent", "--policy", str(bad), "--once")
    assert code == 2
    assert "field 'release.shar' is not a policy field" in err and "Did you mean 'share'?" in err
    missing = _policy_file(tmp_path, triggers=[{"dataset": "cancr"}])
    code, _, err = invoke("agent", "--policy", str(missing), "--once")
    assert code == 3 and "field 'triggers[0].dataset'" in err
    assert world.backend.loops.list_policies() == []  # nothing ran
    code, _, err = invoke("agent", "--policy", str(tmp_path / "nope.yaml"), "--once")
    assert code == 2 and "does not exist" in err
    good = str(_policy_file(tmp_path))
    code, _, err = invoke("agent", "--policy", good, "--once", "--interval", "soon")
    assert code == 2 and "--interval 'soon' is not a duration" in err
    assert invoke("agent", "--policy", good, "--once")[0] == 0
    code, _, err = invoke("loop", "history", "cancer-lop")
    assert code == 3 and "Did you mean 'cancer-loop'?" in err
    code, _, err = invoke("loop", "status", "abcd")
    assert code == 3 and "No loop run id starts with 'abcd'" in err


def test_loopml_models_approve_resumes_a_waiting_run(
    world: World, invoke: Invoke, tmp_path: Path
) -> None:
    path = str(_policy_file(tmp_path, approval="required"))
    once = ("agent", "--policy", path, "--once", "--interval", "0")
    assert invoke(*once)[0] == 0
    world.new_data()
    assert invoke(*once)[0] == 0
    world.serve()
    code, out, _ = invoke(*once)
    assert code == 0 and "Awaiting approval: `loopml models approve cancer@2`" in out
    assert "1 open (waiting for evidence or approval" in out
    run_id = world.backend.loops.list_runs()[0].run_id
    code, out, _ = invoke("loop", "status", run_id)
    assert "awaiting_approval at step approval" in out
    code, out, _ = invoke("models", "approve", "cancer@2", "-m", "slices look fine")
    assert code == 0
    assert f"Loop run {run_id[:12]} of policy cancer-loop was waiting for this review" in out
    code, out, _ = invoke(*once)
    assert code == 0 and "loop.approved: cancer@2 approved by" in out
    assert "loop.promoted: cancer@2 is the champion" in out
