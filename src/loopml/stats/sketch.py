"""Reference sketches: what a monitor keeps of a reference column so a window never rescans it.

A numeric column keeps a sorted uniform sample (up to :data:`SAMPLE_SIZE` values, seeded, so
the same data give the same sketch), its quantiles on a grid of 1,001 probabilities, and its
count, null count, min, max, mean and standard deviation, all computed on every value. A
categorical column keeps the count of every category, the most frequent :data:`MAX_CATEGORIES`
by name and the rest pooled as :data:`OTHER`, plus its null count. Windows are compared with
them: Kolmogorov-Smirnov on the sorted sample, Wasserstein on the quantiles, chi-square and
Jensen-Shannon on the counts.

Example:
    >>> import numpy as np
    >>> s = numeric_sketch(np.arange(100.0))
    >>> s.count, s.quantiles[500], len(s.sample)
    (100, 49.5, 100)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from loopml.core.errors import InvalidArgumentError

__all__ = [
    "MAX_CATEGORIES",
    "OTHER",
    "QUANTILE_GRID",
    "SAMPLE_SIZE",
    "CategoricalSketch",
    "NumericSketch",
    "categorical_sketch",
    "count_categories",
    "numeric_sketch",
]

#: Values kept in a numeric sketch's sorted sample (the KS test's reference side).
SAMPLE_SIZE = 20_000
#: Probabilities of the stored quantiles.
QUANTILE_GRID = np.linspace(0.0, 1.0, 1001)
#: Categories kept by name; the rarer ones are pooled.
MAX_CATEGORIES = 1_000
#: The name of the pooled rare (and unseen) categories.
OTHER = "__other__"

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class NumericSketch:
    """A numeric reference column, summarized.

    Attributes:
        count: Non-null values.
        nulls: Null (and NaN) values.
        minimum: Smallest value (NaN when there is none).
        maximum: Largest value.
        mean: Mean of the values.
        std: Population standard deviation of the values.
        quantiles: The values' quantiles on :data:`QUANTILE_GRID` (empty when count is 0).
        sample: A sorted uniform sample of the values (all of them when there are few).
    """

    count: int
    nulls: int
    minimum: float
    maximum: float
    mean: float
    std: float
    quantiles: FloatArray
    sample: FloatArray

    @property
    def constant(self) -> bool:
        """True when every non-null value is the same."""
        return self.count > 0 and self.minimum == self.maximum


@dataclass(frozen=True)
class CategoricalSketch:
    """A categorical reference column, summarized.

    Attributes:
        categories: The kept categories, most frequent first (:data:`OTHER` last if present).
        counts: The count of each, same order.
        nulls: Null values.
    """

    categories: tuple[str, ...]
    counts: npt.NDArray[np.int64]
    nulls: int

    @property
    def count(self) -> int:
        """Non-null values."""
        return int(self.counts.sum())


def numeric_sketch(
    values: npt.ArrayLike, *, sample_size: int = SAMPLE_SIZE, seed: int = 0
) -> NumericSketch:
    """Summarize a numeric column (NaN counts as null).

    Args:
        values: The column's values (1-D, float-convertible; NaN for nulls).
        sample_size: How many values the sorted sample keeps.
        seed: Seed of the sample (same data and seed: same sketch).

    Raises:
        InvalidArgumentError: The values are not 1-D numbers, or contain infinities.
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise InvalidArgumentError(f"A numeric sketch takes 1-D values; got shape {arr.shape}.")
    if np.isinf(arr).any():
        raise InvalidArgumentError(
            "A numeric sketch cannot summarize infinite values: replace them (or drop them) "
            "before profiling the reference."
        )
    present = arr[~np.isnan(arr)]
    nulls = int(arr.size - present.size)
    if present.size == 0:
        empty = np.empty(0)
        return NumericSketch(0, nulls, np.nan, np.nan, np.nan, np.nan, empty, empty)
    if present.size > sample_size:
        rng = np.random.default_rng(seed)
        sample = np.sort(rng.choice(present, size=sample_size, replace=False))
    else:
        sample = np.sort(present)
    return NumericSketch(
        count=int(present.size),
        nulls=nulls,
        minimum=float(present.min()),
        maximum=float(present.max()),
        mean=float(present.mean()),
        std=float(present.std()),
        quantiles=np.quantile(present, QUANTILE_GRID),
        sample=sample,
    )


def categorical_sketch(
    counts: dict[str, int], *, nulls: int = 0, max_categories: int = MAX_CATEGORIES
) -> CategoricalSketch:
    """Summarize a categorical column from its category counts.

    Args:
        counts: Count per category (as text).
        nulls: Null values.
        max_categories: Categories kept by name; the rarer ones are pooled as :data:`OTHER`.

    Raises:
        InvalidArgumentError: A negative count.
    """
    if any(c < 0 for c in counts.values()) or nulls < 0:
        raise InvalidArgumentError("Category counts must be >= 0.")
    ranked = sorted(((n, c) for c, n in counts.items() if n > 0), key=lambda t: (-t[0], t[1]))
    kept = ranked[:max_categories]
    rest = sum(n for n, _ in ranked[max_categories:])
    names = [c for _, c in kept]
    numbers = [n for n, _ in kept]
    if rest:
        names.append(OTHER)
        numbers.append(rest)
    return CategoricalSketch(tuple(names), np.asarray(numbers, dtype=np.int64), int(nulls))


def count_categories(
    sketch: CategoricalSketch, counts: dict[str, int]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The reference and current counts over the same bins: the sketch's categories, with
    current categories the sketch does not name pooled into :data:`OTHER` (added when needed).

    Returns:
        ``(reference_counts, current_counts)``, aligned.
    """
    index = {c: i for i, c in enumerate(sketch.categories)}
    ref = sketch.counts.astype(np.float64)
    cur = np.zeros(ref.size + (OTHER not in index), dtype=np.float64)
    other = index.get(OTHER, ref.size)
    for category, n in counts.items():
        cur[index.get(category, other)] += n
    if cur.size > ref.size:
        ref = np.append(ref, 0.0)
    return ref, cur
