"""``loopml monitor watch`` as a real process (two scheduled runs, each stored, the alert
deduplicated by its cooldown; SIGTERM in the sleep between runs ends it cleanly) and
``loopml monitor show`` over the stored runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from loopml.core.settings import Settings
from loopml.health.alert_sinks import ALERT_EVENT
from loopml.health.results import RUN_EVENT
from loopml.registry import ModelRegistry
from loopml.store.backend import open_backend
from tests.cli.conftest import Invoke

FEATURES = ["x1", "x2"]


@pytest.fixture
def watched(
    settings: Settings, cli_env: dict[str, str], tmp_path: Path
) -> Iterator[dict[str, Any]]:
    """A model ``clf@1`` trained on a registered dataset, and current rows of the last three
    days (now) in a CSV, the latest day shifted."""
    rng = np.random.default_rng(11)
    n = 3_000
    train = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    train["label"] = (train["x1"] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    train["when"] = pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    registry = ModelRegistry(open_backend(settings))
    ref = registry.datasets.register("train", train, target="label", timestamp="when").ref
    model = LogisticRegression().fit(train[FEATURES], train["label"])
    registry.register(model, "clf", input_example=train[FEATURES].head(), training_data=ref)
    now = pd.Timestamp.now(tz="UTC")
    current = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    current["label"] = (current["x1"] + rng.normal(scale=0.5, size=n) > 0).astype(int)
    current["when"] = now - pd.to_timedelta(np.linspace(70, 1, n), unit="h")
    current.loc[current.index[2_000:], "x1"] += 2.0  # the latest ~day moved
    path = tmp_path / "current.csv"
    current.to_csv(path, index=False)
    rules = tmp_path / "alerts.yaml"
    rules.write_text(
        "rules:\n  - name: x1-moved\n    when: 'feature: x1 drifted'\n    cooldown: 1h\n"
        "    sinks: [stdout]\n",
        encoding="utf-8",
    )
    env = {**os.environ, **cli_env}
    yield {"current": path, "rules": rules, "env": env, "settings": settings}


def _watch(watched: dict[str, Any], *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "loopml",
        "monitor",
        "watch",
        "clf@1",
        "--current",
        str(watched["current"]),
        "--lookback",
        "3d",
        "--window",
        "1d",
        "--no-multivariate",
        "--alerts",
        str(watched["rules"]),
        *args,
    ]


def test_watch_runs_on_schedule_and_stores_each_run(
    watched: dict[str, Any], tmp_path: Path, invoke: Invoke
) -> None:
    html = tmp_path / "latest.html"
    done = subprocess.run(
        _watch(watched, "--every", "1s", "--max-runs", "2", "--report", str(html)),
        env=watched["env"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "run 1: " in done.stdout and "run 2: " in done.stdout
    assert "watch ended after 2 run(s)" in done.stdout
    assert done.stdout.count("ALERT [warning] x1-moved") == 1  # the second run: suppressed
    assert "alert x1-moved suppressed" in done.stdout
    backend = open_backend(watched["settings"], cached=False)
    try:
        results = backend.monitor_results.list_results(subject="model:clf")
        runs = backend.events.list_events(kind=RUN_EVENT)
        alerts = backend.events.list_events(kind=ALERT_EVENT)
    finally:
        backend.close()
    assert len({r.run_id for r in results}) == 2 == len(runs)
    assert {r.model for r in results} == {"clf@1"}
    assert len(alerts) == 1  # deduplicated by the cooldown across runs
    latest = [r for r in results if r.run_id == runs[-1].links["monitor_run"]]
    assert "x1" in latest[0].window.drifted_features  # the newest window drifted
    assert [a.status for r in latest for a in r.alerts] == ["suppressed"]
    page = html.read_text(encoding="utf-8")
    assert "<h2>Alerts (1)</h2>" in page and runs[-1].links["monitor_run"] in page

    code, out, err = invoke("monitor", "show", "clf", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert [s["run_id"] for s in shown][:1] == [runs[-1].links["monitor_run"]]
    assert len(shown) == len(results) and shown[0]["model"] == "clf@1"
    code, out, err = invoke("monitor", "show", "--limit", "2", "--since", "1h")
    assert code == 0, err
    assert "drifted features" in out and "x1-moved" in out and "clf@1" in out
    assert out.count("model:clf") == 2
    code, out, err = invoke("monitor", "show", "clf", "--since", "2024-01-01T00:00")
    assert code == 0 and "x1" in out
    code, _out, err = invoke("monitor", "show", "--since", "last week")
    assert code == 2 and "is neither a duration" in err
    code, out, _err = invoke("monitor", "show", "churn")
    assert code == 0 and "No stored monitor results match." in out


def test_sigterm_in_the_sleep_ends_the_watch_cleanly(watched: dict[str, Any]) -> None:
    proc = subprocess.Popen(
        _watch(watched, "--every", "1h"),
        env=watched["env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:  # the first run done: the watch sleeps for an hour
            lines.append(line)
            if line.startswith("run 1: "):
                break
        assert any(line.startswith("run 1: ") for line in lines), proc.stderr
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "SIGTERM: stopping after the current run" in err
    assert "watch ended after 1 run(s) (stopped)" in out
    backend = open_backend(watched["settings"], cached=False)
    try:
        assert len(backend.events.list_events(kind=RUN_EVENT)) == 1
    finally:
        backend.close()


def test_watch_refuses_bad_options_before_any_run(invoke: Invoke, watched: dict[str, Any]) -> None:
    code, _out, err = invoke("monitor", "watch", "clf@1", "--every", "soon")
    assert code == 2 and "--every: 'soon' is not a duration" in err
    code, _out, err = invoke("monitor", "watch", "clf@1", "--every", "0s")
    assert code == 2 and "give a duration above 0" in err
    # the first run's bad input ends the watch (every later run would fail alike)
    code, _out, err = invoke(
        "monitor",
        "watch",
        "clf@1",
        "--every",
        "1s",
        "--max-runs",
        "3",
        "--current",
        str(watched["current"]),
        "--feature",
        "no_such_column",
    )
    assert code == 2 and "no_such_column" in err
    backend = open_backend(watched["settings"], cached=False)
    try:  # it ended at the first run's error, before storing anything
        assert backend.events.list_events(kind=RUN_EVENT) == []
    finally:
        backend.close()
    code, _out, err = invoke(
        "monitor", "watch", "nope@1", "--every", "1s", "--current", str(watched["current"])
    )
    assert code == 3 and "nope" in err
