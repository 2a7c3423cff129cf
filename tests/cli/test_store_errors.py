"""Store problems reach the user as one clear line through the CLI and the SDK, and nothing
already logged is lost."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import loopml
from loopml.core.errors import PermissionDeniedError, SchemaVersionError
from loopml.store.backend import close_cached_backends


def _loopml(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "loopml"
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "COLUMNS": "200"},
        timeout=120,
    )


def test_a_home_that_cannot_be_created(tmp_path: Path) -> None:
    # Tests run as root, where chmod does not stop writes; a regular file where the store's
    # folder must go is the realistic failure that stops root too.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    env = {"LOOPML_HOME": str(blocker / ".loopml")}
    done = _loopml(env, "runs", "list")  # a read: it says there is no store, and tries nothing
    assert done.returncode == 3
    assert "Traceback" not in done.stderr
    assert f"No loopml store at {blocker / '.loopml'} (LOOPML_HOME)" in done.stderr
    with pytest.raises(PermissionDeniedError, match="LOOPML_HOME"):
        loopml.LoopmlClient(home=blocker / ".loopml")


def test_a_store_from_a_newer_loopml_is_refused_and_kept(tmp_path: Path) -> None:
    home = tmp_path / ".loopml"
    client = loopml.LoopmlClient(home=home)
    with client.start_run("exp", capture=False) as run:
        run.log_metric("auc", 0.9)
    close_cached_backends()
    db = home / "loopml.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'f00d_from_the_future'")
    done = _loopml({"LOOPML_HOME": str(home)}, "runs", "list")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "f00d_from_the_future" in done.stderr and "upgrade" in done.stderr.lower()
    with pytest.raises(SchemaVersionError, match="f00d_from_the_future"):
        loopml.LoopmlClient(home=home)
    with sqlite3.connect(db) as conn:  # refused, not touched: the data is all still there
        assert conn.execute("SELECT count(*) FROM metrics").fetchone()[0] == 1
