"""``loopml logs status`` and ``loopml logs compact`` over the spool of a process that died
without closing its log (``os._exit``: no atexit, no flush of what was queued, no seal)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from loopml.core.settings import Settings
from loopml.store.logs import PredictionLog, PredictionRecord, read_predictions
from tests.cli.conftest import Invoke

DIES = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from loopml.store.logs import PredictionLog, PredictionRecord

    plog = PredictionLog(Path(sys.argv[1]))
    for i in range(50):
        plog.append(PredictionRecord(prediction_id=f"{i:032x}", model="churn", version=1,
            route="champion", at=1_700_000_000_000 + i, latency_ms=0.5,
            inputs={"x": i}, output=i))
    plog.flush()
    os._exit(0)
    """
)


def test_status_and_compact_adopt_a_dead_servers_folder(invoke: Invoke, settings: Settings) -> None:
    root = settings.home / "spool"
    dead = root / "churn-999999"
    subprocess.run([sys.executable, "-c", DIES, str(dead)], check=True, timeout=60)
    live = PredictionLog(root / "churn-live")  # this process holds it
    live.append(
        PredictionRecord(
            prediction_id="f" * 32,
            model="churn",
            version=1,
            route="champion",
            at=1_700_000_000_000,
            latency_ms=0.5,
            inputs={"x": 1},
            output=1,
        )
    )
    live.flush()
    try:
        code, out, _err = invoke("logs", "status")
        assert code == 0
        lines = {line.split()[1]: line for line in out.splitlines() if "churn-" in line}
        assert "orphaned" in lines["churn-999999"] and "live" in lines["churn-live"]
        assert "1 orphaned folder(s)" in out
        code, out, _err = invoke("logs", "compact")
        assert code == 0, out
        assert "Compacted 50 prediction(s) from 1 segment(s)" in out
        assert "1 orphaned folder(s) adopted" in out
        assert not dead.exists() and (root / "churn-live").exists()
        logged = read_predictions(settings.logs_url).column("prediction_id").to_pylist()
        assert sorted(logged) == [f"{i:032x}" for i in range(50)]
    finally:
        live.close()
    code, out, _err = invoke("logs", "compact")  # a closed log's folder has no owner either
    assert "Compacted 1 prediction(s)" in out and "1 orphaned folder(s) adopted" in out
    assert not root.exists() or list(root.iterdir()) == []


def test_status_without_a_spool(invoke: Invoke, settings: Settings) -> None:
    code, out, _err = invoke("logs", "status")
    assert code == 0
    assert "No spool folder" in out
    assert not settings.home.exists()  # a read-only command creates nothing
