"""Helpers of the multi-agent tests: ``loopml agent`` in child processes on the test's store,
the policy file they run, and counts of every action the loop takes (what must happen once)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tests.automation.conftest import World, policy

ROOT = Path(__file__).resolve().parents[2]


def policy_file(folder: Path, **changes: Any) -> Path:
    path = folder / "cancer-loop.yaml"
    path.write_text(yaml.safe_dump(policy(**changes), sort_keys=False))
    return path


def child_env(world: World) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env.update(
        LOOPML_HOME=str(world.settings.home),
        LOOPML_DB_URL=world.settings.db_url,
        LOOPML_ARTIFACTS_URL=world.settings.artifacts_url,
        LOOPML_LOGS_URL=world.settings.logs_url,
        LOOPML_CAPTURE_ENV="false",
        PYTHONPATH=str(ROOT),
        COLUMNS="200",
    )
    return env


def start_agent(world: World, path: Path, *args: str) -> subprocess.Popen[str]:
    """``loopml agent --policy PATH ARGS`` in a child process."""
    return subprocess.Popen(
        [sys.executable, "-m", "loopml", "agent", "--policy", str(path), *args],
        env=child_env(world),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 180) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def poll(until: Callable[[], bool], *, timeout: float = 120, what: str) -> None:
    """Wait for a condition on the store (reading it, never sleeping in its place)."""
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def actions(world: World) -> dict[str, Any]:
    """Every action of the loop, counted: what a repeated step would do twice."""
    backend = world.backend
    loop_events = Counter(e.kind for e in backend.events.list_events(subject="loop:cancer-loop"))
    return {
        "runs": len(backend.loops.list_runs()),
        "model_versions": [v.version for v in backend.models.list_versions("cancer")],
        "registered_events": len(backend.events.list_events(kind="model.registered")),
        "deployment_versions": [e.data["version"] for e in backend.deployments.history("prod")],
        "evaluations": len(backend.evaluations.list_for("cancer")),
        "loop_events": dict(loop_events),
        "steps": [s.step for r in backend.loops.list_runs() for s in backend.loops.steps(r.run_id)],
    }


#: The actions of one loop run up to the release, each once.
RELEASED = {
    "runs": 1,
    "model_versions": [1, 2],
    "registered_events": 2,
    "deployment_versions": [1, 2],
    "evaluations": 1,
    "loop_events": {
        "loop.triggered": 1,
        "loop.data_ready": 1,
        "loop.trained": 1,
        "loop.gate_passed": 1,
        "loop.released": 1,
    },
    "steps": ["data", "train", "evaluate", "release"],
}
