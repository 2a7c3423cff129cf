"""The CLI end to end on a real store: init, doctor, experiments, runs; clear errors; reads
that create nothing; the store a command used said when it is not the obvious one."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import loopml
from loopml.core.entities import RunStatus
from loopml.store.artifacts.atomic import part_name
from tests.cli.conftest import Invoke
from tests.conftest import PG_SERVER

EXE = Path(sys.executable).parent / "loopml"


def _make_runs() -> list[str]:
    ids = []
    for depth, auc in ((3, 0.81), (6, 0.87), (9, 0.84)):
        with loopml.start_run(experiment="churn", name=f"depth{depth}") as run:
            run.log_params({"max_depth": depth, "lr": 0.1})
            run.log_metrics({"auc": auc, "loss": 1 - auc})
            run.log_artifact(b"weights", name="model.bin")
        ids.append(run.run_id)
    return ids


def _rows(out: str) -> list[list[str]]:
    """The body rows of a rich table, as lists of stripped cells."""
    return [
        [cell.strip() for cell in line.strip("│").split("│")]
        for line in out.splitlines()
        if line.startswith("│")
    ]


def _loopml(
    *args: str, cwd: Path, env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EXE), *args],
        cwd=cwd,
        env={**env, "COLUMNS": "250"},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    return env | {"LOOPML_CAPTURE_ENV": "false"}


def test_init_creates_the_store(
    tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("LOOPML_HOME", "LOOPML_DB_URL", "LOOPML_ARTIFACTS_URL"):
        monkeypatch.delenv(var)
    code, out, _ = invoke("init", str(tmp_path / "proj"))
    assert code == 0
    assert (tmp_path / "proj" / ".loopml" / "loopml.db").is_file()
    assert out.startswith(f"Created loopml store at {tmp_path / 'proj' / '.loopml'}")
    code, out, _ = invoke("init", str(tmp_path / "proj"))
    assert code == 0 and out.startswith("Using existing loopml store")


def test_doctor_prints_settings_and_checks_stores(invoke: Invoke, cli_env: dict[str, str]) -> None:
    _make_runs()
    code, out, _ = invoke("doctor")
    assert code == 0, out
    settings = {row[1]: (row[2], row[3]) for row in _rows(out) if len(row) == 4}
    assert settings["LOOPML_DB_URL"] == (cli_env["LOOPML_DB_URL"], "environment")
    assert settings["LOOPML_EXPERIMENT"] == ("default", "default")
    checks = {row[0]: row[1] for row in _rows(out) if len(row) == 3}
    assert checks == {"metadata": "ok", "artifacts": "ok"}
    assert f"store: {cli_env['LOOPML_DB_URL']} (LOOPML_DB_URL)" in out


def test_doctor_reports_partial_writes_of_killed_writers(
    invoke: Invoke, cli_env: dict[str, str]
) -> None:
    _make_runs()
    tmp = Path(cli_env["LOOPML_ARTIFACTS_URL"]) / "tmp"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = tmp / part_name("object").replace(f"-{os.getpid()}.", f"-{gone.pid}.")
    stale.write_bytes(b"x" * 3 * 2**20)  # what a writer killed mid-write leaves
    code, out, _ = invoke("doctor")
    assert code == 0, out
    assert "partial_writes=1 stale removed (3.0 MiB), 0 in progress (0.0 MiB)" in out
    assert not stale.exists()


def test_experiments_and_runs_list(invoke: Invoke) -> None:
    _make_runs()
    code, out, _ = invoke("experiments", "list")
    assert code == 0
    [(name, _, runs, _)] = _rows(out)
    assert (name, runs) == ("churn", "3")
    code, out, _ = invoke(
        "runs", "list", "-e", "churn", "-f", "metrics.auc > 0.82", "-o", "metrics.auc desc"
    )
    assert code == 0
    assert [row[1] for row in _rows(out)] == ["depth6", "depth9"]
    code, out, _ = invoke("runs", "list", "--json", "-n", "1", "-o", "metrics.auc")
    assert [r["name"] for r in json.loads(out)] == ["depth3"]
    code, out, _ = invoke("runs", "list", "-f", "metrics.auc > 0.99")
    assert code == 0 and out.startswith("No runs match in ")


def test_runs_show_and_compare(invoke: Invoke) -> None:
    ids = _make_runs()
    code, out, _ = invoke("runs", "show", ids[1][:8])
    assert code == 0
    assert out.startswith(f"depth6  FINISHED  {ids[1]}")
    rows = _rows(out)
    assert ["max_depth", "6"] in rows and ["auc", "0.87"] in rows
    assert ["model.bin", "7 B", "9a129038d9a00aed"] in rows
    code, out, _ = invoke("runs", "compare", ids[0], ids[1])
    assert code == 0
    rows = {row[0]: row[1:] for row in _rows(out)}
    assert rows["params.max_depth"] == ["3", "6", ""]
    assert "params.lr" not in rows  # only differences
    assert rows["metrics.auc"] == ["0.81", "0.87", "0.06"]  # the delta column
    assert "1 params are equal in every run" in out
    code, out, _ = invoke("runs", "compare", "--all", ids[0], ids[1])
    assert {row[0]: row[1:] for row in _rows(out)}["params.lr"] == ["0.1", "0.1", ""]


def test_runs_metrics_shows_a_metric_history(invoke: Invoke) -> None:
    with loopml.start_run(experiment="churn") as run:
        for step in range(3):
            run.log_metric("loss", 1 / (step + 1), step=step)
        run.log_metric("nan", float("nan"))
    code, out, _ = invoke("runs", "metrics", run.run_id[:6], "loss")
    assert code == 0
    assert [row[:2] for row in _rows(out)] == [["0", "1"], ["1", "0.5"], ["2", "0.333333"]]
    code, out, _ = invoke("runs", "metrics", run.run_id, "loss", "--json")
    assert [(p["step"], p["value"]) for p in json.loads(out)] == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    code, out, _ = invoke("runs", "metrics", run.run_id, "--json")
    assert json.loads(out) == {"loss": pytest.approx(1 / 3, rel=1e-14), "nan": "NaN"}
    code, out, _ = invoke("runs", "metrics", run.run_id)
    assert _rows(out) == [["loss", "0.333333"], ["nan", "NaN"]]
    code, _, err = invoke("runs", "metrics", run.run_id, "los")
    assert code == 3 and re.match(r"error: Run \w+ has no metric 'los'\. Did you mean 'loss'", err)


def test_runs_artifacts_lists_and_downloads(invoke: Invoke, tmp_path: Path) -> None:
    with loopml.start_run(experiment="churn") as run:
        run.log_artifact(b"weights", name="model.bin")
        run.log_artifact(b"<svg/>", name="roc.svg", artifact_path="plots")
    code, out, _ = invoke("runs", "artifacts", run.run_id)
    assert code == 0
    assert [row[:2] for row in _rows(out)] == [["model.bin", "7 B"], ["plots/roc.svg", "6 B"]]
    code, out, _ = invoke("runs", "artifacts", run.run_id, "--download", str(tmp_path / "dl"))
    assert code == 0 and out.startswith("downloaded 2 file(s), 13 B, to ")
    assert (tmp_path / "dl" / "model.bin").read_bytes() == b"weights"
    assert (tmp_path / "dl" / "plots" / "roc.svg").read_bytes() == b"<svg/>"
    code, out, _ = invoke("runs", "artifacts", run.run_id, "plots", "-d", str(tmp_path / "p"))
    assert code == 0 and sorted(p.name for p in (tmp_path / "p").rglob("*")) == [
        "plots",
        "roc.svg",
    ]
    code, _, err = invoke("runs", "artifacts", run.run_id, "model.bn")
    assert code == 3 and "no artifact 'model.bn'. Did you mean 'model.bin'?" in err


def test_runs_delete_and_restore(invoke: Invoke) -> None:
    ids = _make_runs()
    code, out, _ = invoke("runs", "delete", ids[0])
    assert code == 0 and out.startswith(f"deleted {ids[0]} (bring it back with")
    assert len(loopml.search_runs("churn")) == 2
    code, out, _ = invoke("runs", "restore", ids[0][:8])
    assert code == 0 and out.strip() == f"restored {ids[0]}"
    assert len(loopml.search_runs("churn")) == 3
    code, out, _ = invoke("runs", "restore", ids[0])
    assert code == 0 and out.strip() == f"{ids[0]} was not deleted"
    code, out, _ = invoke("runs", "delete", "--purge", "--yes", ids[1])
    assert code == 0 and out.strip() == f"purged {ids[1]}"
    assert len(loopml.search_runs("churn", include_deleted=True)) == 2
    code, _, err = invoke("runs", "restore", ids[1])
    assert code == 3 and "does not exist" in err


def test_declining_a_purge_is_not_an_error(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = _make_runs()
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))
    code, out, err = invoke("runs", "delete", "--purge", ids[0])
    assert code == 0, err
    assert "Nothing was purged." in out and "error" not in err
    assert loopml.get_run(ids[0]).status is RunStatus.FINISHED


def test_declining_a_purge_in_a_real_terminal_session(tmp_path: Path) -> None:
    """The issue's reproduction through the console script: 'n' at the prompt."""
    env = _clean_env()
    made = subprocess.run(
        [sys.executable, "-c", "import loopml\nwith loopml.start_run('e') as r: print(r.run_id)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    run_id = made.stdout.strip()
    done = _loopml("runs", "delete", "--purge", run_id, cwd=tmp_path, env=env, stdin="n\n")
    assert done.returncode == 0, done.stderr
    assert "Nothing was purged." in done.stdout and done.stderr == ""
    shown = _loopml("runs", "show", run_id, "--json", cwd=tmp_path, env=env)
    assert json.loads(shown.stdout)["run_id"] == run_id


def test_errors_are_one_clear_line(invoke: Invoke) -> None:
    _make_runs()
    code, _, err = invoke("runs", "list", "-f", "metrics.auc >> 0.8")
    assert code == 2 and err.startswith("error: ") and "^" in err and "Traceback" not in err
    code, _, err = invoke("runs", "list", "-e", "chrun")
    assert code == 3 and "Did you mean 'churn'" in err
    code, _, err = invoke("runs", "show", "zz")
    assert code == 2 and "not a run id" in err
    code, _, err = invoke("--debug", "runs", "list", "-e", "chrun")
    assert code == 3 and "Traceback" in err
    code, _, err = invoke("runs", "list", "-n", str(2**63))
    assert code == 2 and "limit must be a non-negative integer that fits in 64 bits" in err


def test_console_script_runs_and_exits_non_zero_on_errors(cli_env: dict[str, str]) -> None:
    _make_runs()
    env = {**os.environ, **cli_env}
    done = subprocess.run([str(EXE), "--version"], capture_output=True, text=True, env=env)
    assert done.returncode == 0 and done.stdout.startswith("loopml ")
    done = subprocess.run(
        [str(EXE), "runs", "show", "0123456789abcdef0123456789abcdef"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 3
    assert done.stderr.startswith("error: Run '0123456789abcdef0123456789abcdef' does not exist")
    assert "Traceback" not in done.stderr


def test_doctor_exits_non_zero_when_a_store_fails(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _make_runs()
    blocker = tmp_path / "file"
    blocker.write_text("")  # a file where the artifact folder should be: unwritable, even as root
    monkeypatch.setenv("LOOPML_ARTIFACTS_URL", str(blocker / "artifacts"))
    code, out, _ = invoke("doctor")
    checks = {row[0]: row[1] for row in _rows(out) if len(row) == 3}
    assert code == 1 and checks["metadata + artifacts"] == "FAILED"


# -- reads create nothing; the store a command used is said ------------------------------------

READS = [
    ("runs", "list"),
    ("runs", "show", "abcd"),
    ("runs", "metrics", "abcd"),
    ("runs", "artifacts", "abcd"),
    ("runs", "delete", "abcd"),
    ("runs", "restore", "abcd"),
    ("experiments", "list"),
    ("models", "list"),
    ("data", "list"),
    ("evaluations", "list", "churn"),
    ("events", "list"),
    ("tokens", "list"),
    ("tokens", "revoke", "abcd"),
    ("audit", "verify"),
    ("audit", "head"),
    ("audit", "show"),
    ("doctor",),
]


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder outside any project, with no LOOPML_* setting."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    for var in [k for k in os.environ if k.startswith("LOOPML_")]:
        monkeypatch.delenv(var)
    monkeypatch.chdir(folder)
    yield folder


@pytest.mark.parametrize("args", READS, ids=" ".join)
def test_a_read_outside_any_project_creates_nothing(
    invoke: Invoke, elsewhere: Path, args: tuple[str, ...]
) -> None:
    code, out, err = invoke(*args)
    assert code == 3, f"{out}{err}"
    message = (out + err).replace("\n", " ")
    assert f"No loopml store here: no .loopml/ (or loopml.toml) in {elsewhere}" in message
    assert "LOOPML_HOME" in message and "LOOPML_DB_URL" in message and "loopml init" in message
    assert list(elsewhere.iterdir()) == []


def test_a_read_of_a_home_that_does_not_exist_names_it(
    invoke: Invoke, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = elsewhere / "nowhere" / ".loopml"
    monkeypatch.setenv("LOOPML_HOME", str(home))
    code, _, err = invoke("runs", "list")
    assert code == 3
    assert err.startswith(f"error: No loopml store at {home} (LOOPML_HOME): there is no loopml.db")
    assert not (elsewhere / "nowhere").exists()


def test_a_read_of_an_empty_postgresql_database_creates_no_tables(
    invoke: Invoke, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"loopml_empty_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        monkeypatch.setenv("LOOPML_DB_URL", f"{PG_SERVER}/{name}")
        code, _, err = invoke("runs", "list")
        assert code == 3 and "its database holds no loopml tables yet" in err
        assert "(LOOPML_DB_URL)" in err
        probe = sa.create_engine(f"{PG_SERVER}/{name}")
        with probe.connect() as conn:
            tables = conn.exec_driver_sql(
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
            ).scalar()
        probe.dispose()
        assert tables == 0
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def test_the_store_is_said_when_it_is_not_the_obvious_one(tmp_path: Path) -> None:
    env = _clean_env()
    project = tmp_path / "proj"
    (project / "src").mkdir(parents=True)
    made = subprocess.run(
        [sys.executable, "-c", "import loopml\nwith loopml.start_run('e') as r: pass"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    here = _loopml("runs", "list", cwd=project, env=env)
    assert here.returncode == 0 and here.stderr == ""  # .loopml/ of this folder: obvious
    below = _loopml("runs", "list", cwd=project / "src", env=env)
    assert below.returncode == 0
    assert below.stderr.strip() == f"store: {project / '.loopml'} (found in a parent folder)"
    other = tmp_path / "other"
    other.mkdir()
    env_home = env | {"LOOPML_HOME": str(project / ".loopml")}
    failed = _loopml("runs", "show", "abcd", cwd=other, env=env_home)
    assert failed.returncode == 3
    lines = failed.stderr.strip().splitlines()
    assert lines[0].startswith("error: No run id starts with 'abcd'")
    assert lines[-1] == f"store: {project / '.loopml'} (LOOPML_HOME)"
    assert list(other.iterdir()) == []
