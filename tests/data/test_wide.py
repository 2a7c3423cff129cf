"""Wide tables: profiling and validation run one DuckDB query per batch of columns, so the
work grows linearly with the number of columns (measured in queries, not in seconds; the
timings are in ``benchmarks/data.py --wide``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from loopml.data import profile as profile_module
from loopml.data import validate as validate_module
from loopml.data.profile import COLUMN_BATCH, profile_table
from loopml.data.schema import infer_schema
from loopml.data.validate import validate_table


def _wide(columns: int, rows: int = 20, seed: int = 0) -> pa.Table:
    """float, int, string and bool columns in turn (every kind of plan in every batch)."""
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for i in range(columns):
        kind = i % 4
        if kind == 0:
            data[f"f{i}"] = pa.array(rng.normal(size=rows))
        elif kind == 1:
            data[f"i{i}"] = pa.array(rng.integers(0, 100, size=rows))
        elif kind == 2:
            data[f"s{i}"] = pa.array([f"v{v}" for v in rng.integers(0, 5, size=rows)])
        else:
            data[f"b{i}"] = pa.array(rng.random(rows) < 0.5)
    return pa.table(data)


class _Counter:
    """Wraps a module's ``_one_row`` and records the width of every query's table."""

    def __init__(self, module: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.widths: list[int] = []
        real = module._one_row

        def counted(con: Any, sql: str) -> dict[str, Any]:
            self.widths.append(len(con.execute("DESCRIBE t").fetchall()))
            result: dict[str, Any] = real(con, sql)
            return result

        monkeypatch.setattr(module, "_one_row", counted)


@pytest.mark.parametrize("columns", [1, COLUMN_BATCH, COLUMN_BATCH + 1, 5 * COLUMN_BATCH + 3])
def test_profile_runs_two_queries_per_batch_of_columns(
    columns: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = _wide(columns)
    counter = _Counter(profile_module, monkeypatch)
    profile = profile_table(table, infer_schema(table))
    batches = math.ceil(columns / COLUMN_BATCH)
    assert len(counter.widths) == 2 * batches  # pass 1 and pass 2 per batch
    assert max(counter.widths) == min(columns, COLUMN_BATCH)
    assert [c.name for c in profile.columns] == table.column_names


def test_a_batched_profile_equals_each_column_profiled_alone() -> None:
    table = _wide(2 * COLUMN_BATCH + 5, rows=200)
    schema = infer_schema(table)
    whole = profile_table(table, schema)
    for index in (0, COLUMN_BATCH - 1, COLUMN_BATCH, COLUMN_BATCH + 1, table.num_columns - 1):
        name = table.column_names[index]
        alone = infer_schema(table.select([name]))
        assert whole.column(name) == profile_table(table.select([name]), alone).column(name)


@pytest.mark.parametrize("columns", [COLUMN_BATCH, 3 * COLUMN_BATCH + 1])
def test_validate_runs_one_query_per_batch_of_columns(
    columns: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _wide(columns, seed=0)
    schema = infer_schema(reference)
    profile = profile_table(reference, schema)
    batch = _wide(columns, seed=1)
    # a shifted float column in the last batch is still found
    last_float = max(i for i in range(columns) if i % 4 == 0)
    shifted = pa.array(np.full(20, 1e6))
    batch = batch.set_column(last_float, f"f{last_float}", shifted)
    counter = _Counter(validate_module, monkeypatch)
    report = validate_table(batch, schema, profile, against="wide@1")
    assert len(counter.widths) == math.ceil(columns / COLUMN_BATCH)
    assert max(counter.widths) <= COLUMN_BATCH
    assert any(a.column == f"f{last_float}" and a.kind == "out_of_range" for a in report.anomalies)
