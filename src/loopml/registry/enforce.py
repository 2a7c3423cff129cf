"""Enforce a model's input signature on prediction inputs, on every ``predict`` call.

:class:`InputEnforcer` is built once per loaded model: it works out per column what the model
was trained on, so each call only looks at what can be wrong. The result is a new DataFrame
with exactly the signature's columns, in order, each in the pandas dtype the model was trained
with:

* integers and floats: the NumPy type of the Arrow type (``int64``, ``float64``, ...), decimals
  ``float64``; ``bool``: ``bool``; timestamps: ``datetime64[unit, tz]``, dates ``datetime64[s]``;
  strings (and other types): pandas' default string dtype (``str``);
* in a nullable column that misses values, integers are ``float64`` with NaN (as pandas reads
  such a column) and booleans pandas ``boolean``.

The enforcer selects the columns, converts those whose dtype differs (one column at a time, by
:mod:`loopml.registry.converters`), then checks missing values, infinities and unseen
categories across the frame. What is converted and what is refused (each refusal an
:class:`~loopml.core.errors.InvalidArgumentError` naming the column, up to 3 offending values
and the fix; the problems of all columns come together):

* numbers: numeric text is read (``"3"``), other text (``"abc"``) refused; booleans count as
  0/1; fractions (or inf) in an integer column and date-times are refused, as are numbers
  the column's type cannot hold (300 in a uint8 column, 1e300 in a float32 one: never
  wrapped or made infinite);
* booleans: ``True``/``False``, ``1``/``0`` and the text ``true``/``false``/``1``/``0`` (any
  case); anything else is refused;
* date-times: datetime values and text pandas parses (ISO 8601 first, then other formats);
  naive times are read as UTC; numbers are refused (their unit is ambiguous);
* strings: numbers and booleans become their text as Arrow casts them, the form dataset
  categories are stored in (``3`` and ``3.0`` -> ``'3'``, ``True`` -> ``'true'``), so a model
  trained on string codes gets ``'3'`` for ``3``;
* missing values (None, NaN, NaT) pass in nullable columns and are refused, with their count,
  in columns marked ``nullable=False``;
* unseen categories (categorical columns with known categories and no ``other_bucket``):
  ``unseen="allow"`` passes them (the model's encoder decides), ``"error"`` refuses them,
  ``"null"`` makes them missing (after the missing-value check: use it when the model handles
  missing values);
* extra columns are dropped (``extra="drop"``) or refused (``"error"``); missing ones refused.

A DataFrame that already has the signature's dtypes takes a fast path: no per-value work
beyond the missing-value and unseen-category checks that apply.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.entities.data import ColumnSchema
from loopml.core.entities.registry import ModelSignature
from loopml.core.errors import InvalidArgumentError, did_you_mean
from loopml.registry.converters import column_spec, convert_column, quick_column, show_values
from loopml.registry.signature import to_frame

__all__ = ["EXTRA_MODES", "UNSEEN_MODES", "InputEnforcer", "enforce"]

#: Values of ``extra``: drop or refuse columns the model does not take.
EXTRA_MODES: tuple[str, ...] = ("drop", "error")
#: Values of ``unseen``: pass, refuse or blank out unseen categories.
UNSEEN_MODES: tuple[str, ...] = ("allow", "error", "null")

#: Rows up to which value checks loop in Python (cheaper than vectorized calls on tiny frames).
_SMALL = 64


def _blocks_constructor() -> Callable[..., pd.DataFrame] | None:
    """pandas' ``create_dataframe_from_blocks`` (pandas 3), or None (pandas 2)."""
    try:
        internals = importlib.import_module("pandas.api.internals")
    except ImportError:  # pragma: no cover - pandas 2: the DataFrame constructor
        return None
    return getattr(internals, "create_dataframe_from_blocks", None)


#: A DataFrame straight from its blocks, for the quick path's small frames (None: pandas 2).
_from_blocks = _blocks_constructor()


class InputEnforcer:
    """Check and convert prediction inputs against a model's input signature.

    Args:
        inputs: The model's signature or its input columns.
        extra: What to do with columns the model does not take: ``"drop"`` or ``"error"``.
        unseen: What to do with values outside a categorical column's known categories:
            ``"allow"`` (the model's encoder decides), ``"error"`` or ``"null"`` (make them
            missing). Columns whose categories are only the top-k (``other_bucket``) are
            never checked.

    Raises:
        InvalidArgumentError: An unknown ``extra``/``unseen`` value, no input columns,
            duplicate names, or a dtype the enforcer cannot produce.

    Example:
        >>> from loopml.core.entities.data import ColumnRole, ColumnSchema
        >>> age = ColumnSchema("age", "int64", ColumnRole.NUMERIC, nullable=False)
        >>> InputEnforcer([age]).enforce({"age": ["31"], "name": ["x"]}).dtypes.to_dict()
        {'age': dtype('int64')}
    """

    def __init__(
        self,
        inputs: ModelSignature | Sequence[ColumnSchema],
        *,
        extra: str = "drop",
        unseen: str = "allow",
    ) -> None:
        for param, value, allowed in (
            ("extra", extra, EXTRA_MODES),
            ("unseen", unseen, UNSEEN_MODES),
        ):
            if value not in allowed:
                raise InvalidArgumentError(
                    f"The {param!r} parameter of InputEnforcer must be one of "
                    f"{', '.join(repr(a) for a in allowed)}. Got {value!r} instead."
                )
        columns = tuple(inputs.inputs if isinstance(inputs, ModelSignature) else inputs)
        if not columns or not all(isinstance(c, ColumnSchema) for c in columns):
            raise InvalidArgumentError(
                "The 'inputs' parameter of InputEnforcer must be a ModelSignature or a "
                f"non-empty sequence of ColumnSchema. Got {inputs!r:.100} instead."
            )
        names = [c.name for c in columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise InvalidArgumentError(
                f"The signature lists the input columns {dupes} more than once; each column "
                "must appear once. Rebuild the signature."
            )
        self.inputs = columns
        self.extra = extra
        self.unseen = unseen
        self._names = names
        self._name_set = frozenset(names)
        self._specs = tuple(column_spec(c, check_unseen=unseen != "allow") for c in columns)
        self._dtypes = [s.dtype for s in self._specs]
        self._null_checked = [i for i, s in enumerate(self._specs) if not s.nullable]
        self._unseen_checked = [i for i, s in enumerate(self._specs) if s.known is not None]
        self._float_checked = [i for i, s in enumerate(self._specs) if s.kind == "float"]
        self._columns: pd.Index | None = None  # the quick path's column labels

    def enforce(self, data: Any) -> pd.DataFrame:
        """Return the input as a new DataFrame of the signature's columns and dtypes.

        Args:
            data: Prediction input in any form :func:`~loopml.registry.signature.to_frame`
                reads. Its index is kept.

        Returns:
            A new DataFrame: exactly the signature's columns, in order, in the trained dtypes.

        Raises:
            InvalidArgumentError: Unreadable input, missing (or, with ``extra="error"``,
                extra) columns, values of the wrong type, missing values in a column trained
                without them, or (with ``unseen="error"``) unseen categories.
        """
        if self.extra == "drop" and not self._unseen_checked:
            quick = self._quick(data)
            if quick is not None:
                return quick
        source = to_frame(data)
        frame = self._select(source)
        problems: list[str] = []
        failed: set[int] = set()
        converted: dict[int, pd.Series] = {}
        dtypes = frame.dtypes.tolist()  # read once: building it is most of a 1-row call
        for i, dtype in enumerate(dtypes):
            if dtype != self._dtypes[i]:
                series, problem = convert_column(self._specs[i], frame[self._names[i]])
                if problem is None:
                    converted[i] = series
                else:
                    problems.append(problem)
                    failed.add(i)
        if frame is source or converted:
            frame = frame.copy(deep=False)
        for i, series in converted.items():
            frame.isetitem(i, series.array)
        self._check_nulls(frame, dtypes, failed, problems)
        self._check_infinite(frame, failed, problems)
        if self._unseen_checked:
            self._check_unseen(frame, failed, problems)
        if problems:
            head = "" if len(problems) == 1 else f"The input has {len(problems)} problems:\n- "
            raise InvalidArgumentError(head + "\n- ".join(problems))
        return frame

    def _quick(self, data: Any) -> pd.DataFrame | None:
        """The frame of a few clean JSON-like rows, built straight from the values (what one
        server request sends: a record, a list of records, or a dict of lists).

        Only values that need no conversion pass: ints in integer columns, ints and finite
        floats in float columns, bools in boolean ones, text in string ones, None where the
        column is nullable (not in integer or boolean columns). Anything else returns None,
        and the general path converts it or words the error. Faster than the general path
        on one row (docs/benchmarks.md, serving ablations); most of the rest is the DataFrame
        itself.
        """
        pick: Callable[[Any, str], list[Any] | None]
        if isinstance(data, dict):
            first = next(iter(data.values()), None)
            if isinstance(first, list):
                if not 0 < len(first) <= _SMALL:
                    return None
                pick = _column_of_lists
            else:
                pick = _column_of_record
        elif isinstance(data, list) and 0 < len(data) <= _SMALL:
            pick = _column_of_records
        else:
            return None
        columns: list[Any] = []
        for spec in self._specs:
            values = pick(data, spec.name)
            if values is None:
                return None
            column = quick_column(spec, values)
            if column is None:
                return None
            columns.append(column)
        return self._frame_of(columns)

    def _frame_of(self, columns: list[Any]) -> pd.DataFrame:
        """The DataFrame of the quick path's columns (NumPy arrays and extension arrays, one
        per signature column): what ``pd.DataFrame(dict(zip(names, columns)))`` gives, same
        blocks included, built from them directly where pandas has the means
        (``pandas.api.internals``, pandas 3): a tenth of the constructor's cost on 5 rows."""
        if _from_blocks is None:
            return pd.DataFrame(dict(zip(self._names, columns, strict=True)))
        if self._columns is None:
            self._columns = pd.Index(self._names)
        stacked: dict[Any, list[int]] = {}  # NumPy columns of one dtype share a 2-D block
        blocks: list[tuple[Any, np.ndarray]] = []
        for i, column in enumerate(columns):
            if isinstance(column, np.ndarray):
                stacked.setdefault(column.dtype, []).append(i)
            else:
                blocks.append((column, np.array([i], dtype=np.intp)))
        for positions in stacked.values():
            array = np.vstack([columns[i] for i in positions])
            blocks.append((array, np.array(positions, dtype=np.intp)))
        return _from_blocks(  # a fresh Index each time: a frame's labels may be renamed
            blocks, index=pd.RangeIndex(len(columns[0])), columns=self._columns.copy()
        )

    def _select(self, frame: pd.DataFrame) -> pd.DataFrame:
        columns = frame.columns
        if len(columns) == len(self._names) and columns.tolist() == self._names:
            return frame
        if not columns.is_unique:
            dupes = sorted({str(c) for c in columns[columns.duplicated()]})
            raise InvalidArgumentError(
                f"The input has duplicate columns {dupes}; each column must appear once. "
                "Rename or drop the duplicates."
            )
        present = set(columns)
        missing = [n for n in self._names if n not in present]
        extra = [c for c in columns if c not in self._name_set]
        if missing:
            hints = "".join(did_you_mean(m, [str(e) for e in extra]) for m in missing)
            raise InvalidArgumentError(
                f"The input is missing {len(missing)} of the model's {len(self._names)} "
                f"columns: {_names(missing, limit=len(missing))}.{hints} The model takes: "
                f"{_names(self._names, limit=50)}. Add the missing columns (in any order)."
            )
        if extra and self.extra == "error":
            raise InvalidArgumentError(
                f"The input has {len(extra)} columns the model does not take: "
                f"{_names(extra, limit=10)}. Drop them, or build the enforcer with "
                "extra='drop' to drop them silently."
            )
        return frame.loc[:, self._names]

    def _check_nulls(
        self, frame: pd.DataFrame, dtypes: list[Any], failed: set[int], problems: list[str]
    ) -> None:
        """Count missing values where the signature allows none: in columns whose dtype can
        hold them, and in every column that was converted (``dtypes`` is before conversion)."""
        checked = [
            i
            for i in self._null_checked
            if i not in failed and (self._specs[i].can_miss or dtypes[i] != self._dtypes[i])
        ]
        if not checked:
            return
        mask = frame.isna().to_numpy()[:, checked]
        counts = mask.sum(axis=0)
        for position, i in enumerate(checked):
            if counts[position]:
                rows = frame.index[mask[:, position]][:3].tolist()
                count = int(counts[position])
                problems.append(
                    f"Column {self._names[i]!r} has {count} missing values (rows "
                    f"{show_values(rows, count)}) "
                    "but the model was trained without missing values in it (nullable=False). "
                    "Fill them (e.g. with the training median or most frequent value) or drop "
                    "those rows."
                )
                failed.add(i)

    def _check_infinite(self, frame: pd.DataFrame, failed: set[int], problems: list[str]) -> None:
        """Infinity is never a feature value a model was trained on: refuse it by column."""
        checked = [i for i in self._float_checked if i not in failed]
        if not checked:
            return
        for i in checked:  # column by column: selecting a block of columns copies them all
            values = frame.iloc[:, i].to_numpy(dtype=np.float64, na_value=np.nan)
            infinite = np.isinf(values)
            if not infinite.any():
                continue
            count = int(infinite.sum())
            problems.append(
                f"Column {self._names[i]!r} has {count} infinite values; a model takes finite "
                "numbers. Replace them (e.g. with the column's training maximum) or drop "
                "those rows."
            )
            failed.add(i)

    def _check_unseen(self, frame: pd.DataFrame, failed: set[int], problems: list[str]) -> None:
        for i in self._unseen_checked:
            if i in failed:
                continue
            spec = self._specs[i]
            known = spec.known or ()
            series = frame[spec.name]
            if len(series) <= _SMALL:
                allowed = set(known)
                values = [v for v in series.array if isinstance(v, str) and v not in allowed]
                if not values:
                    continue
                unseen = list(dict.fromkeys(values))
                mask = series.isin(unseen).to_numpy()
            else:
                mask = (~series.isin(known) & series.notna()).to_numpy()
                if not mask.any():
                    continue
                unseen = pd.unique(series.to_numpy()[mask]).tolist()
            if self.unseen == "null":
                frame.isetitem(i, series.where(~mask).array)
                continue
            problems.append(
                f"Column {spec.name!r} has {int(mask.sum())} values in {len(unseen)} categories "
                f"not seen in training: {show_values(unseen, len(unseen))} (known: "
                f"{show_values(list(known), len(known))}). Map them to a known category, or build "
                "the enforcer with unseen='null' to send them as missing values or "
                "unseen='allow' to let the model's encoder decide."
            )


def enforce(
    data: Any,
    inputs: ModelSignature | Sequence[ColumnSchema],
    *,
    extra: str = "drop",
    unseen: str = "allow",
) -> pd.DataFrame:
    """Enforce an input signature once: ``InputEnforcer(inputs, ...).enforce(data)``.

    Build an :class:`InputEnforcer` instead when enforcing many inputs (it precomputes the
    checks). Args, returns and errors as :class:`InputEnforcer`.

    Example:
        >>> from loopml.core.entities.data import ColumnRole, ColumnSchema
        >>> flag = ColumnSchema("flag", "bool", ColumnRole.BOOLEAN, nullable=False)
        >>> enforce([{"flag": 1}, {"flag": 0}], [flag])["flag"].tolist()
        [True, False]
    """
    return InputEnforcer(inputs, extra=extra, unseen=unseen).enforce(data)


def _column_of_records(data: list[Any], name: str) -> list[Any] | None:
    try:
        return [record[name] for record in data]
    except (KeyError, TypeError):  # a missing column, or not records: the general path
        return None


def _column_of_record(data: dict[str, Any], name: str) -> list[Any] | None:
    if name not in data:
        return None
    value = data[name]
    return None if isinstance(value, list | dict | tuple) else [value]


def _column_of_lists(data: dict[str, Any], name: str) -> list[Any] | None:
    values = data.get(name)
    if not isinstance(values, list) or len(values) != len(next(iter(data.values()))):
        return None
    return values


def _names(names: Sequence[Any], *, limit: int) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
