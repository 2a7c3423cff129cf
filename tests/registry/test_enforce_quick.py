"""The quick path of :class:`~loopml.registry.enforce.InputEnforcer` builds its small frames
from their blocks (pandas 3): the same frame as the DataFrame constructor, labels, dtypes,
values and block layout alike, and independent of the frames built before it."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from loopml.core.entities.data import ColumnRole, ColumnSchema
from loopml.registry import enforce as module
from loopml.registry.enforce import InputEnforcer

# dtypes interleaved, so that same-dtype columns are not neighbours
SIGNATURE = [
    ColumnSchema("n", "int64", ColumnRole.NUMERIC, nullable=False),
    ColumnSchema("x", "double", ColumnRole.NUMERIC, nullable=True),
    ColumnSchema("city", "string", ColumnRole.CATEGORICAL, nullable=True),
    ColumnSchema("m", "int64", ColumnRole.NUMERIC, nullable=False),
    ColumnSchema("ok", "bool", ColumnRole.BOOLEAN, nullable=False),
    ColumnSchema("small", "uint8", ColumnRole.NUMERIC, nullable=True),
    ColumnSchema("f", "float", ColumnRole.NUMERIC, nullable=False),
    ColumnSchema("y", "double", ColumnRole.NUMERIC, nullable=False),
    ColumnSchema("code", "string", ColumnRole.CATEGORICAL, nullable=False),
]


def record(i: int) -> dict[str, Any]:
    return {
        "n": i,
        "x": None if i % 3 == 0 else i / 7,
        "city": None if i % 2 else f"c{i}",
        "m": -i,
        "ok": i % 2 == 0,
        "small": i % 256,
        "f": 0.5 * i,
        "y": float(i),
        "code": "é" * (i % 4),
        "extra": "dropped",
    }


def layout(frame: pd.DataFrame) -> list[tuple[str, list[int]]]:
    return sorted((str(b.dtype), b.mgr_locs.as_array.tolist()) for b in frame._mgr.blocks)


def constructed(enforcer: InputEnforcer, data: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as patched:
        patched.setattr(module, "_from_blocks", None)
        return enforcer._quick(data)


@pytest.mark.parametrize("rows", [1, 2, 5, 64])
@pytest.mark.parametrize("form", ["records", "columns", "record"])
def test_the_frame_from_blocks_is_the_constructors_frame(
    rows: int, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [record(i) for i in range(rows)]
    data: Any = records
    if form == "columns":
        data = {k: [r[k] for r in records] for k in records[0]}
    elif form == "record":
        data = records[0]
    enforcer = InputEnforcer(SIGNATURE)
    quick = enforcer._quick(data)
    expected = constructed(enforcer, data, monkeypatch)
    assert isinstance(quick, pd.DataFrame) and isinstance(expected, pd.DataFrame)
    pd.testing.assert_frame_equal(quick, expected, check_exact=True)
    assert quick.columns.dtype == expected.columns.dtype
    assert quick.columns.tolist() == [c.name for c in SIGNATURE]
    assert isinstance(quick.index, pd.RangeIndex) and quick.index.equals(expected.index)
    assert quick.dtypes.tolist() == expected.dtypes.tolist()
    assert layout(quick) == layout(expected)
    general = enforcer.enforce(tuple(records) if form != "record" else pd.DataFrame([data]))
    pd.testing.assert_frame_equal(quick, general, check_exact=True)


def test_pandas_3_builds_from_blocks() -> None:
    if int(pd.__version__.split(".")[0]) >= 3:
        assert module._from_blocks is not None


def test_frames_of_the_quick_path_do_not_share_labels_or_values() -> None:
    enforcer = InputEnforcer(SIGNATURE)
    first = enforcer.enforce([record(1), record(2)])
    first.columns.name = "renamed"
    first.iloc[0, 0] = 99
    first["city"] = "changed"
    second = enforcer.enforce([record(1), record(2)])
    assert second.columns.name is None
    assert second["n"].tolist() == [1, 2]
    assert second["city"].isna().tolist() == [True, False]
    assert second.columns is not first.columns


def test_quick_frames_behave_like_constructed_ones() -> None:
    enforcer = InputEnforcer(SIGNATURE)
    frame = enforcer.enforce([record(i) for i in range(4)])
    rows = frame.to_numpy(dtype=object).tolist()
    assert rows[1][:2] == [1, 1 / 7] and rows[1][3:5] == [-1, False]
    assert pd.isna(rows[1][2]) and rows[2][2] == "c2"
    assert frame.iloc[1:3].index.tolist() == [1, 2]
    assert frame.select_dtypes("number").columns.tolist() == ["n", "x", "m", "small", "f", "y"]
    assert frame.copy().equals(frame)
