"""The CLI end to end on a real store: init, doctor, experiments, runs; clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import loopml
from tests.cli.conftest import Invoke


def _make_runs() -> list[str]:
    ids = []
    for depth, auc in ((3, 0.81), (6, 0.87), (9, 0.84)):
        with loopml.start_run(experiment="churn", name=f"depth{depth}") as run:
            run.log_params({"max_depth": depth, "lr": 0.1})
            run.log_metrics({"auc": auc, "loss": 1 - auc})
            run.log_artifact(b"weights", name="model.bin")
        ids.append(run.run_id)
    return ids


def test_init_creates_the_store(
    tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("LOOPML_HOME", "LOOPML_DB_URL", "LOOPML_ARTIFACTS_URL"):
        monkeypatch.delenv(var)
    code, out, _ = invoke("init", str(tmp_path / "proj"))
    assert code == 0
    assert (tmp_path / "proj" / ".loopml" / "loopml.db").is_file()
    assert "Created loopml store" in out
    code, out, _ = invoke("init", str(tmp_path / "proj"))
    assert code == 0 and "Using existing" in out


def test_doctor_prints_settings_and_checks_stores(invoke: Invoke, cli_env: dict[str, str]) -> None:
    code, out, _ = invoke("doctor")
    assert code == 0, out
    assert "LOOPML_DB_URL" in out and "environment" in out
    assert out.count("ok") >= 2


def test_experiments_and_runs_list(invoke: Invoke) -> None:
    _make_runs()
    code, out, _ = invoke("experiments", "list")
    assert code == 0 and "churn" in out and " 3 " in out
    code, out, _ = invoke(
        "runs", "list", "-e", "churn", "-f", "metrics.auc > 0.82", "-o", "metrics.auc desc"
    )
    assert code == 0
    assert out.index("depth6") < out.index("depth9") and "depth3" not in out
    code, out, _ = invoke("runs", "list", "--json", "-n", "1", "-o", "metrics.auc")
    assert [r["name"] for r in json.loads(out)] == ["depth3"]


def test_runs_show_and_compare(invoke: Invoke) -> None:
    ids = _make_runs()
    code, out, _ = invoke("runs", "show", ids[1][:8])
    assert code == 0
    assert "depth6" in out and "FINISHED" in out and "max_depth" in out and "model.bin" in out
    code, out, _ = invoke("runs", "compare", ids[0], ids[1])
    assert code == 0
    assert "params.max_depth" in out and "params.lr" not in out  # only differences
    assert "metrics.auc" in out and "0.06" in out  # the delta column
    assert "1 params are equal" in out
    code, out, _ = invoke("runs", "compare", "--all", ids[0], ids[1])
    assert "params.lr" in out


def test_runs_delete(invoke: Invoke) -> None:
    ids = _make_runs()
    code, out, _ = invoke("runs", "delete", ids[0])
    assert code == 0 and "deleted" in out
    assert len(loopml.search_runs("churn")) == 2
    code, out, _ = invoke("runs", "delete", "--purge", "--yes", ids[1])
    assert code == 0 and "purged" in out
    assert len(loopml.search_runs("churn", include_deleted=True)) == 2


def test_errors_are_one_clear_line(invoke: Invoke) -> None:
    _make_runs()
    code, _, err = invoke("runs", "list", "-f", "metrics.auc >> 0.8")
    assert code == 2 and "error:" in err and "^" in err and "Traceback" not in err
    code, _, err = invoke("runs", "list", "-e", "chrun")
    assert code == 3 and "Did you mean 'churn'" in err
    code, _, err = invoke("runs", "show", "zz")
    assert code == 2 and "not a run id" in err
    code, _, err = invoke("--debug", "runs", "list", "-e", "chrun")
    assert code == 3 and "Traceback" in err


def test_console_script_runs_and_exits_non_zero_on_errors(cli_env: dict[str, str]) -> None:
    exe = Path(sys.executable).parent / "loopml"
    env = {**os.environ, **cli_env}
    done = subprocess.run([str(exe), "--version"], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and done.stdout.startswith("loopml ")
    done = subprocess.run(
        [str(exe), "runs", "show", "0123456789abcdef0123456789abcdef"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 3
    assert "Traceback" not in done.stderr and "0123456789abcdef" in done.stderr


def test_doctor_exits_non_zero_when_a_store_fails(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where the artifact folder should be: unwritable, even as root
    monkeypatch.setenv("LOOPML_ARTIFACTS_URL", str(blocker / "artifacts"))
    code, out, _ = invoke("doctor")
    assert code == 1 and "FAILED" in out
