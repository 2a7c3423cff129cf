"""Nothing logged is lost when a process ends: normal exit, uncaught exception, SIGTERM.

Each case runs a real Python process against the test store, directly and through a real
server over it (the remote SDK's batches over HTTP keep the same guarantees), and checks what
was stored.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import loopml
from loopml.core.entities import RunStatus

SCRIPT = """
import sys, time, loopml
mode, n, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def log_all(run):
    for i in range(n):
        run.log_metric("m", float(i), step=i)

if mode == "with-sigterm":
    with loopml.start_run(experiment="exit") as run:
        print(run.run_id, flush=True)
        log_all(run)
        open(ready, "w").close()
        time.sleep(60)
run = loopml.start_run(experiment="exit")   # no with-block: the exit hooks must end it
print(run.run_id, flush=True)
log_all(run)
if mode == "crash":
    raise RuntimeError("boom in training")
if mode == "sigterm":
    open(ready, "w").close()
    time.sleep(60)
if mode == "sigterm-after-run":
    run.end()
    open(ready, "w").close()
    time.sleep(60)
"""

N = 3000


def _start(mode: str, tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], Path]:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    ready = tmp_path / f"ready-{mode}"
    proc = subprocess.Popen(
        [sys.executable, str(script), mode, str(N), str(ready)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, ready


def _wait_ready(proc: subprocess.Popen[str], ready: Path) -> None:
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "the child never got ready"
        time.sleep(0.02)


def _check(run_id: str, status: RunStatus) -> None:
    run = loopml.get_run(run_id)
    assert run.status is status
    history = loopml.LoopmlClient().get_metric_history(run_id, "m")
    assert [p.step for p in history] == list(range(N)), "metric points were lost"


def test_normal_exit_without_ending_the_run(sdk_env: dict[str, str], tmp_path: Path) -> None:
    proc, _ = _start("normal", tmp_path, sdk_env)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    _check(out.split()[0], RunStatus.FINISHED)


def test_uncaught_exception_fails_the_run(sdk_env: dict[str, str], tmp_path: Path) -> None:
    proc, _ = _start("crash", tmp_path, sdk_env)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "boom in training" in err
    run_id = out.split()[0]
    _check(run_id, RunStatus.FAILED)
    assert "RuntimeError: boom in training" in (loopml.get_run(run_id).error or "")


@pytest.mark.parametrize("mode", ["sigterm", "with-sigterm"])
def test_sigterm_kills_the_run_and_keeps_every_point(
    sdk_env: dict[str, str], tmp_path: Path, mode: str
) -> None:
    proc, ready = _start(mode, tmp_path, sdk_env)
    _wait_ready(proc, ready)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    _check(out.split()[0], RunStatus.KILLED)


def test_sigterm_after_the_runs_ended_is_the_default_action(
    sdk_env: dict[str, str], tmp_path: Path
) -> None:
    proc, ready = _start("sigterm-after-run", tmp_path, sdk_env)
    _wait_ready(proc, ready)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGTERM  # killed by the signal, as without loopml
    _check(out.split()[0], RunStatus.FINISHED)
