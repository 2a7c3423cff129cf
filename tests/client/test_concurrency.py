"""8 processes logging 10,000 single points each into one store at once: every point stored,
no 'database is locked' (SQLite in WAL mode, and PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import loopml

WORKER = """
import sys, loopml
n = int(sys.argv[1])
with loopml.start_run(experiment="concurrent", name=sys.argv[2]) as run:
    for i in range(n):
        run.log_metric("m", float(i), step=i)
        if i % 1000 == 0:
            run.log_param(f"p{i}", i)
print(run.run_id)
"""
PROCESSES = 8
POINTS = 10_000


@pytest.mark.slow
def test_eight_processes_lose_nothing(store_env: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(POINTS), f"w{i}"],
            env=store_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    results = [p.communicate(timeout=600) for p in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err
    client = loopml.LoopmlClient()
    for out, _ in results:
        run_id = out.split()[-1]
        steps = [p.step for p in client.get_metric_history(run_id, "m")]
        assert steps == list(range(POINTS))
        assert len(client.get_run(run_id).params) == POINTS // 1000
