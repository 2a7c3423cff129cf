"""The drift-test family: :class:`DriftTest` (template method), :class:`DriftResult` and the
registry that finds a test by name.

A test compares a reference with a current sample. Tests on ``counts`` (PSI, chi-square,
Jensen-Shannon) take the counts per bin or category of both sides (same bins, same order);
tests on ``samples`` (Kolmogorov-Smirnov, Wasserstein) take the values themselves (the
reference usually as the sorted sample of its stored sketch). :meth:`DriftTest.compute`
validates the inputs, calls the algorithm's ``_impl`` and wraps any foreign error in
:class:`~loopml.core.errors.DriftTestError`. Adding a test is one file: subclass
:class:`DriftTest`, set ``name``/``default_threshold``/``drift_when``/``inputs``, implement
``_impl`` and decorate the class with :func:`register_drift_test`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from loopml.core.errors import DriftTestError, InvalidArgumentError, did_you_mean
from loopml.core.jsonable import Jsonable

Counts = Sequence[int] | Sequence[float] | npt.NDArray[Any]

_REGISTRY: dict[str, type[DriftTest]] = {}


@dataclass(frozen=True)
class DriftResult(Jsonable):
    """The outcome of one drift test on one column.

    Attributes:
        test: Registered name of the test (``psi``, ``chi_square``).
        statistic: The test statistic (PSI value, chi-square statistic).
        p_value: The p-value for hypothesis tests, None for distances such as PSI.
        threshold: The threshold the decision used.
        drifted: Whether the test says the distribution shifted.
        note: A remark on how the verdict was reached when it is not the usual way (a
            constant reference, say), else "".
    """

    test: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool
    note: str = ""


class DriftTest(ABC):
    """Base class of the drift tests: validates inputs, then calls :meth:`_impl`.

    Subclasses set:

    * ``name``: the registry name;
    * ``default_threshold``: used when the caller gives none;
    * ``drift_when``: ``"statistic_above"`` (distances: drift when statistic > threshold) or
      ``"p_value_below"`` (hypothesis tests: drift when p-value < threshold);
    * ``inputs``: ``"counts"`` (counts per bin, the default) or ``"samples"`` (values).

    Args:
        threshold: Decision threshold; None means the test's ``default_threshold``.

    Raises:
        InvalidArgumentError: The threshold is not a finite number >= 0.
    """

    name: ClassVar[str]
    default_threshold: ClassVar[float]
    drift_when: ClassVar[Literal["statistic_above", "p_value_below"]]
    inputs: ClassVar[Literal["counts", "samples"]] = "counts"

    def __init__(self, *, threshold: float | None = None) -> None:
        if threshold is not None and (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not math.isfinite(threshold)
            or threshold < 0
        ):
            raise InvalidArgumentError(
                f"The 'threshold' parameter of {type(self).__name__} must be a finite float "
                f">= 0. Got {threshold!r} instead. Pass a number such as "
                f"{self.default_threshold}, or None for that default."
            )
        self.threshold = float(self.default_threshold if threshold is None else threshold)

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters (so the test can be stored and rebuilt)."""
        return {"threshold": self.threshold}

    def compute(self, reference: Counts, current: Counts) -> DriftResult:
        """Compare a current sample with the reference.

        Args:
            reference: For ``counts`` tests, the counts per bin of the reference
                (non-negative, finite); for ``samples`` tests, the reference values (finite).
            current: The same for the current sample (same bins in the same order).

        Returns:
            The statistic, p-value (if any), threshold and decision.

        Raises:
            InvalidArgumentError: The inputs are not 1-D, counts differ in length or are
                negative, values are not finite, or one side has no observations.
            DriftTestError: The algorithm failed on accepted inputs.
        """
        if self.inputs == "samples":
            ref = self._check_samples("reference", reference)
            cur = self._check_samples("current", current)
        else:
            ref = self._check_counts("reference", reference)
            cur = self._check_counts("current", current)
        if self.inputs == "counts" and ref.shape != cur.shape:
            raise InvalidArgumentError(
                f"{type(self).__name__}.compute needs reference and current counts over "
                f"the same bins. Got {ref.size} reference bins and {cur.size} current bins. "
                "Count the current sample with the reference bin edges or categories."
            )
        try:
            statistic, p_value = self._impl(ref, cur)
        except Exception as exc:
            raise DriftTestError(f"Drift test {self.name!r} failed: {exc}") from exc
        return self.decide(float(statistic), p_value)

    def decide(self, statistic: float, p_value: float | None, *, note: str = "") -> DriftResult:
        """The verdict of this test's rule on a statistic (and p-value) already computed."""
        if self.drift_when == "p_value_below":
            drifted = p_value is not None and p_value < self.threshold
        else:
            drifted = statistic > self.threshold
        return DriftResult(
            test=self.name,
            statistic=float(statistic),
            p_value=None if p_value is None else float(p_value),
            threshold=self.threshold,
            drifted=bool(drifted),
            note=note,
        )

    def noise_floor(
        self,
        reference: Counts,
        current_size: int,
        *,
        level: float = 0.99,
        reference_size: int | None = None,
    ) -> float | None:
        """The ``level`` quantile of this test's statistic when nothing changed, for a current
        sample of ``current_size`` (distances only; None for hypothesis tests, whose p-value
        already says it).

        A distance's threshold is an effect size, but a small sample of a long-tailed column
        (or of many rare categories) can cross it by chance; the monitor raises a distance's
        threshold to this floor so that a verdict holds against noise.

        Args:
            reference: The reference input this test takes (counts or values).
            current_size: Rows of the current sample.
            level: Quantile of the no-change distribution (e.g. 1 - alpha / features).
            reference_size: Rows behind ``reference`` when it is a summary (a sample or
                quantiles of a larger column); default its own size or total count.
        """
        return None

    @abstractmethod
    def _impl(
        self, reference: npt.NDArray[np.float64], current: npt.NDArray[np.float64]
    ) -> tuple[float, float | None]:
        """Return ``(statistic, p_value)`` for validated inputs (counts of equal length, or
        finite samples)."""

    def _check_samples(self, label: str, values: Counts) -> npt.NDArray[np.float64]:
        owner = f"{type(self).__name__}.compute"
        try:
            arr = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"The {label!r} argument of {owner} must be a sequence of numbers. Got "
                f"{type(values).__name__} instead ({exc}). Pass the column's values."
            ) from exc
        if arr.ndim != 1 or arr.size == 0:
            raise InvalidArgumentError(
                f"The {label!r} argument of {owner} must be a non-empty 1-D sequence of "
                f"values. Got shape {arr.shape} instead. A test needs values on both sides."
            )
        if not np.all(np.isfinite(arr)):
            raise InvalidArgumentError(
                f"The {label!r} argument of {owner} must hold finite values. Got "
                f"{int((~np.isfinite(arr)).sum())} NaN or infinite values. Drop nulls first."
            )
        return arr

    def _check_counts(self, label: str, counts: Counts) -> npt.NDArray[np.float64]:
        owner = f"{type(self).__name__}.compute"
        try:
            arr = np.asarray(counts, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"The {label!r} argument of {owner} must be a sequence of numbers. "
                f"Got {counts!r} instead ({exc}). Pass counts per bin, e.g. [12, 30, 8]."
            ) from exc
        if arr.ndim != 1 or arr.size == 0:
            raise InvalidArgumentError(
                f"The {label!r} argument of {owner} must be a non-empty 1-D sequence of "
                f"counts. Got shape {arr.shape} instead. Pass one count per bin."
            )
        if not np.all(np.isfinite(arr)) or np.any(arr < 0):
            raise InvalidArgumentError(
                f"The {label!r} argument of {owner} must hold finite counts >= 0. "
                f"Got {arr.tolist()[:10]} instead. Drop NaN/inf and negative values first."
            )
        if arr.sum() <= 0:
            raise InvalidArgumentError(
                f"The {label!r} argument of {owner} has no observations (all counts are 0). "
                "A drift test needs at least one observation on each side; skip empty samples."
            )
        return arr


def register_drift_test(cls: type[DriftTest]) -> type[DriftTest]:
    """Class decorator: make a :class:`DriftTest` subclass available by its ``name``.

    Raises:
        InvalidArgumentError: Another class is already registered under that name.
    """
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing is not cls:
        raise InvalidArgumentError(
            f"The drift test name {cls.name!r} is already registered by "
            f"{existing.__module__}.{existing.__qualname__}; names must be unique. "
            f"Give {cls.__qualname__} another 'name'."
        )
    _REGISTRY[cls.name] = cls
    return cls


def drift_test_names() -> tuple[str, ...]:
    """Return the registered drift-test names, sorted."""
    _load_builtins()
    return tuple(sorted(_REGISTRY))


def get_drift_test(name: str, *, threshold: float | None = None) -> DriftTest:
    """Build the drift test registered as ``name``.

    Args:
        name: ``ks``, ``wasserstein``, ``chi_square``, ``jensen_shannon``, ``psi`` or any
            registered name.
        threshold: Decision threshold; None for the test's default.

    Returns:
        A ready-to-use test.

    Raises:
        InvalidArgumentError: No test has that name, or the threshold is invalid.
    """
    _load_builtins()
    cls = _REGISTRY.get(name)
    if cls is None:
        raise InvalidArgumentError(
            f"Unknown drift test {name!r}. The known tests are {sorted(_REGISTRY)}; pass one "
            f"of them or register a new one with @register_drift_test."
            + did_you_mean(name, _REGISTRY)
        )
    return cls(threshold=threshold)


def _load_builtins() -> None:
    import loopml.stats.drift  # noqa: F401  (importing the package registers the built-ins)
