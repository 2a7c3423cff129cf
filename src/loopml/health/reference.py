"""The reference a monitor compares windows with, computed once and kept.

A :class:`ReferenceProfile` holds, per feature column, a sketch (:mod:`loopml.stats.sketch`:
a sorted 20,000-value sample and 1,001 quantiles for numbers, every category's count for
categories) and a capped random sample of whole rows (for the domain classifier). Windows are
compared with it alone, so no window rescans the reference.

For a dataset version the profile is stored once as an artifact (NumPy ``.npz``, read without
pickle) and found again by a ``monitor.reference_profiled`` event on the dataset that names the
artifact's digest and the version's content hash; every later run of any process reads it
back instead of the rows.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from loopml.core.entities import ColumnRole, DatasetSchema
from loopml.core.errors import InvalidArgumentError
from loopml.stats.sketch import (
    CategoricalSketch,
    NumericSketch,
    categorical_sketch,
    numeric_sketch,
)

#: Bumped when the stored layout changes (a stored profile of another format is recomputed).
FORMAT = 1
#: Rows of the reference kept whole for the domain classifier.
ROW_SAMPLE = 5_000
#: The event that records a stored profile.
PROFILED = "monitor.reference_profiled"

Kind = Literal["numeric", "categorical"]


@dataclass(frozen=True)
class ReferenceProfile:
    """A reference, summarized for monitoring.

    Attributes:
        rows: Rows of the reference.
        kinds: Feature column -> ``numeric`` or ``categorical``.
        numeric: Sketches of the numeric columns.
        categorical: Sketches of the categorical columns.
        sample: Up to :data:`ROW_SAMPLE` random rows of the feature columns.
        content_hash: The dataset version's content hash, or None for a DataFrame.
    """

    rows: int
    kinds: dict[str, Kind]
    numeric: dict[str, NumericSketch]
    categorical: dict[str, CategoricalSketch]
    sample: pd.DataFrame
    content_hash: str | None = None

    def to_bytes(self) -> bytes:
        """Serialize (``.npz``: arrays plus a JSON header; the row sample as Parquet)."""
        arrays: dict[str, Any] = {}
        header: dict[str, Any] = {
            "format": FORMAT,
            "rows": self.rows,
            "kinds": self.kinds,
            "content_hash": self.content_hash,
            "numeric": {},
            "categorical": {},
        }
        for i, (name, s) in enumerate(self.numeric.items()):
            header["numeric"][name] = [i, s.count, s.nulls, s.minimum, s.maximum, s.mean, s.std]
            arrays[f"q{i}"], arrays[f"s{i}"] = s.quantiles, s.sample
        for i, (name, c) in enumerate(self.categorical.items()):
            header["categorical"][name] = [i, list(c.categories), c.nulls]
            arrays[f"c{i}"] = c.counts
        buffer = io.BytesIO()
        self.sample.to_parquet(buffer, index=False)
        arrays["sample"] = np.frombuffer(buffer.getvalue(), dtype=np.uint8)
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        out = io.BytesIO()
        np.savez(out, **arrays)
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceProfile | None:
        """Read :meth:`to_bytes` output; None when it is of another format."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            header = json.loads(z["header"].tobytes())
            if header.get("format") != FORMAT:
                return None
            numeric = {
                name: NumericSketch(
                    count=int(count),
                    nulls=int(nulls),
                    minimum=float(lo),
                    maximum=float(hi),
                    mean=float(mean),
                    std=float(std),
                    quantiles=z[f"q{i}"],
                    sample=z[f"s{i}"],
                )
                for name, (i, count, nulls, lo, hi, mean, std) in header["numeric"].items()
            }
            categorical = {
                name: CategoricalSketch(tuple(cats), z[f"c{i}"], int(nulls))
                for name, (i, cats, nulls) in header["categorical"].items()
            }
            sample = pd.read_parquet(io.BytesIO(z["sample"].tobytes()))
        return cls(
            rows=int(header["rows"]),
            kinds=dict(header["kinds"]),
            numeric=numeric,
            categorical=categorical,
            sample=sample,
            content_hash=header["content_hash"],
        )


def feature_kinds(schema: DatasetSchema, exclude: Sequence[str] = ()) -> dict[str, Kind]:
    """The columns a monitor tests by default and how: numbers as ``numeric``; categories and
    booleans as ``categorical``. Targets, timestamps, keys, identifiers and free text are left
    out (they move by nature), as are the ``exclude`` columns (labels, scores)."""
    skip = {schema.target, schema.timestamp, schema.key, *exclude}
    kinds: dict[str, Kind] = {}
    for column in schema.columns:
        if column.name in skip:
            continue
        if column.role is ColumnRole.NUMERIC:
            kinds[column.name] = "numeric"
        elif column.role in (ColumnRole.CATEGORICAL, ColumnRole.BOOLEAN):
            kinds[column.name] = "categorical"
    return kinds


def kind_of_series(series: pd.Series) -> Kind:
    """``numeric`` for number columns (not booleans), else ``categorical``."""
    if pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series):
        return "categorical"
    return "numeric"


def as_numbers(series: pd.Series) -> np.ndarray:
    """A column's values as float64 (nulls as NaN), vectorized.

    Raises:
        InvalidArgumentError: The values are not numbers.
    """
    try:
        return np.asarray(pd.to_numeric(series, errors="raise"), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"Column {series.name!r} is numeric in the reference but holds values that are not "
            f"numbers here ({exc}). Cast it, or leave it out with features=."
        ) from None


def category_counts(series: pd.Series) -> dict[str, int]:
    """Count of each non-null value, as text (the same text for reference and windows)."""
    counts = series.dropna().astype(str).value_counts(sort=False)
    return {str(k): int(v) for k, v in counts.items()}


def build_profile(
    frame: pd.DataFrame,
    kinds: dict[str, Kind],
    *,
    content_hash: str | None = None,
    seed: int = 0,
) -> ReferenceProfile:
    """Summarize the ``kinds`` columns of a reference frame (one pass per column).

    Raises:
        InvalidArgumentError: The reference has no rows, or a numeric column holds infinities.
    """
    if len(frame) == 0:
        raise InvalidArgumentError(
            "The reference has no rows: a monitor needs reference data to compare windows "
            "with. Pass a non-empty reference (a DataFrame or a dataset ref)."
        )
    numeric: dict[str, NumericSketch] = {}
    categorical: dict[str, CategoricalSketch] = {}
    for name, kind in kinds.items():
        column = frame[name]
        if kind == "numeric":
            numeric[name] = numeric_sketch(as_numbers(column), seed=seed)
        else:
            categorical[name] = categorical_sketch(
                category_counts(column), nulls=int(column.isna().sum())
            )
    rng = np.random.default_rng(seed)
    take = np.sort(rng.choice(len(frame), size=min(ROW_SAMPLE, len(frame)), replace=False))
    sample = frame.iloc[take][list(kinds)].reset_index(drop=True)
    for name, kind in kinds.items():  # one Parquet type per column, whatever pandas held
        sample[name] = (
            as_numbers(sample[name]) if kind == "numeric" else sample[name].astype("string")
        )
    return ReferenceProfile(
        rows=len(frame),
        kinds=dict(kinds),
        numeric=numeric,
        categorical=categorical,
        sample=sample,
        content_hash=content_hash,
    )
