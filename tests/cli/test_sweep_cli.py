"""``loopml sweep run|show``: an objective from a file, each trial printed, the best shown."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.cli.conftest import Invoke

OBJECTIVE = """
import loopml
import optuna


def objective(trial):
    x = trial.suggest_float("x", -2.0, 2.0)
    loopml.log_metric("x_squared", x * x)
    if x > 1.5:
        raise ValueError("x is out of the physical range")
    return -((x - 0.5) ** 2)
"""


def test_run_then_show_a_sweep(invoke: Invoke, tmp_path: Path) -> None:
    script = tmp_path / "tune.py"
    script.write_text(OBJECTIVE)
    code, out, err = invoke(
        "sweep", "run", f"{script}:objective", "--trials", "5", "--experiment", "cli-sweep"
    )
    assert code == 0, err
    lines = [line for line in out.splitlines() if line.startswith("trial ")]
    assert len(lines) == 5 and all(re.match(r"trial +\d+  (COMPLETE|FAIL)", line) for line in lines)
    best = re.search(r"best: trial (\d+), value (\S+) \(x=(\S+)\), run (\w{32})", out)
    assert best is not None, out
    sweep_run = re.search(r"sweep run (\w{32})", out)
    assert sweep_run is not None

    code, shown, err = invoke("sweep", "show", sweep_run.group(1)[:8])
    assert code == 0, err
    assert f"best: trial {best.group(1)}, value {best.group(2)}" in shown
    assert shown.count("COMPLETE") + shown.count("FAIL") >= 5

    code, raw, _ = invoke("sweep", "show", sweep_run.group(1), "--json")
    data = json.loads(raw)
    assert code == 0 and data["best_run_id"] == best.group(4)
    assert len(data["trials"]) == 5 and data["direction"] == "maximize"
    code, raw, _ = invoke("runs", "show", best.group(4), "--json")
    assert code == 0 and json.loads(raw)["metrics"]["x_squared"] >= 0


def test_bad_targets_are_named(invoke: Invoke, tmp_path: Path) -> None:
    code, _, err = invoke("sweep", "run", "no_colon", "--trials", "2")
    assert code == 2 and "must be given as module:function" in err
    code, _, err = invoke("sweep", "run", "no_such_module_xyz:objective", "--trials", "2")
    assert code == 2 and "Cannot import 'no_such_module_xyz'" in err
    (tmp_path / "empty.py").write_text("VALUE = 1\n")
    code, _, err = invoke("sweep", "run", f"{tmp_path / 'empty.py'}:objective", "--trials", "2")
    assert code == 2 and "has no attribute 'objective'" in err
    code, _, err = invoke("sweep", "run", f"{tmp_path / 'empty.py'}:VALUE", "--trials", "2")
    assert code == 2 and "not callable" in err


def test_show_refuses_a_run_that_is_not_a_sweep(invoke: Invoke) -> None:
    import loopml

    with loopml.start_run(experiment="plain") as run:
        pass
    code, _, err = invoke("sweep", "show", run.run_id)
    assert code == 2 and "is not a sweep's run" in err
