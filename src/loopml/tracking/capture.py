"""Capture the code and environment of a run on its own: git commit, dirty flag and diff,
entry point, Python, installed packages, host and user.

Everything here is best effort: a missing ``git`` or a folder outside a repository just
leaves those tags out. Package lists are computed once per process.
"""

from __future__ import annotations

import functools
import platform
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from loopml.core.settings import current_user

GIT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Capture:
    """What was captured: tags to set on the run and named text artifacts to log."""

    tags: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)


def _entry_point() -> Path | None:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if path:
        return Path(path).resolve()
    return None


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, timeout=GIT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", errors="replace")


def capture_git(folder: Path) -> Capture:
    """Return the commit, branch, dirty flag and (when dirty) the diff of ``folder``'s repo."""
    top = _git(["rev-parse", "--show-toplevel"], folder)
    if top is None:
        return Capture()
    root = Path(top.strip())
    tags: dict[str, str] = {"loopml.git.root": str(root)}
    files: dict[str, bytes] = {}
    commit = _git(["rev-parse", "HEAD"], root)
    if commit:
        tags["loopml.git.commit"] = commit.strip()
    branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], root)
    if branch:
        tags["loopml.git.branch"] = branch.strip()
    status = _git(["status", "--porcelain", "--untracked-files=normal"], root) or ""
    dirty = bool(status.strip())
    tags["loopml.git.dirty"] = "true" if dirty else "false"
    if dirty:
        diff = _git(["diff", "HEAD", "--no-color", "--no-ext-diff"], root) or ""
        untracked = [line[3:] for line in status.splitlines() if line.startswith("??")]
        header = "".join(f"# untracked: {name}\n" for name in untracked)
        files["loopml/git.diff"] = (header + diff).encode()
    return Capture(tags=tags, files=files)


@functools.cache
def installed_packages() -> str:
    """Return the installed distributions as sorted ``name==version`` lines (cached)."""
    from importlib import metadata

    lines = {
        f"{dist.metadata['Name']}=={dist.version}"
        for dist in metadata.distributions()
        if dist.metadata["Name"]
    }
    return "\n".join(sorted(lines, key=str.lower)) + "\n"


def capture_environment(*, code: bool = True, user: str | None = None) -> Capture:
    """Capture the run's environment (and, with ``code``, its git state).

    Args:
        code: Also capture the git commit, branch, dirty flag and diff.
        user: Who is running it (default: the login name).

    Returns:
        Tags under ``loopml.`` and the files ``loopml/requirements.txt`` (and
        ``loopml/git.diff`` when the work tree is dirty).
    """
    entry = _entry_point()
    tags = {
        "loopml.source.entry_point": str(entry) if entry else "<interactive>",
        "loopml.source.argv": " ".join(sys.argv)[:1000],
        "loopml.env.python": platform.python_version(),
        "loopml.env.platform": platform.platform(),
        "loopml.env.host": socket.gethostname(),
        "loopml.user": user or current_user(),
    }
    files = {"loopml/requirements.txt": installed_packages().encode()}
    if code:
        git = capture_git(entry.parent if entry else Path.cwd())
        tags.update(git.tags)
        files.update(git.files)
    return Capture(tags=tags, files=files)
