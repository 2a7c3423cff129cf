"""Batch scoring with each row's event time and id taken from columns of the file: read and
checked whole, then logged with each row (read back from a real spool)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd
import pytest

from loopml.core.errors import InvalidArgumentError
from loopml.serving.batch import _caller_columns, _journal, _rows_of
from loopml.serving.caller_rows import CallerRows
from loopml.store.logs import PredictionLog, PredictionRecord

JAN_5 = 1_704_412_800_000  # 2024-01-05T00:00:00Z


def test_time_and_id_columns_of_parquet_and_csv(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "x": [1.0, 2.0, 3.0],
            "at": pd.to_datetime(["2024-01-05 00:00", "2024-01-05 01:00", "2024-01-05 02:00"]),
            "ms": [JAN_5, JAN_5 + 1, JAN_5 + 2],
            "order": ["a", "b", "c"],
        }
    )
    parquet, csv = tmp_path / "rows.parquet", tmp_path / "rows.csv"
    frame.to_parquet(parquet)
    frame.to_csv(csv, index=False)
    hours = [JAN_5, JAN_5 + 3_600_000, JAN_5 + 7_200_000]
    for source in (parquet, csv):
        got = _caller_columns(source, "at", "order")
        assert got == CallerRows(event_at=hours, ids=["a", "b", "c"]), source
        by_ms = _caller_columns(source, "ms", "ms")
        ms = [JAN_5, JAN_5 + 1, JAN_5 + 2]
        assert by_ms == CallerRows(event_at=ms, ids=[str(v) for v in ms]), source
    assert _caller_columns(parquet, None, None) is None
    with pytest.raises(InvalidArgumentError, match=r"ids\[0\] is 1.0 \(a float\)"):
        _caller_columns(parquet, None, "x")  # in Parquet a float column holds no ids
    with pytest.raises(InvalidArgumentError, match=r"has no column 'ordr'.*Did you mean 'order'"):
        _caller_columns(parquet, None, "ordr")
    frame.assign(order=["a", "b", "a"]).to_parquet(parquet)
    with pytest.raises(InvalidArgumentError, match=r"column 'order' of .*ids\[2\] is 'a'"):
        _caller_columns(parquet, "at", "order")


def test_each_chunk_logs_its_rows_times_and_ids(tmp_path: Path) -> None:
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    from loopml.core.settings import resolve_settings
    from loopml.registry import ModelRegistry
    from loopml.serving.batch import _score
    from loopml.store.backend import open_backend

    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :3]
    settings = resolve_settings({"home": tmp_path / ".loopml", "capture_env": False}, cwd=tmp_path)
    registry = ModelRegistry(open_backend(settings))
    version = registry.register(LogisticRegression().fit(X, y), "cancer", input_example=X.head())
    loaded = registry.load(version.ref)
    caller = CallerRows(event_at=[JAN_5 + i for i in range(6)], ids=[f"r{i}" for i in range(6)])
    log = PredictionLog(tmp_path / "spool")
    for start in (0, 3):
        _journal(
            log,
            loaded,
            _score(loaded, X.iloc[start : start + 3]),
            _rows_of(caller, start, start + 3),
        )
    _journal(log, loaded, _score(loaded, X.head(2)), _rows_of(None, 0, 2))
    log.close()
    records = [
        PredictionRecord.from_dict(orjson.loads(line))
        for segment in sorted((tmp_path / "spool").glob("seg-*.jsonl"))
        for line in segment.read_bytes().splitlines()
    ]
    assert [(r.event_at, r.caller_id) for r in records] == [
        *((JAN_5 + i, f"r{i}") for i in range(6)),
        (None, None),
        (None, None),
    ]
