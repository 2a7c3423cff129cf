"""Deterministic split assignment, vectorized: random by a seed, by hashing a key column (a
row lands in the same split in every version of the dataset), or by a time cutoff."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidArgumentError

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

#: Fixed 16-byte key of the key-hash split: changing it would move rows between splits.
_HASH_KEY = "loopml.split.v01"
_SPLIT_NAME = re.compile(r"[a-z0-9][a-z0-9_]{0,30}")


def check_fractions(fractions: Mapping[str, float]) -> dict[str, float]:
    """Validate split names and fractions (positive, summing to 1)."""
    if not isinstance(fractions, Mapping) or len(fractions) < 2:
        raise InvalidArgumentError(
            f"fractions must map two or more split names to shares, e.g. "
            f"{{'train': 0.8, 'test': 0.2}}; got {fractions!r}."
        )
    for name, share in fractions.items():
        if not isinstance(name, str) or not _SPLIT_NAME.fullmatch(name):
            raise InvalidArgumentError(
                f"Split name {name!r} must be 1-31 lowercase letters, digits or '_'."
            )
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share < 1:
            raise InvalidArgumentError(
                f"The share of split {name!r} must be a number in (0, 1); got {share!r}."
            )
    total = sum(fractions.values())
    if not math.isclose(total, 1.0, abs_tol=1e-9):
        raise InvalidArgumentError(
            f"Split fractions must sum to 1; {dict(fractions)} sums to {total:g}."
        )
    return {k: float(v) for k, v in fractions.items()}


def assign_random(n: int, fractions: Mapping[str, float], seed: int) -> np.ndarray[Any, Any]:
    """Split index per row: a seeded permutation cut into exact shares (rounded down; the last
    split takes the remainder)."""
    import numpy as np

    shares = list(fractions.values())
    counts = [int(n * s) for s in shares[:-1]]
    counts.append(n - sum(counts))
    labels = np.repeat(np.arange(len(shares), dtype=np.int64), counts)
    out = np.empty(n, dtype=np.int64)
    out[np.random.default_rng(seed).permutation(n)] = labels
    return out


def assign_by_key(
    values: pa.ChunkedArray | pa.Array, fractions: Mapping[str, float], column: str
) -> np.ndarray[Any, Any]:
    """Split index per row from a stable hash of the key's text: the same key always lands in
    the same split, whatever else the dataset holds."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    if values.null_count:
        raise InvalidArgumentError(
            f"The key column {column!r} has {values.null_count} null values; a key-hash split "
            "needs a key on every row. Fill or drop them first."
        )
    text = pc.cast(values, pa.string()).to_numpy(zero_copy_only=False)
    hashed = pd.util.hash_array(text.astype(object), hash_key=_HASH_KEY, categorize=True)
    unit = hashed.astype(np.float64) / float(2**64)
    edges = np.cumsum(list(fractions.values()))[:-1]
    return np.searchsorted(edges, unit, side="right").astype(np.int64)


def assign_by_time(
    values: pa.ChunkedArray | pa.Array, cutoff: Any, column: str
) -> np.ndarray[Any, Any]:
    """Split index per row: 0 before ``cutoff``, 1 at or after it. Null times are an error."""
    import numpy as np
    import pandas as pd
    import pyarrow.compute as pc
    import pyarrow.types as pat

    if not (pat.is_timestamp(values.type) or pat.is_date(values.type)):
        raise InvalidArgumentError(
            f"A time split needs a datetime column; {column!r} is {values.type}."
        )
    if values.null_count:
        raise InvalidArgumentError(
            f"The time column {column!r} has {values.null_count} null values; a time split "
            "needs a time on every row."
        )
    try:
        stamp = pd.Timestamp(cutoff)
    except (ValueError, TypeError):
        raise InvalidArgumentError(
            f"cutoff must be a date or time (e.g. '2013-10-01'); got {cutoff!r}."
        ) from None
    unit = getattr(values.type, "tz", None)
    if unit is not None and stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    elif unit is None and stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    import pyarrow as pa

    bound = pa.scalar(
        stamp.to_pydatetime(),
        type=values.type if pat.is_timestamp(values.type) else pa.timestamp("us"),
    )
    column_values = values if pat.is_timestamp(values.type) else pc.cast(values, bound.type)
    after = pc.greater_equal(column_values, bound).to_numpy(zero_copy_only=False)
    return np.asarray(after, dtype=np.int64)
