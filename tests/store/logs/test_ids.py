"""known_ids: row ids found in the log store (Parquet, with or without caller_id) and the spool."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from loopml.store.logs import PredictionLog, PredictionRecord, compact
from loopml.store.logs.ids import known_ids


def record(pid: str, *, model: str = "churn", caller_id: str | None = None) -> PredictionRecord:
    return PredictionRecord(
        prediction_id=pid,
        model=model,
        version=1,
        route="champion",
        at=1_700_000_000_000,
        latency_ms=1.0,
        inputs={"x": 1},
        output=1,
        caller_id=caller_id,
    )


def write_log(spool: Path, records: list[PredictionRecord]) -> None:
    plog = PredictionLog(spool, flush_interval=0.05)
    for rec in records:
        assert plog.append(rec)
    plog.close()


def test_ids_in_the_log_store_and_in_the_spool(tmp_path: Path) -> None:
    logs, root = str(tmp_path / "logs"), tmp_path / "spool"
    write_log(root / "a", [record("p1", caller_id="c1"), record("p2", model="fraud")])
    assert compact(root / "a", logs) == 2
    write_log(root / "b", [record("p3", caller_id="c3")])  # still in the spool
    wanted = ["p1", "p2", "p3", "c3", "nope"]
    assert known_ids(logs, root, "churn", wanted) == {"p1", "p3", "c3"}
    assert known_ids(logs, None, "churn", wanted) == {"p1"}
    assert known_ids(None, root, "churn", wanted) == {"p3", "c3"}
    assert known_ids(logs, root, "fraud", wanted) == {"p2"}
    assert known_ids(logs, root, "churn", []) == set()


def test_caller_ids_in_parquet_files_with_and_without_the_column(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    folder = logs / "model=churn" / "date=2026-12-07"
    folder.mkdir(parents=True)
    old = pa.table({"prediction_id": ["p1"], "model": ["churn"], "version": [1]})
    new = pa.table(
        {"prediction_id": ["p2"], "model": ["churn"], "version": [1], "caller_id": ["row-9"]}
    )
    pq.write_table(old, folder / "part-old.parquet")
    assert known_ids(str(logs), None, "churn", ["p1", "row-9"]) == {"p1"}  # no caller_id yet
    pq.write_table(new, folder / "part-new.parquet")
    assert known_ids(str(logs), None, "churn", ["p1", "p2", "row-9", "x"]) == {
        "p1",
        "p2",
        "row-9",
    }


def test_an_empty_or_missing_store_knows_nothing(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    assert known_ids(str(tmp_path / "logs"), tmp_path / "none", "churn", ["a"]) == set()
    assert known_ids(str(tmp_path / "missing"), None, "churn", ["a"]) == set()


def test_a_torn_line_in_the_spool_is_skipped(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    write_log(root, [record("p1")])
    segment = next(root.glob("seg-*.jsonl"))
    with open(segment, "ab") as handle:
        handle.write(b'{"prediction_id": "p2", "mod')
    assert known_ids(None, root, "churn", ["p1", "p2"]) == {"p1"}
