"""Turn what users register into one clean Arrow table, or say precisely what is wrong.

Accepted: a pandas or polars DataFrame, a pyarrow Table, or a path to a CSV file, a Parquet
file or a folder of Parquet files. Refused, each with the column or line named: a missing
path, a CSV row with the wrong number of fields, a CSV that is not UTF-8 (with the line and
byte offset), an empty table, duplicate, empty or non-text column names and names holding a
NUL character, mixed types in one column, integers beyond 64 bits, bytes that are not UTF-8
text, decimals beyond 38 digits, nested types (lists, structs, maps).

Widened on the way in: ``float16`` columns to ``float32`` (DuckDB, which computes the
statistics, has no half floats), and decimals of more than 38 digits whose values fit in 38.
"""

from __future__ import annotations

import csv
import os
import warnings
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidArgumentError, NotFoundError, did_you_mean

if TYPE_CHECKING:
    import pyarrow as pa

SUPPORTED = (
    "a pandas or polars DataFrame, a pyarrow Table, or a path to a CSV file, a Parquet file "
    "or a folder of Parquet files"
)


def to_table(data: Any, *, allow_empty: bool = False, purpose: str = "register") -> pa.Table:
    """Read ``data`` into a pyarrow Table with text column names, no metadata, no nesting.

    Args:
        data: See :data:`SUPPORTED`.
        allow_empty: Accept a table without rows (validation reports it instead).
        purpose: What the data is read for (``register``, ``validate``), for messages.

    Raises:
        NotFoundError: A path that does not exist.
        InvalidArgumentError: Anything else that cannot be registered, naming the column/line.
    """
    table = _read(data, purpose)
    return normalize(table, allow_empty=allow_empty)


def _read(data: Any, purpose: str) -> pa.Table:
    import pyarrow as pa

    if isinstance(data, str | os.PathLike):
        return _read_path(Path(data), purpose)
    if isinstance(data, pa.Table):
        return data
    module = type(data).__module__.split(".")[0]
    if module == "pandas" and type(data).__name__ == "DataFrame":
        return _from_pandas(data)
    if module == "polars" and type(data).__name__ == "DataFrame":
        _check_names([str(c) for c in data.columns], list(data.columns))
        return _from_polars(data)
    raise InvalidArgumentError(
        f"Cannot {purpose} an object of type {type(data).__name__}; pass {SUPPORTED}."
    )


def _check_names(names: list[str], raw: list[Any]) -> None:
    bad = [r for r in raw if not isinstance(r, str)]
    if bad:
        raise InvalidArgumentError(
            f"Column names must be text; got {bad[0]!r} ({type(bad[0]).__name__}). Rename the "
            "columns, e.g. df.columns = [str(c) for c in df.columns]."
        )
    for position, name in enumerate(names, start=1):
        if name == "":
            raise InvalidArgumentError(
                f"Column {position} has an empty name; every column needs one. Name it, e.g. "
                "df = df.rename(columns={'': 'row_id'}), or drop it (a CSV header that starts "
                "with ',' usually holds a saved pandas index: save with index=False)."
            )
        if "\x00" in name:
            raise InvalidArgumentError(
                f"Column {position} has the name {name!r}, which holds a NUL character "
                "('\\x00'); rename it, e.g. df.columns = [c.replace('\\x00', '') for c in "
                "df.columns]."
            )
    dupes = sorted(name for name, count in Counter(names).items() if count > 1)
    if dupes:
        raise InvalidArgumentError(
            f"Duplicate column names: {', '.join(repr(d) for d in dupes)}. Each column needs a "
            "unique name; rename or drop the duplicates."
        )


def _from_pandas(frame: Any) -> pa.Table:
    import pyarrow as pa

    _check_names([str(c) for c in frame.columns], list(frame.columns))
    try:
        with warnings.catch_warnings():
            # pyarrow reads tz-aware columns through Series.values, which pandas 3.1 deprecates;
            # pyarrow takes the time zone from the dtype, so nothing is lost (tests check it).
            warnings.filterwarnings(
                "ignore", message="Series.values returning an ndarray that drops timezone"
            )
            return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError) as exc:
        for name in frame.columns:  # find the column that does not convert, and why
            column = frame[name]
            kinds = sorted({type(v).__name__ for v in column.dropna().head(100_000)})
            if column.dtype == object and len(kinds) > 1:
                raise InvalidArgumentError(
                    f"Column {name!r} mixes types ({', '.join(kinds)}); a column must hold one "
                    "type. Convert it, e.g. df[col] = df[col].astype(str), or clean the values."
                ) from None
            try:
                pa.array(column, from_pandas=True)
            except OverflowError:
                raise InvalidArgumentError(
                    f"Column {name!r} holds integers beyond 64 bits (e.g. {_widest(column)}); "
                    "store them as text, df[col] = df[col].astype(str), or as floats, "
                    "df[col] = df[col].astype(float)."
                ) from None
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as col_exc:
                raise InvalidArgumentError(
                    f"Column {name!r} ({column.dtype}) cannot be stored: {col_exc}. Convert it "
                    "to numbers, text (df[col] = df[col].astype(str)) or datetimes first."
                ) from None
        raise InvalidArgumentError(f"The DataFrame cannot be converted to Arrow: {exc}.") from None


def _from_polars(frame: Any) -> pa.Table:
    import pyarrow as pa

    try:
        return frame.to_arrow()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        for name in frame.columns:  # find the column Arrow cannot hold
            try:
                frame.select(name).to_arrow()
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as col_exc:
                raise InvalidArgumentError(
                    f"Column {name!r} ({frame.schema[name]}) cannot be stored: {col_exc}. "
                    "Cast it to a type Arrow holds, e.g. pl.col(name).cast(pl.Int64), "
                    "pl.Float64 or pl.String."
                ) from None
        raise InvalidArgumentError(f"The DataFrame cannot be converted to Arrow: {exc}.") from None


def _widest(column: Any) -> int:
    """The integer of largest magnitude in an object column (error path only)."""
    ints = [v for v in column if isinstance(v, int) and not isinstance(v, bool)]
    return max(ints, key=abs) if ints else 0


def _read_path(path: Path, purpose: str) -> pa.Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.exists():
        raise NotFoundError(
            f"Cannot {purpose} {str(path)!r}: no such file or folder (relative paths start at "
            f"{Path.cwd()}). Check the path."
        )
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.parquet") if p.is_file())
        if not files:
            raise InvalidArgumentError(
                f"The folder {str(path)!r} holds no .parquet files; pass a CSV or Parquet file, "
                "or a folder of Parquet files."
            )
        try:
            return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise InvalidArgumentError(
                f"The Parquet files in {str(path)!r} do not share one schema: {exc}."
            ) from None
    suffix = path.suffix.lower()
    if suffix in {".parquet", ".pq"}:
        try:
            return pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidArgumentError(
                f"{str(path)!r} is not a readable Parquet file: {exc}."
            ) from None
    if suffix in {".csv", ".txt", ".tsv"}:
        return _read_csv(path, delimiter="\t" if suffix == ".tsv" else ",")
    raise InvalidArgumentError(
        f"Cannot tell the format of {str(path)!r} from its extension; use .csv, .tsv or .parquet."
    )


def _read_csv(path: Path, *, delimiter: str) -> pa.Table:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(path, parse_options=pacsv.ParseOptions(delimiter=delimiter))
    except pa.ArrowInvalid as exc:
        if path.stat().st_size == 0:
            raise InvalidArgumentError(
                f"The CSV file {str(path)!r} is empty (0 bytes); write a header line and rows."
            ) from None
        _check_utf8(path)
        line = _first_bad_line(path, delimiter)
        where = f" at line {line[0]} (expected {line[1]} fields, found {line[2]})" if line else ""
        raise InvalidArgumentError(
            f"The CSV file {str(path)!r} is broken{where}: {exc}. Fix or remove that row."
        ) from None
    if any(pa.types.is_binary(t) for t in table.schema.types):
        _check_utf8(path)  # pyarrow reads text that is not UTF-8 as bytes
    return table


def _check_utf8(path: Path, chunk_size: int = 1 << 20) -> None:
    """Raise naming the line and byte offset of the first byte that is not UTF-8."""
    offset, line, carry = 0, 1, b""
    with path.open("rb") as fh:
        while True:
            chunk = fh.read(chunk_size)
            data = carry + chunk
            if not data:
                return
            try:
                data.decode("utf-8")
                good, carry = len(data), b""
            except UnicodeDecodeError as exc:
                if chunk and exc.reason == "unexpected end of data":
                    good, carry = exc.start, data[exc.start :]  # a character cut by the chunk
                else:
                    bad = data[exc.start : exc.start + 1]
                    line += data.count(b"\n", 0, exc.start)
                    utf16 = offset == 0 and data[:2] in (b"\xff\xfe", b"\xfe\xff")
                    encoding, origin = (
                        ("utf-16", "It starts with a UTF-16 byte order mark")
                        if utf16
                        else ("cp1252", "Files saved by Excel or on Windows are often cp1252")
                    )
                    raise InvalidArgumentError(
                        f"The CSV file {str(path)!r} is not UTF-8: byte {bad!r} at byte offset "
                        f"{offset + exc.start} (line {line}) is not valid UTF-8. {origin}: "
                        f"convert it with `iconv -f {encoding} -t utf-8 {path.name} > "
                        f"utf8.csv`, or read it with pandas.read_csv(path, "
                        f"encoding='{encoding}') and register the DataFrame."
                    ) from None
            line += data.count(b"\n", 0, good)
            offset += good
            if not chunk:
                return


def _first_bad_line(path: Path, delimiter: str) -> tuple[int, int, int] | None:
    """Locate the first row whose field count differs from the header's (error path only)."""
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            return None
        for row in reader:
            if row and len(row) != len(header):
                return reader.line_num, len(header), len(row)
    return None


def normalize(table: pa.Table, *, allow_empty: bool = False) -> pa.Table:
    """Canonical form: no schema metadata, regular (not large) string/binary types, one chunk
    per column, and every column of a supported (flat) type."""
    import pyarrow as pa
    import pyarrow.types as pat

    _check_names(table.column_names, table.column_names)
    if table.num_columns == 0:
        raise InvalidArgumentError("The table has no columns; register a table with data.")
    if table.num_rows == 0 and not allow_empty:
        raise InvalidArgumentError(
            f"The table has no rows (columns: {', '.join(table.column_names[:10])}); register "
            "a table with data."
        )
    fields = []
    for index, field in enumerate(table.schema):
        kind = field.type
        storage = kind.storage_type if isinstance(kind, pa.ExtensionType) else kind
        if pat.is_nested(storage) or pat.is_union(storage):
            what = "intervals: store their ends as two columns" if storage != kind else "JSON"
            raise InvalidArgumentError(
                f"Column {field.name!r} has the nested type {kind}, which datasets do not "
                f"support; flatten it into columns or serialize it to text ({what})."
            )
        if pat.is_large_string(kind) or pat.is_string_view(kind):
            kind = pa.string()
        elif pat.is_large_binary(kind) or pat.is_binary_view(kind):
            kind = pa.binary()
        elif pat.is_dictionary(kind):
            kind = kind.value_type if not pat.is_large_string(kind.value_type) else pa.string()
        elif pat.is_null(kind):
            kind = pa.string()  # an all-null column: keep it, as text
        elif pat.is_float16(kind):
            kind = pa.float32()  # DuckDB has no half floats; float32 holds every value
        elif pat.is_decimal(kind) and kind.precision > _MAX_DECIMAL_DIGITS:
            kind = pa.decimal128(_MAX_DECIMAL_DIGITS, min(kind.scale, _MAX_DECIMAL_DIGITS))
        if pat.is_binary(kind) or pat.is_fixed_size_binary(kind):
            _check_utf8_column(field.name, table.column(index))
        fields.append(pa.field(field.name, kind))
    target_schema = pa.schema(fields)
    if target_schema != table.schema.remove_metadata():
        try:
            table = table.cast(target_schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            name = _uncastable(table, target_schema)
            raise InvalidArgumentError(
                f"Column {name!r} ({table.schema.field(name).type}) does not fit "
                f"{target_schema.field(name).type}, which datasets store it as ({exc}); cast "
                "it to float64 or to text before registering."
            ) from None
    return table.replace_schema_metadata(None).combine_chunks()


#: Most digits of a decimal that DuckDB (which computes the statistics) reads.
_MAX_DECIMAL_DIGITS = 38


def _uncastable(table: pa.Table, schema: pa.Schema) -> str:
    """The first column that does not cast to its target type (error path only)."""
    import pyarrow as pa

    for field in schema:
        try:
            table.column(field.name).cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return str(field.name)
    return str(schema.names[0])


def _check_utf8_column(name: str, column: Any) -> None:
    """Raise naming the first row of a bytes column that is not UTF-8 text."""
    import pyarrow as pa

    try:
        column.cast(pa.binary()).cast(pa.string())
    except pa.ArrowInvalid:
        for row, value in enumerate(column.to_pylist()):
            try:
                if value is not None:
                    value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidArgumentError(
                    f"Column {name!r} holds bytes that are not UTF-8 text (row {row}: "
                    f"{value[:16]!r}, byte offset {exc.start}). Decode it with its encoding, "
                    f"e.g. df[{name!r}] = df[{name!r}].str.decode('cp1252'), or store the bytes "
                    "as hex text: df[col] = df[col].map(bytes.hex)."
                ) from None


def check_declared(table: pa.Table, **declared: str | None) -> None:
    """Raise when a column declared as target, timestamp or key is not in the table."""
    for role, name in declared.items():
        if name is not None and name not in table.column_names:
            raise InvalidArgumentError(
                f"The {role} column {name!r} is not in the table."
                f"{did_you_mean(name, table.column_names)} Columns: "
                f"{', '.join(table.column_names[:20])}."
            )
