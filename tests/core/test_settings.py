"""Settings: precedence argument > environment > loopml.toml > default; project discovery."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopml.core.errors import InvalidArgumentError
from loopml.core.settings import resolve_settings


def test_defaults_put_the_store_in_dot_loopml_of_the_working_folder(tmp_path: Path) -> None:
    s = resolve_settings(cwd=tmp_path, environ={})
    assert s.home == tmp_path / ".loopml"
    assert s.db_url == f"sqlite:///{tmp_path / '.loopml' / 'loopml.db'}"
    assert s.artifacts_url == str(tmp_path / ".loopml" / "artifacts")
    assert s.experiment == "default" and s.capture_env is True
    assert s.sources["home"] == "default"
    assert s.is_embedded


def test_store_is_found_upward_like_git(tmp_path: Path) -> None:
    (tmp_path / ".loopml").mkdir()
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    s = resolve_settings(cwd=deep, environ={})
    assert s.project_root == tmp_path
    assert s.home == tmp_path / ".loopml"


def test_precedence_argument_environment_file_default(tmp_path: Path) -> None:
    (tmp_path / "loopml.toml").write_text('experiment = "from-file"\nflush_interval = 2.0\n')
    env = {"LOOPML_EXPERIMENT": "from-env"}
    s = resolve_settings(cwd=tmp_path, environ=env)
    assert (s.experiment, s.sources["experiment"]) == ("from-env", "environment")
    assert (s.flush_interval, s.sources["flush_interval"]) == (2.0, "loopml.toml")
    s = resolve_settings({"experiment": "from-arg"}, cwd=tmp_path, environ=env)
    assert (s.experiment, s.sources["experiment"]) == ("from-arg", "argument")
    assert s.project_file == tmp_path / "loopml.toml"


def test_environment_overrides_urls_and_home(tmp_path: Path) -> None:
    env = {
        "LOOPML_HOME": str(tmp_path / "elsewhere"),
        "LOOPML_DB_URL": "postgresql://x/db",
        "LOOPML_ARTIFACTS_URL": "s3://bucket/loopml",
        "LOOPML_CAPTURE_ENV": "false",
    }
    s = resolve_settings(cwd=tmp_path, environ=env)
    assert s.home == tmp_path / "elsewhere"
    assert s.db_url == "postgresql://x/db" and not s.is_embedded
    assert s.artifacts_url == "s3://bucket/loopml"
    assert s.capture_env is False


@pytest.mark.parametrize(
    ("env", "match"),
    [
        (
            {"LOOPML_CAPTURE_ENV": "maybe"},
            r"LOOPML_CAPTURE_ENV \(from environment\) must be true or false\. Got 'maybe'",
        ),
        ({"LOOPML_FLUSH_INTERVAL": "-1"}, r"LOOPML_FLUSH_INTERVAL .* must be a positive number"),
        ({"LOOPML_EXPERIMENT": "  "}, None),  # blank env values are ignored, not errors
    ],
)
def test_bad_values_are_named(tmp_path: Path, env: dict[str, str], match: str | None) -> None:
    if match is None:
        settings = resolve_settings(cwd=tmp_path, environ=env)
        assert (settings.experiment, settings.sources["experiment"]) == ("default", "default")
        return
    with pytest.raises(InvalidArgumentError, match=match):
        resolve_settings(cwd=tmp_path, environ=env)


def test_unknown_key_in_project_file_suggests_the_right_one(tmp_path: Path) -> None:
    (tmp_path / "loopml.toml").write_text('experimnt = "x"\n')
    with pytest.raises(InvalidArgumentError, match="Did you mean 'experiment'"):
        resolve_settings(cwd=tmp_path, environ={})


def test_broken_project_file_is_reported_with_its_path(tmp_path: Path) -> None:
    (tmp_path / "loopml.toml").write_text("experiment = \n")
    with pytest.raises(InvalidArgumentError, match="not valid TOML"):
        resolve_settings(cwd=tmp_path, environ={})


def test_the_audit_key_comes_from_the_environment_and_is_never_shown(tmp_path: Path) -> None:
    settings = resolve_settings(cwd=tmp_path, environ={"LOOPML_AUDIT_KEY": "s3cret-value"})
    assert settings.audit_key == "s3cret-value"
    assert settings.sources["audit_key"] == "environment"
    assert "s3cret-value" not in repr(settings)
    (tmp_path / "loopml.toml").write_text('audit_key = "in-the-repo"\n')
    with pytest.raises(
        InvalidArgumentError, match=r"'audit_key' .* is a secret .* LOOPML_AUDIT_KEY"
    ):
        resolve_settings(cwd=tmp_path, environ={})
