"""Store URLs that do not parse are one clear error (and never show a password), in the
library and through the CLI, instead of a ``ValueError`` from deep inside SQLAlchemy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from loopml.core.errors import StoreError
from loopml.store.sql.engine import StoreEngine, normalize_url


@pytest.mark.parametrize(
    "url",
    ["postgresql://::::", "postgresql://u@db:port/ml", "postgresql://u:hunter2@db:54x2/ml"],
)
def test_a_url_that_does_not_parse_is_a_store_error(url: str) -> None:
    with pytest.raises(StoreError, match=r"is not a valid database URL .*postgresql://user@host"):
        normalize_url(url)
    with pytest.raises(StoreError, match="LOOPML_DB_URL") as caught:
        StoreEngine(url)
    assert "hunter2" not in str(caught.value)


def test_the_cli_says_what_is_wrong_with_the_url(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "loopml"
    env = {**os.environ, "LOOPML_HOME": str(tmp_path / ".loopml")}
    env["LOOPML_DB_URL"] = "postgresql://::::"
    done = subprocess.run(
        [str(exe), "models", "list"], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert "'postgresql://::::' is not a valid database URL" in done.stderr
