"""``loopml server`` options checked before any worker starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from loopml.cli.server import resolve_artifacts_destination
from tests.cli.conftest import Invoke


def test_a_bad_artifacts_destination_is_refused_before_the_server_starts(invoke: Invoke) -> None:
    code, _out, err = invoke("server", "--artifacts-destination", "memry://bucket/x")
    assert code == 2
    assert "--artifacts-destination" in err
    assert "Unknown scheme 'memry'" in err


def test_an_artifacts_destination_folder_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_artifacts_destination("blobs") == str(tmp_path / "blobs")
    assert resolve_artifacts_destination("memory://kept") == "memory://kept"
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(typer.BadParameter, match="is a file, not a folder"):
        resolve_artifacts_destination(str(tmp_path / "a-file" / "blobs"))
