"""``loopml pipeline run|list|show`` on SQLite and PostgreSQL: a pipeline file run on a
process pool with its progress per step, then again from the cache; the runs listed and
shown with their steps, hits, keys and outputs; bad targets and parameters refused."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import Invoke

FLOW = """
import loopml
import pandas as pd


@loopml.step
def numbers(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"x": range(rows)})


@loopml.step
def total(frame: pd.DataFrame, *, scale: float = 1.0) -> float:
    return float(frame["x"].sum() * scale)


@loopml.step
def fails(value: float) -> float:
    raise ValueError(f"cannot take {value}")


@loopml.pipeline
def flow(rows: int = 10, scale: float = 1.0):
    return {"total": total(numbers(rows), scale=scale)}


@loopml.pipeline
def broken(rows: int = 10):
    return fails(total(numbers(rows)))
"""


def _flow(tmp_path: Path) -> str:
    path = tmp_path / "flows_cli.py"
    path.write_text(FLOW)
    return str(path)


def test_run_list_show(invoke: Invoke, tmp_path: Path) -> None:
    path = _flow(tmp_path)
    code, out, err = invoke(
        "pipeline", "run", f"{path}:flow", "--executor", "process", "-p", "rows=5"
    )
    assert code == 0, err
    assert out.count(" ran ") == 2 and "key " in out
    assert "Pipeline flow FINISHED" in out and "2 steps, 0 from the cache" in out
    assert "outputs: {'total': 10.0}" in out

    code, out, err = invoke("pipeline", "run", f"{path}:flow", "--param", "rows=5")
    assert code == 0, err
    assert out.count("cache hit") == 2 and "2 steps, 2 from the cache" in out
    code, out, _ = invoke("pipeline", "run", f"{path}:flow", "-p", "rows=5", "--force")
    assert code == 0 and out.count(" ran ") == 2

    code, out, _ = invoke("pipeline", "list")
    assert code == 0
    assert out.count("flow") == 3 and "2/2" in out and "0/2" in out and "process" in out
    code, out, _ = invoke("pipeline", "list", "--json")
    runs = json.loads(out)
    assert [r["tags"]["loopml.pipeline.cache_hits"] for r in runs] == ["0/2", "2/2", "0/2"]

    cached = runs[1]["run_id"]
    code, out, _ = invoke("pipeline", "show", cached[:8])
    assert code == 0
    assert f"flow  FINISHED  {cached}" in out and "cache hits 2/2" in out
    assert "params: rows=5, scale=1.0" in out
    assert out.count(" hit ") == 2 and "outputs: {'total': 10.0}" in out
    code, out, _ = invoke("pipeline", "show", cached, "--json")
    shown = json.loads(out)
    assert [s["tags"]["loopml.step"] for s in shown["steps"]] == ["numbers", "total"]
    assert shown["outputs"]["$dict"]["total"]["$value"]["kind"] == "json"


def test_a_failed_step_fails_the_command(invoke: Invoke, tmp_path: Path) -> None:
    code, out, err = invoke("pipeline", "run", f"{_flow(tmp_path)}:broken")
    assert code == 1
    assert "failed ValueError: cannot take 45.0" in out
    assert "error: Step 'fails' of pipeline 'broken' failed: ValueError: cannot take 45.0" in err
    code, out, _ = invoke("pipeline", "list", "--json")
    (run,) = json.loads(out)
    assert run["status"] == "FAILED" and run["tags"]["loopml.pipeline.cache_hits"] == "0/3"
    code, out, _ = invoke("pipeline", "show", run["run_id"])
    assert "error: Step 'fails' of pipeline 'broken' failed" in out
    assert out.count("FINISHED") == 2 and "FAILED" in out


def test_bad_targets_and_parameters(invoke: Invoke, tmp_path: Path) -> None:
    path = _flow(tmp_path)
    code, _, err = invoke("pipeline", "run", "flows_cli")
    assert code == 2 and "must be module:function or path.py:function" in err
    code, _, err = invoke("pipeline", "run", f"{path}:flwo")
    assert code == 3 and "Did you mean 'flow'?" in err
    code, _, err = invoke("pipeline", "run", f"{path}:numbers")
    assert code == 2 and "is a Step, not a pipeline" in err
    code, _, err = invoke("pipeline", "run", str(tmp_path / "nope.py") + ":flow")
    assert code == 3 and "No file" in err
    code, _, err = invoke("pipeline", "run", "no_such_module:flow")
    assert code == 2 and "Cannot import the module 'no_such_module'" in err
    code, _, err = invoke("pipeline", "run", f"{path}:flow", "-p", "row=3")
    assert code == 2 and "Did you mean 'rows'?" in err
    code, _, err = invoke("pipeline", "run", f"{path}:flow", "-p", "rows")
    assert code == 2 and "must be name=value" in err
    code, _, err = invoke("pipeline", "run", f"{path}:flow", "--executor", "rayy")
    assert code == 2 and "Did you mean 'ray'?" in err
    code, out, _ = invoke("pipeline", "list")
    assert "No pipeline runs" in out or code == 3  # nothing ran, nothing was recorded


def test_show_refuses_a_run_that_is_not_a_pipeline(invoke: Invoke, tmp_path: Path) -> None:
    import loopml

    with loopml.start_run(experiment="plain") as run:
        pass
    code, _, err = invoke("pipeline", "show", run.run_id)
    assert code == 2 and "is not a pipeline run" in err
