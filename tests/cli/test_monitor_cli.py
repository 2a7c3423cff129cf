"""``loopml monitor run`` on files (no store needed or created) and on dataset refs: the Rich
summary, --json, --report, --fail-on-drift, and bad options as usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.cli.conftest import Invoke


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    reference = pd.DataFrame(
        {
            "amount": rng.lognormal(size=4_000),
            "kind": rng.choice(["a", "b", "c"], size=4_000),
            "when": pd.date_range("2024-01-01", periods=4_000, freq="15min", tz="UTC"),
        }
    )
    current = reference.sample(2_000, random_state=1).assign(
        when=pd.date_range("2024-03-01", periods=2_000, freq="30min", tz="UTC")
    )
    current.loc[current.index[1_000:], "amount"] *= 3  # the second half drifts
    paths = {"reference": tmp_path / "reference.parquet", "current": tmp_path / "current.csv"}
    reference.to_parquet(paths["reference"])
    current.to_csv(paths["current"], index=False)
    return paths


def test_monitor_run_on_files(invoke: Invoke, files: dict[str, Path], tmp_path: Path) -> None:
    html = tmp_path / "out" / "drift.html"
    code, out, err = invoke(
        "monitor",
        "run",
        "--current",
        str(files["current"]),
        "--reference",
        str(files["reference"]),
        "--window",
        "1000",
        "--timestamp-column",
        "when",
        "--feature",
        "amount",
        "--feature",
        "kind",
        "--no-multivariate",
        "--report",
        str(html),
    )
    assert code == 0, err
    assert "dataset drift" in out and "amount" in out and "Report written to" in out
    assert html.read_text().startswith("<!doctype html>")
    assert not (tmp_path / ".loopml").exists()  # files alone create no store
    code, out, err = invoke(
        "monitor",
        "run",
        "--current",
        str(files["current"]),
        "--reference",
        str(files["reference"]),
        "--window",
        "1000",
        "--timestamp-column",
        "when",
        "--no-multivariate",
        "--json",
        "--fail-on-drift",
        "--threshold",
        "dataset_share=0.5",
    )
    assert code == 1  # the second window drifted
    report = json.loads(out)
    first, second = report["windows"]
    assert first["dataset_drift"] is False and second["features"]["amount"]["drifted"] is True


def test_monitor_run_on_dataset_refs(invoke: Invoke, files: dict[str, Path]) -> None:
    assert invoke("data", "register", "ref", str(files["reference"]), "--timestamp", "when")[0] == 0
    assert invoke("data", "register", "cur", str(files["current"]))[0] == 0
    code, out, err = invoke(
        "monitor",
        "run",
        "--current",
        "cur@1",
        "--reference",
        "ref@1",
        "--window",
        "1d",
        "--timestamp-column",
        "when",
        "--no-multivariate",
        "--test",
        "amount=psi",
        "--json",
    )
    assert code == 0, err
    windows = json.loads(out)["windows"]
    assert len(windows) == 42 and windows[0]["start"] == "2024-03-01T00:00:00Z"
    assert {w["features"]["amount"]["test"] for w in windows} == {"psi"}


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--window", "fortnight"], "is not a window"),
        (["--threshold", "alpha"], "write it as name=value"),
        (["--test", "amount=kss"], "Unknown drift test 'kss'"),
        (["--feature", "nope"], "Feature 'nope' is not a column"),
    ],
)
def test_bad_options_are_usage_errors(
    invoke: Invoke, files: dict[str, Path], args: list[str], match: str
) -> None:
    code, _out, err = invoke(
        "monitor",
        "run",
        "--current",
        str(files["current"]),
        "--reference",
        str(files["reference"]),
        *args,
    )
    assert code == 2 and match in err
