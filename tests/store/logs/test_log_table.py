"""The log store's typed columns and read_log: types, old files, spool rows, event time."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import loopml.store.logs.compaction as compaction
from loopml.core.errors import InvalidArgumentError, StoreError
from loopml.store.logs import (
    PredictionLog,
    PredictionRecord,
    compact,
    inputs_frame,
    read_log,
    read_predictions,
    write_records,
)

DAY_MS = 86_400_000
T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z


def rec(i: int, inputs: dict[str, object], **changes: object) -> PredictionRecord:
    fields: dict[str, object] = {
        "prediction_id": f"{i:032x}",
        "model": "churn",
        "version": 3,
        "route": "champion",
        "at": T0 + i,
        "latency_ms": 1.5,
        "inputs": inputs,
        "output": "yes" if i % 2 else "no",
        "proba": {"no": 0.25, "yes": 0.75},
    }
    fields.update(changes)
    return PredictionRecord(**fields)  # type: ignore[arg-type]


def spool_and_compact(tmp_path: Path, records: list[PredictionRecord]) -> str:
    spool, store = tmp_path / "spool", tmp_path / "store"
    plog = PredictionLog(spool)
    plog.append_many(records)
    plog.close()
    assert compact(spool, str(store)) == len(records)
    return str(store)


def test_typed_columns_round_trip(tmp_path: Path) -> None:
    records = [
        rec(
            i,
            {
                "age": 40 + i,
                "score": i / 4,
                "vip": i % 2 == 0,
                "plan": ["free", "pro"][i % 2],
                "tags": [i, i + 1],
                "mixed": i if i % 2 else "n/a",
                "never": None,
            },
        )
        for i in range(6)
    ]
    store = spool_and_compact(tmp_path, records)
    (path,) = Path(store).rglob("*.parquet")
    schema = pq.read_schema(path)
    assert "in.never" not in schema.names  # all null: left out of the file
    table = read_log(store, model="churn")
    types = {name: str(table.schema.field(name).type) for name in table.column_names}
    assert types | {} == {
        "prediction_id": "string",
        "model": "string",
        "version": "int64",
        "route": "string",
        "at": "timestamp[ms, tz=UTC]",
        "event_at": "timestamp[ms, tz=UTC]",
        "latency_ms": "double",
        "request_key": "string",
        "error": "string",
        "caller_id": "string",
        "in.age": "double",
        "in.score": "double",
        "in.vip": "bool",
        "in.plan": "string",
        "in.tags": "string",
        "in.mixed": "string",
        "out": "string",
        "p.no": "double",
        "p.yes": "double",
    }
    assert table.column("in.age").to_pylist() == [40.0, 41.0, 42.0, 43.0, 44.0, 45.0]
    assert table.column("in.vip").to_pylist() == [True, False] * 3
    assert table.column("in.tags").to_pylist()[1] == "[1,2]"
    assert table.column("in.mixed").to_pylist()[:2] == ['"n/a"', "1"]
    assert table.column("out").to_pylist()[:2] == ["no", "yes"]
    assert table.column("p.yes").to_pylist() == [0.75] * 6
    assert table.column("event_at").equals(table.column("at"))  # no event time: at
    asked = read_log(store, model="churn", features=["score", "never", "nope"])
    assert [n for n in asked.column_names if n.startswith("in.")] == [
        "in.score",
        "in.never",
        "in.nope",
    ]
    assert asked.column("in.nope").null_count == 6


def test_old_files_and_new_files_read_together(tmp_path: Path) -> None:
    store = tmp_path / "store"
    old = store / "model=churn" / "date=2023-11-14" / "part-old.parquet"
    old.parent.mkdir(parents=True)
    old_schema = pa.schema(
        [
            ("prediction_id", pa.string()),
            ("model", pa.string()),
            ("version", pa.int64()),
            ("route", pa.string()),
            ("at", pa.timestamp("ms", tz="UTC")),
            ("latency_ms", pa.float64()),
            ("inputs", pa.string()),
            ("output", pa.string()),
            ("proba", pa.string()),
            ("request_key", pa.string()),
            ("error", pa.string()),
        ]
    )
    rows = {
        "prediction_id": ["a" * 32, "b" * 32],
        "model": ["churn"] * 2,
        "version": [2, 2],
        "route": ["champion"] * 2,
        "at": [T0 - 10, T0 - 5],
        "latency_ms": [1.0, 2.0],
        "inputs": ['{"age":30,"plan":"free"}', '{"age":31,"plan":"pro"}'],
        "output": ['"no"', '"yes"'],
        "proba": ['{"no":0.9,"yes":0.1}', None],
        "request_key": [None, None],
        "error": [None, None],
    }
    pq.write_table(pa.table(rows).cast(old_schema), old)
    spool = tmp_path / "spool"
    plog = PredictionLog(spool)
    plog.append_many(rec(i, {"age": 50 + i, "plan": "pro"}) for i in range(3))
    plog.close()
    compact(spool, str(store))
    legacy = read_predictions(str(store))
    assert legacy.num_rows == 5
    assert legacy.column("event_at").null_count == 0
    assert inputs_frame(legacy)["age"].tolist() == [30, 31, 50, 51, 52]
    table = read_log(str(store), model="churn")
    assert table.column("prediction_id").to_pylist()[:2] == ["a" * 32, "b" * 32]
    assert table.column("in.age").to_pylist() == [30.0, 31.0, 50.0, 51.0, 52.0]
    assert table.column("in.plan").to_pylist() == ["free", "pro", "pro", "pro", "pro"]
    assert table.column("p.no").to_pylist()[:3] == [0.9, None, 0.25]
    assert read_log(str(store), model="churn", versions=[2]).num_rows == 2


def test_a_new_column_or_type_mid_segment_starts_another_file_and_compacting_twice_is_idempotent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compaction, "CHUNK_LINES", 10)
    records = [rec(i, {"x": i}) for i in range(10)]
    records += [rec(i, {"x": i, "y": 1.0}) for i in range(10, 20)]  # a new column
    records += [rec(i, {"x": f"t{i}"}) for i in range(20, 30)]  # x becomes text
    records += [rec(i, {"x": i}) for i in range(30, 40)]  # fits the first... of the last file
    spool, store = tmp_path / "spool", tmp_path / "store"
    plog = PredictionLog(spool)
    plog.append_many(records)
    plog.close()
    (segment,) = spool.glob("seg-*")
    shutil.copy(segment, tmp_path / "copy")
    assert compact(spool, str(store)) == 40
    files = sorted(p.name for p in store.rglob("*.parquet"))
    assert len(files) == 4 and [f.count("-") for f in files].count(1) == 1  # part-<u>, -1 ...
    first = read_log(str(store), model="churn")
    shutil.copy(tmp_path / "copy", segment)  # a crash before the segment was deleted
    assert compact(spool, str(store)) == 40
    assert sorted(p.name for p in store.rglob("*.parquet")) == files
    again = read_log(str(store), model="churn")
    assert again.equals(first)
    assert again.num_rows == 40
    assert again.column("in.x").type == pa.string()  # float64 in some files, text in one
    assert again.column("in.x").to_pylist()[19:22] == ["19.0", "t20", "t21"]
    assert again.column("in.y").to_pylist()[9:11] == [None, 1.0]


def test_spool_rows_are_included_once(tmp_path: Path) -> None:
    root, store = tmp_path / "spool", str(tmp_path / "store")
    done = PredictionLog(root / "churn-1")
    done.append_many(rec(i, {"x": i}) for i in range(5))
    done.close()
    (sealed,) = (root / "churn-1").glob("seg-*")
    shutil.copy(sealed, tmp_path / "copy")
    compact(root / "churn-1", store)
    shutil.copy(tmp_path / "copy", sealed)  # compacted and still in the spool: seen twice
    live = PredictionLog(root / "churn-2")
    live.append_many(rec(i, {"x": i}) for i in range(5, 8))
    live.append(rec(100, {"x": 1}, model="fraud"))
    live.flush()  # an .open segment, still held by its writer
    assert [p.name.endswith(".open") for p in (root / "churn-2").glob("seg-*")] == [True]
    with (root / "churn-2").glob("seg-*").__next__().open("ab") as torn:
        torn.write(b'{"prediction_id": "tor')  # a line being written: not whole yet
    table = read_log(store, model="churn", spool_dirs=[root])
    assert table.column("prediction_id").to_pylist() == [f"{i:032x}" for i in range(8)]
    assert read_log(store, model="churn").num_rows == 5
    assert read_log(store, model="fraud", spool_dirs=[root]).num_rows == 1
    live.close()


def test_event_time_partitions_filters_and_prunes(tmp_path: Path) -> None:
    records = [
        rec(i, {"x": i}, event_at=T0 + (i % 3) * DAY_MS, caller_id=f"c{i}") for i in range(9)
    ]
    store = spool_and_compact(tmp_path, records)
    days = sorted(p.parent.name for p in Path(store).rglob("*.parquet"))
    assert days == ["date=2023-11-14", "date=2023-11-15", "date=2023-11-16"]
    window = read_log(store, model="churn", since=T0 + DAY_MS, until=T0 + 2 * DAY_MS)
    assert window.column("caller_id").to_pylist() == ["c1", "c4", "c7"]
    assert read_log(store, model="churn", since=T0 + DAY_MS).num_rows == 6
    # a broken file in a day outside the window is never opened: the folder is pruned
    broken = Path(store) / "model=churn" / "date=2023-11-14" / "part-broken.parquet"
    broken.write_bytes(b"not parquet")
    assert read_log(store, model="churn", since=T0 + DAY_MS).num_rows == 6
    with pytest.raises(StoreError, match="Could not read the log store"):
        read_log(store, model="churn")


def test_route_and_version_filters_and_bad_arguments(tmp_path: Path) -> None:
    records = [
        rec(i, {"x": i}, route=["champion", "canary", "shadow"][i % 3], version=1 + i % 2)
        for i in range(12)
    ]
    store = spool_and_compact(tmp_path, records)
    assert read_log(store, model="churn", routes=["shadow"]).num_rows == 4
    assert read_log(store, model="churn", versions=[2], routes=["champion"]).num_rows == 2
    assert read_log(store, model="other").num_rows == 0
    with pytest.raises(InvalidArgumentError, match="Did you mean 'canary'"):
        read_log(store, model="churn", routes=["canry"])
    with pytest.raises(InvalidArgumentError, match="'since' must not be after 'until'"):
        read_log(store, model="churn", since=2, until=1)
    with pytest.raises(InvalidArgumentError, match="version numbers"):
        read_log(store, model="churn", versions=["2"])  # type: ignore[list-item]


def test_write_records_gives_the_layout_of_compaction(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    records = [
        rec(i, {"x": i}, route="external", latency_ms=None, event_at=T0 - DAY_MS, caller_id=f"r{i}")
        for i in range(4)
    ]
    assert write_records(store, records) == 4
    assert write_records(store, []) == 0
    (path,) = Path(store).rglob("*.parquet")
    assert path.parent.name == "date=2023-11-13"
    table = read_log(store, model="churn", routes=["external"])
    assert table.column("latency_ms").null_count == 4
    assert table.column("caller_id").to_pylist() == ["r0", "r1", "r2", "r3"]
    assert read_predictions(store).column("latency_ms").null_count == 4


def test_read_log_on_a_remote_store_through_fsspec(tmp_path: Path) -> None:
    url = "memory://loopml-test-log-table"
    write_records(url, [rec(i, {"x": i}, event_at=T0 + i * DAY_MS) for i in range(3)])
    assert read_log(url, model="churn").column("in.x").to_pylist() == [0.0, 1.0, 2.0]
    assert read_log(url, model="churn", since=T0 + DAY_MS).num_rows == 2
