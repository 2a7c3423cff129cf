"""A large request is worked off the event loop: its rows are checked, its answer and its
log records built in worker threads (a small request's stay inline), and its log records are
all written. (Measured on a real server, see benchmarks/serving_large_batch.py.)"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from loopml.core.settings import resolve_settings
from loopml.registry import ModelRegistry
from loopml.serving import InferenceService, ServeConfig, server_log
from loopml.serving import service as service_module
from loopml.serving.large import OFFLOAD_ROWS, row_count
from loopml.store.backend import open_backend
from loopml.store.logs import read_predictions

ROWS = 100_000


def test_row_count_of_every_shape() -> None:
    assert row_count([{"a": 1}, {"a": 2}]) == 2
    assert row_count({"a": [1, 2, 3], "b": [4, 5, 6]}) == 3
    assert row_count({"a": 1, "b": 2}) == 1
    assert row_count(pd.DataFrame({"a": range(7)})) == 7
    assert row_count(None) == 0
    assert OFFLOAD_ROWS < ROWS


def test_a_large_request_is_worked_off_the_event_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :5]
    settings = resolve_settings({"home": tmp_path / ".loopml", "capture_env": False}, cwd=tmp_path)
    registry = ModelRegistry(open_backend(settings))
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    version = registry.register(model, "cancer", input_example=X.head())
    config = ServeConfig(
        model=version.ref,
        poll_interval_s=0,
        spool_dir=tmp_path / "spool",
        logs_url=str(tmp_path / "logs"),
        compact_interval_s=0,
    )
    service = InferenceService(registry.backend, config)
    served = service.slots["champion"].current
    where: dict[str, set[str]] = {"prepare": set(), "answer": set(), "log": set()}

    def spy(kind: str, call: Any) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if kind != "log" or len(args[0].ids) == ROWS:  # the large request's records
                where[kind].add(threading.current_thread().name)
            return call(*args, **kwargs)

        return wrapped

    monkeypatch.setattr(served.model, "prepare", spy("prepare", served.model.prepare))
    monkeypatch.setattr(service_module, "result_of", spy("answer", service_module.result_of))
    monkeypatch.setattr(server_log, "log_records", spy("log", server_log.log_records))
    records = X.sample(n=ROWS, replace=True, random_state=0).to_dict(orient="records")

    async def main() -> Any:
        loop_thread = threading.current_thread().name
        try:
            small = await service.predict(records[:10])
            await asyncio.gather(*service._shadow_tasks)
            assert where["prepare"] == where["answer"] == {loop_thread}  # small: inline
            for names in where.values():
                names.clear()
            large = await service.predict(records)
            await asyncio.gather(*service._shadow_tasks)  # its log records, in a thread
            assert all(names and loop_thread not in names for names in where.values()), where
            return small.ids + large.ids
        finally:
            await service.stop()  # flushes and compacts

    ids = asyncio.run(main())
    assert len(ids) == ROWS + 10
    logged = read_predictions(str(tmp_path / "logs")).column("prediction_id").to_pylist()
    assert sorted(logged) == sorted(ids)


def test_batch_scoring_chunks_larger_than_the_log_queue_are_logged_whole(
    tmp_path: Path,
) -> None:
    """``loopml predict --batch-size 150000``: each chunk used to lose what did not fit in
    the log's queue of 100,000 records."""
    from loopml.serving.batch import score_file

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :5]
    settings = resolve_settings({"home": tmp_path / ".loopml", "capture_env": False}, cwd=tmp_path)
    registry = ModelRegistry(open_backend(settings))
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    version = registry.register(model, "cancer", input_example=X.head())
    source = tmp_path / "rows.parquet"
    X.sample(n=150_000, replace=True, random_state=0).to_parquet(source, index=False)
    spool = tmp_path / "spool" / "batch"
    logs = str(tmp_path / "logs")
    done = score_file(
        registry,
        version.ref,
        source,
        tmp_path / "out.parquet",
        batch_size=150_000,
        spool_dir=spool,
        logs_url=logs,
    )
    assert done == 150_000
    assert read_predictions(logs).num_rows == 150_000
    assert not spool.exists()  # compacted, then removed


def test_log_records_of_a_whole_frame_match_those_of_its_slices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request that fits one chunk is read without slicing; its records are the ones the
    sliced chunks give."""
    from loopml.serving import large
    from loopml.serving.caller_rows import CallerRows
    from loopml.serving.result import PredictionResult

    frame = pd.DataFrame(
        {
            "n": [1, 2, 3, 4, 5],
            "x": [0.5, float("nan"), 1.5, 2.0, -1.0],
            "city": pd.array(["a", None, "c", "d", "e"], dtype="str"),
            "ok": [True, False, True, True, False],
            "at": pd.to_datetime(["2024-01-05"] * 5, utc=True),
        }
    )
    result = PredictionResult(
        ids=tuple(f"id{i}" for i in range(5)),
        predictions=[0, 1, 0, 1, 1],
        proba=None,
        model="m",
        version=1,
        route="champion",
        latency_ms=1.0,
        caller=CallerRows(event_at=[10, 20, 30, 40, 50], ids=list("abcde")),
    )
    monkeypatch.setattr(large.time, "time", lambda: 1_700_000_000.0)
    whole = large.log_records(result, frame, "k")
    monkeypatch.setattr(large, "LOG_CHUNK", 2)
    sliced = [r for start in (0, 2, 4) for r in large.log_records(result, frame, "k", start)]
    assert whole == sliced
    assert whole[1].inputs == {
        "n": 2,
        "x": None,
        "city": None,
        "ok": False,
        "at": whole[0].inputs["at"],
    }
    assert whole[0].inputs["at"] == "2024-01-05T00:00:00+00:00"
    assert [r.caller_id for r in whole] == list("abcde") and whole[4].event_at == 50
