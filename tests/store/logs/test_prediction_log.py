"""The prediction log: spool durability, crash and close semantics, compaction, reading."""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import warnings
from pathlib import Path

import orjson
import pytest

import loopml.store.logs as logs_pkg
from loopml.core.errors import InvalidArgumentError
from loopml.store.logs import (
    PredictionLog,
    PredictionRecord,
    compact,
    compact_spool,
    inputs_frame,
    read_predictions,
)

DAY_MS = 86_400_000
T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z


def rec(i: int, *, model: str = "churn", at: int = T0, route: str = "champion") -> PredictionRecord:
    return PredictionRecord(
        prediction_id=f"{i:032x}",
        model=model,
        version=3,
        route=route,
        at=at,
        latency_ms=1.25,
        inputs={"age": 40 + i % 7, "plan": "pro", "score": i / 10},
        output=i % 2,
        proba={"0": 0.25, "1": 0.75},
        request_key=f"req-{i}",
    )


def segments(spool: Path, suffix: str = "") -> list[Path]:
    return sorted(p for p in spool.glob("seg-*") if p.name.endswith(suffix))


def ids(table) -> list[str]:  # type: ignore[no-untyped-def]
    return table.column("prediction_id").to_pylist()


def test_public_api_is_sorted_and_complete() -> None:
    def ruff_order(name: str) -> tuple[int, str]:  # RUF022: CONSTANTS, Classes, functions
        return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)

    assert logs_pkg.__all__ == sorted(logs_pkg.__all__, key=ruff_order)
    for name in logs_pkg.__all__:
        assert getattr(logs_pkg, name) is not None


def test_record_round_trips_through_json() -> None:
    r = rec(7)
    assert PredictionRecord.from_dict(orjson.loads(orjson.dumps(r.to_dict()))) == r


def test_record_rejects_bad_route_and_bad_dicts() -> None:
    with pytest.raises(InvalidArgumentError, match="Did you mean 'canary'"):
        rec(1, route="canry")
    with pytest.raises(InvalidArgumentError, match=r"\['at'\] are missing"):
        PredictionRecord.from_dict({k: v for k, v in rec(1).to_dict().items() if k != "at"})


def test_parameters_are_validated(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="'max_pending' parameter"):
        PredictionLog(tmp_path, max_pending=0)
    with pytest.raises(InvalidArgumentError, match="'flush_interval' parameter"):
        PredictionLog(tmp_path, flush_interval=0)


def test_flush_makes_every_appended_record_durable(tmp_path: Path) -> None:
    plog = PredictionLog(tmp_path / "spool", flush_interval=30)
    assert plog.append_many(rec(i) for i in range(1000)) == 1000
    plog.flush()
    (segment,) = segments(tmp_path / "spool", ".jsonl.open")
    lines = segment.read_bytes().splitlines()
    assert [orjson.loads(line)["prediction_id"] for line in lines] == [
        f"{i:032x}" for i in range(1000)
    ]
    assert PredictionRecord.from_dict(orjson.loads(lines[3])) == rec(3)
    assert plog.stats() | {"bytes": 0} == {
        "appended": 1000,
        "written": 1000,
        "dropped": 0,
        "rejected": 0,
        "pending": 0,
        "segments": 1,
        "bytes": 0,
    }
    plog.close()
    plog.close()  # idempotent
    assert segments(tmp_path / "spool") == [segment.with_name(segment.name[: -len(".open")])]
    assert plog.append(rec(5000)) is False  # after close: refused and counted
    assert plog.stats()["dropped"] == 1


def test_segments_rotate_at_segment_bytes(tmp_path: Path) -> None:
    plog = PredictionLog(tmp_path, segment_bytes=50_000)
    plog.append_many(rec(i) for i in range(10_000))
    plog.close()
    assert plog.stats()["segments"] > 1
    assert len(segments(tmp_path, ".jsonl")) == plog.stats()["segments"]
    assert compact(tmp_path, str(tmp_path / "store")) == 10_000


CRASH_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from loopml.store.logs import PredictionLog, PredictionRecord

    plog = PredictionLog(Path(sys.argv[1]), flush_interval=0.2)
    def rec(i):
        return PredictionRecord(prediction_id=f"{i:032x}", model="churn", version=1,
            route="champion", at=1_700_000_000_000 + i, latency_ms=0.5,
            inputs={"x": i}, output=i)
    for i in range(5_000):
        plog.append(rec(i))
    deadline = time.monotonic() + 60  # the writer's own pace (0.2 s) writes them
    while plog.stats()["written"] < 5_000 and time.monotonic() < deadline:
        time.sleep(0.01)
    for i in range(5_000, 5_100):  # appended just before the crash: may be lost
        plog.append(rec(i))
    os._exit(0)
    """
)


def test_crash_loses_at_most_the_last_interval(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    subprocess.run([sys.executable, "-c", CRASH_SCRIPT, str(spool)], check=True, timeout=60)
    assert segments(spool, ".jsonl.open")  # never sealed: the writer died
    store = str(tmp_path / "store")
    report = compact_spool(spool, store)
    assert report.busy_segments == 0 and report.segments == 1
    got = ids(read_predictions(store))
    assert len(got) == len(set(got))
    assert {f"{i:032x}" for i in range(5_000)} <= set(got)
    assert segments(spool) == []


def test_graceful_close_loses_nothing(tmp_path: Path) -> None:
    plog = PredictionLog(tmp_path / "spool", max_pending=1_000_000)

    def worker(base: int) -> None:
        for i in range(base, base + 25_000):
            plog.append(rec(i, at=T0 + i))

    threads = [threading.Thread(target=worker, args=(k * 25_000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    plog.close()
    assert plog.stats()["written"] == 100_000 and plog.stats()["dropped"] == 0
    store = str(tmp_path / "store")
    assert compact(tmp_path / "spool", store) == 100_000
    got = ids(read_predictions(store, columns=["prediction_id"]))
    assert len(got) == 100_000 == len(set(got))


def test_full_queue_drops_are_counted_and_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    plog = PredictionLog(tmp_path, max_pending=10, flush_interval=0.05)
    release = threading.Event()
    write = plog._write_batch

    def blocked(batch: list[PredictionRecord]) -> None:
        release.wait(10)
        write(batch)

    monkeypatch.setattr(plog, "_write_batch", blocked)
    with caplog.at_level(logging.WARNING, logger="loopml.store.logs.spool"):
        accepted = sum(plog.append(rec(i)) for i in range(500))
        accepted += plog.append_many(rec(i) for i in range(500, 600))
    stats = plog.stats()
    assert stats["dropped"] == 600 - accepted > 0
    assert stats["pending"] <= 2 * 10  # the queue plus the batch stuck in the writer
    drops = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(drops) == 1  # at most one warning per 10 s
    assert "max_pending=10" in drops[0].getMessage()
    release.set()
    plog.close()
    assert plog.stats()["written"] == accepted


def test_torn_last_line_is_skipped_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    lines = b"".join(orjson.dumps(rec(i)) + b"\n" for i in range(10))
    torn = orjson.dumps(rec(10))[:37]
    (spool / "seg-0000000000001-1-abcdef01-000000.jsonl.open").write_bytes(lines + torn)
    with caplog.at_level(logging.WARNING, logger="loopml.store.logs.compaction"):
        report = compact_spool(spool, str(tmp_path / "store"))
    assert (report.rows, report.skipped_lines, report.segments) == (10, 1, 1)
    assert "skipped 1 line" in caplog.text
    assert len(read_predictions(str(tmp_path / "store"))) == 10


def test_a_segment_is_compacted_chunk_by_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compaction reads a segment a chunk of lines at a time (its memory follows the chunk,
    not the segment): the files are the same, one per model and day, row groups per chunk."""
    import pyarrow.parquet as pq

    from loopml.store.logs import compaction

    monkeypatch.setattr(compaction, "CHUNK_LINES", 7)
    spool, store = tmp_path / "spool", tmp_path / "store"
    spool.mkdir()
    records = [rec(i, model="ab"[i % 2], at=T0 + (i // 25) * DAY_MS) for i in range(50)]
    torn = orjson.dumps(rec(50))[:20]
    lines = b"".join(orjson.dumps(r) + b"\n" for r in records)
    (spool / "seg-0000000000001-1-abcdef01-000000.jsonl").write_bytes(lines + torn)
    report = compact_spool(spool, str(store))
    assert (report.rows, report.files, report.skipped_lines) == (50, 4, 1)
    assert sorted(ids(read_predictions(str(store)))) == sorted(r.prediction_id for r in records)
    files = sorted(store.rglob("*.parquet"))
    assert len(files) == 4 and all(pq.ParquetFile(f).metadata.num_row_groups > 1 for f in files)


def test_compaction_is_idempotent_even_after_a_crash_before_delete(tmp_path: Path) -> None:
    spool, store = tmp_path / "spool", str(tmp_path / "store")
    plog = PredictionLog(spool)
    plog.append_many(
        rec(i, model=m, at=T0 + d * DAY_MS) for i in range(300) for m, d in [("a", i % 2)]
    )
    plog.close()
    (segment,) = segments(spool)
    kept = tmp_path / "copy"
    shutil.copy(segment, kept)
    assert compact(spool, store) == 300
    first = read_predictions(store)
    assert compact(spool, store) == 0  # nothing left
    shutil.copy(kept, segment)  # as if the crash came before the segment was deleted
    assert compact(spool, store) == 300
    again = read_predictions(store)
    assert again.equals(first)
    assert len(set(ids(again))) == 300


def test_live_segments_are_left_to_their_writer(tmp_path: Path) -> None:
    plog = PredictionLog(tmp_path / "spool")
    plog.append(rec(1))
    plog.flush()
    report = compact_spool(tmp_path / "spool", str(tmp_path / "store"))
    assert (report.rows, report.busy_segments) == (0, 1)
    plog.close()
    assert compact(tmp_path / "spool", str(tmp_path / "store"), older_than_s=3600) == 0
    assert compact(tmp_path / "spool", str(tmp_path / "store")) == 1


def test_partitions_by_model_and_date_and_filters(tmp_path: Path) -> None:
    spool, store = tmp_path / "spool", tmp_path / "store"
    plog = PredictionLog(spool)
    n = 0
    for model in ("churn", "fraud"):
        for day in (0, 1):
            plog.append_many(rec(n + i, model=model, at=T0 + day * DAY_MS + i) for i in range(25))
            n += 25
    plog.close()
    assert compact(spool, str(store)) == 100
    parts = sorted(str(p.parent.relative_to(store)) for p in store.rglob("*.parquet"))
    assert parts == [
        "model=churn/date=2023-11-14",
        "model=churn/date=2023-11-15",
        "model=fraud/date=2023-11-14",
        "model=fraud/date=2023-11-15",
    ]
    fraud = read_predictions(str(store), model="fraud")
    assert fraud.num_rows == 50 and set(fraud.column("model").to_pylist()) == {"fraud"}
    assert fraud.schema.field("at").type.unit == "ms"
    day2 = read_predictions(str(store), model="churn", since=T0 + DAY_MS)
    assert day2.num_rows == 25
    first10 = read_predictions(str(store), model="churn", since=T0, until=T0 + 10)
    assert first10.num_rows == 10
    assert read_predictions(str(store), model="nope").num_rows == 0
    assert read_predictions(str(tmp_path / "empty")).num_rows == 0
    with pytest.raises(InvalidArgumentError, match="Did you mean 'inputs'"):
        read_predictions(str(store), columns=["input"])


def test_inputs_frame_expands_the_json(tmp_path: Path) -> None:
    plog = PredictionLog(tmp_path / "spool")
    plog.append_many(rec(i) for i in range(5))
    plog.close()
    compact(tmp_path / "spool", str(tmp_path / "store"))
    table = read_predictions(str(tmp_path / "store"))
    frame = inputs_frame(table)
    assert list(frame.columns) == ["age", "plan", "score"]
    assert frame["score"].tolist() == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert orjson.loads(table.column("proba")[0].as_py()) == {"0": 0.25, "1": 0.75}


def test_remote_log_store_through_fsspec(tmp_path: Path) -> None:
    plog = PredictionLog(tmp_path / "spool")
    plog.append_many(rec(i, model=("a" if i % 2 else "b")) for i in range(20))
    plog.close()
    url = "memory://loopml-test-logs"
    assert compact(tmp_path / "spool", url) == 20
    assert read_predictions(url, model="a").num_rows == 10


def _child(spool: str) -> None:
    from loopml.store.logs.spool import _logs

    # the parent's log, inherited by the fork (other tests' logs may still be alive too)
    (plog,) = [log for log in list(_logs) if str(log.spool_dir) == spool]
    assert plog.stats()["pending"] == 0  # the parent's queue is not ours
    for i in range(1000, 1100):
        plog.append(rec(i))
    plog.close()


def test_fork_child_gets_its_own_writer(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    plog = PredictionLog(spool, flush_interval=60)
    plog.append_many(rec(i) for i in range(100))  # still queued at the fork
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        proc = multiprocessing.get_context("fork").Process(target=_child, args=(str(spool),))
        proc.start()
        proc.join(30)
    assert proc.exitcode == 0
    plog.append_many(rec(i) for i in range(100, 200))
    plog.close()
    assert compact(spool, str(tmp_path / "store")) == 300
    got = ids(read_predictions(str(tmp_path / "store")))
    assert sorted(got) == sorted(f"{i:032x}" for i in [*range(200), *range(1000, 1100)])
    assert os.getpid() == plog._pid


def test_compact_stays_the_function_after_its_module_is_imported() -> None:
    import loopml.store.logs as logs
    import loopml.store.logs.compaction  # noqa: F401 - the submodule, imported on purpose

    assert callable(logs.compact) and logs.compact.__module__ == "loopml.store.logs.compaction"
