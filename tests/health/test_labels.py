"""Delayed labels (LabelService.log_labels): late labels matched through the spool, duplicates
(last wins), unknown ids kept and counted, labels of the wrong type refused and counted,
event times; on SQLite and PostgreSQL, with real models trained on real data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression

from loopml.core.entities import LabelSummary
from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.core.settings import Settings
from loopml.health.labels import LabelService
from loopml.registry import ModelRegistry
from loopml.store.backend import Backend, open_backend
from loopml.store.logs import PredictionLog, PredictionRecord, compact

NOW = 1_800_000_000_000


@pytest.fixture
def backend(settings: Settings) -> Iterator[Backend]:
    yield open_backend(settings)


@pytest.fixture
def registry(backend: Backend) -> ModelRegistry:
    return ModelRegistry(backend)


def binary(registry: ModelRegistry) -> str:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :4]
    model = LogisticRegression(max_iter=500).fit(X, y)
    version = registry.register(model, "cancer", input_example=X.head())
    registry.approve(version.ref, comment="ok")
    registry.set_alias("cancer", "champion", version.version)
    return version.ref


def service(backend: Backend, root: Path) -> LabelService:
    return LabelService(
        backend, logs_url=str(root / "logs"), spool_root=root / "spool", clock=lambda: NOW
    )


def log_rows(spool: Path, model: str, ids: list[str], *, caller: bool = False) -> None:
    plog = PredictionLog(spool, flush_interval=0.05)
    for i in ids:
        plog.append(
            PredictionRecord(
                prediction_id=f"p-{i}" if caller else i,
                model=model,
                version=1,
                route="champion",
                at=NOW - 1000,
                latency_ms=1.0,
                inputs={"x": 1},
                output=0,
                caller_id=i if caller else None,
            )
        )
    plog.close()


def stored(backend: Backend, model: str = "cancer") -> dict[str, object]:
    table = backend.labels.get_labels(model)
    return dict(
        zip(
            table.column("row_id").to_pylist(),
            [orjson.loads(t) for t in table.column("label_json").to_pylist()],
            strict=True,
        )
    )


def test_late_labels_match_rows_in_the_spool_and_in_the_log_store(
    backend: Backend, registry: ModelRegistry, tmp_path: Path
) -> None:
    binary(registry)
    log_rows(tmp_path / "spool" / "old", "cancer", ["a", "b"])
    compact(tmp_path / "spool" / "old", str(tmp_path / "logs"))
    log_rows(tmp_path / "spool" / "live", "cancer", ["c", "d"], caller=True)  # not compacted
    summary = service(backend, tmp_path).log_labels(
        "cancer@champion", ["a", "c", "d", "zz"], [1, 0, 1, 0]
    )
    assert summary == LabelSummary(
        model="cancer@1",
        received=4,
        stored=4,
        matched=3,
        unknown=1,
        duplicates=0,
        bad_type=0,
        examples=summary.examples,
    )
    assert any("'zz' matches no logged prediction" in e for e in summary.examples)
    assert stored(backend) == {"a": 1, "c": 0, "d": 1, "zz": 0}  # the unknown id is kept
    # once its prediction is logged, the same label matches
    log_rows(tmp_path / "spool" / "live2", "cancer", ["zz"])
    again = service(backend, tmp_path).log_labels("cancer", ["zz"], [0])
    assert (again.matched, again.unknown, again.duplicates) == (1, 0, 1)
    assert LabelSummary.from_dict(orjson.loads(orjson.dumps(again.to_dict()))) == again


def test_duplicates_last_label_wins_within_a_call_and_against_stored(
    backend: Backend, registry: ModelRegistry, tmp_path: Path
) -> None:
    binary(registry)
    labels = service(backend, tmp_path)
    first = labels.log_labels("cancer@1", ["a", "b", "a", "a"], [0, 0, 1, 0])
    assert (first.received, first.stored, first.duplicates, first.unknown) == (4, 2, 2, 2)
    assert stored(backend) == {"a": 0, "b": 0}
    second = labels.log_labels("cancer@1", ["b", "c"], [1, 1])
    assert (second.stored, second.duplicates) == (2, 1)
    assert stored(backend) == {"a": 0, "b": 1, "c": 1}


def test_labels_of_the_wrong_type_are_refused_and_counted(
    backend: Backend, registry: ModelRegistry, tmp_path: Path
) -> None:
    binary(registry)
    labels = service(backend, tmp_path)
    summary = labels.log_labels(
        "cancer", ["a", "b", "c", "d", "e", "f"], [1, "1", 2, None, True, 1.0]
    )
    assert (summary.received, summary.stored, summary.bad_type) == (6, 2, 4)
    assert stored(backend) == {"a": 1, "f": 1}  # 1.0 is the class 1, stored as the class
    assert any(
        "'1' at position 1 (id 'b') is not one of the classes of cancer@1 (0, 1)" in e
        and "Give the class itself (1), not its text form" in e
        for e in summary.examples
    )
    assert any("position 3 (id 'd') is missing" in e for e in summary.examples)
    # a typed array goes through the vectorized path with the same verdicts
    typed = labels.log_labels("cancer", np.array(["x", "y"]), np.array(["0", "1"]))
    assert (typed.stored, typed.bad_type) == (0, 2)
    floats = labels.log_labels("cancer", pd.Series(["g", "h"]), pd.Series([0.0, 0.5]))
    assert (floats.stored, floats.bad_type) == (1, 1)
    assert stored(backend)["g"] == 0


def test_text_classes_and_a_regressor(
    backend: Backend, registry: ModelRegistry, tmp_path: Path
) -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    iris = registry.register(
        LogisticRegression(max_iter=500).fit(X, names), "iris", input_example=X.head()
    )
    labels = service(backend, tmp_path)
    summary = labels.log_labels(iris.ref, ["a", "b", "c"], ["virginica", "Virginica", 2])
    assert (summary.stored, summary.bad_type) == (1, 2)
    assert stored(backend, "iris") == {"a": "virginica"}

    Xd, yd = load_diabetes(return_X_y=True, as_frame=True)
    reg = registry.register(LinearRegression().fit(Xd, yd), "diabetes", input_example=Xd.head())
    summary = labels.log_labels(reg.ref, ["a", "b", "c", "d"], [151.0, float("inf"), 0.1 + 0.2, 75])
    assert (summary.stored, summary.bad_type) == (3, 1)
    assert stored(backend, "diabetes") == {"a": 151.0, "c": 0.1 + 0.2, "d": 75}
    mixed = labels.log_labels(reg.ref, ["e", "f"], [3, "3"])  # mixed types: one by one
    assert (mixed.stored, mixed.bad_type) == (1, 1)
    assert any("is not a finite number" in e for e in mixed.examples)


def test_event_times_are_stored(backend: Backend, registry: ModelRegistry, tmp_path: Path) -> None:
    binary(registry)
    labels = service(backend, tmp_path)
    when = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    labels.log_labels(
        "cancer",
        ["a", "b", "c", "d"],
        [0, 1, 0, 1],
        timestamps=[when, "2026-03-01T12:00:00Z", 1_772_366_400_000, None],
    )
    table = backend.labels.get_labels("cancer").to_pydict()
    ms = int(when.timestamp() * 1000)
    assert table["event_at"] == [ms, ms, ms, None]
    assert table["received_at"] == [NOW] * 4


def test_bad_arguments_are_refused_whole(
    backend: Backend, registry: ModelRegistry, tmp_path: Path
) -> None:
    binary(registry)
    labels = service(backend, tmp_path)
    with pytest.raises(InvalidArgumentError, match="one label .* per id; got 2 ids, 1 labels"):
        labels.log_labels("cancer", ["a", "b"], [1])
    with pytest.raises(InvalidArgumentError, match="got 1 ids, 1 labels, 2 timestamps"):
        labels.log_labels("cancer", ["a"], [1], timestamps=[1, 2])
    with pytest.raises(
        InvalidArgumentError, match=r"1 row id\(s\) are missing \(the first at position 1\)"
    ):
        labels.log_labels("cancer", ["a", None], [1, 0])
    with pytest.raises(InvalidArgumentError, match="Row ids must be strings"):
        labels.log_labels("cancer", [1.5], [1])
    with pytest.raises(InvalidArgumentError, match="'ids' must be a sequence"):
        labels.log_labels("cancer", "abc", [1, 0, 1])
    with pytest.raises(InvalidArgumentError, match="could not be read as a time"):
        labels.log_labels("cancer", ["a"], [1], timestamps=["yesterday-ish"])
    with pytest.raises(NotFoundError, match="alias 'champoin'"):
        labels.log_labels("cancer@champoin", ["a"], [1])
    assert backend.labels.count_labels("cancer") == 0
    # integer ids are stored as their text, as the server logs caller ids
    assert labels.log_labels("cancer", [17], [1]).stored == 1
    assert stored(backend) == {"17": 1}
