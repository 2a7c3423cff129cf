"""Bad input to registration: each a clear error naming the column or line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.data import ingest


def test_accepts_every_supported_input(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]})
    expected = ingest.to_table(frame)
    assert expected.schema.metadata is None and expected.num_rows == 3
    assert ingest.to_table(pl.from_pandas(frame)).equals(expected)  # large_string normalized
    assert ingest.to_table(pa.Table.from_pandas(frame)).equals(expected)
    frame.to_csv(tmp_path / "d.csv", index=False)
    assert ingest.to_table(tmp_path / "d.csv").column("a").to_pylist() == [1, 2, 3]
    pq.write_table(expected, tmp_path / "d.parquet")
    assert ingest.to_table(str(tmp_path / "d.parquet")).equals(expected)
    folder = tmp_path / "parts"
    folder.mkdir()
    pq.write_table(expected.slice(0, 2), folder / "p1.parquet")
    pq.write_table(expected.slice(2), folder / "p2.parquet")
    assert ingest.to_table(folder).equals(expected)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (pd.DataFrame({"a": []}), "no rows"),
        (pd.DataFrame(), "no columns"),
        (pd.DataFrame([[1, 2]], columns=["a", "a"]), "Duplicate column names: 'a'"),
        (pd.DataFrame({"a": [1, "two", 3.0]}), r"Column 'a' mixes types \(float, int, str\)"),
        (pd.DataFrame({0: [1]}), "Column names must be text; got 0"),
        (pa.table({"n": [[1, 2], [3]]}), "Column 'n' has the nested type list<item: int64>"),
        (pa.table({"s": [{"x": 1}]}), "Column 's' has the nested type struct"),
        ({"a": [1]}, "Cannot register an object of type dict"),
    ],
)
def test_bad_tables(data: object, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        ingest.to_table(data)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no such file or folder"):
        ingest.to_table(tmp_path / "nope.csv")


def test_broken_csv_row_is_named_by_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    path.write_text("a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n")
    with pytest.raises(
        InvalidArgumentError, match=r"broken at line 4 \(expected 3 fields, found 4\)"
    ):
        ingest.to_table(path)


def test_unknown_extension_and_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "d.xlsx").write_text("x")
    with pytest.raises(InvalidArgumentError, match="use .csv, .tsv or .parquet"):
        ingest.to_table(tmp_path / "d.xlsx")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidArgumentError, match="holds no .parquet files"):
        ingest.to_table(tmp_path / "empty")


def test_declared_columns_must_exist() -> None:
    table = ingest.to_table(pd.DataFrame({"label": [1], "x": [2]}))
    with pytest.raises(
        InvalidArgumentError,
        match="target column 'lable' is not in the table. Did you mean 'label'",
    ):
        ingest.check_declared(table, target="lable")
