"""The drift-test family: :class:`DriftTest` (template method), :class:`DriftResult` and the
registry that finds a test by name.

A test compares the binned counts of a reference sample with those of a current sample (same
bins, same order). :meth:`DriftTest.compute` validates the counts, calls the algorithm's
``_impl`` and wraps any foreign error in :class:`~loopml.core.errors.DriftTestError`. Adding a
test is one file: subclass :class:`DriftTest`, set ``name``/``default_threshold``/
``drift_when``, implement ``_impl`` and decorate the class with :func:`register_drift_test`.
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
    """

    test: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool


class DriftTest(ABC):
    """Base class of the drift tests: validates inputs, then calls :meth:`_impl`.

    Subclasses set:

    * ``name``: the registry name;
    * ``default_threshold``: used when the caller gives none;
    * ``drift_when``: ``"statistic_above"`` (distances: drift when statistic > threshold) or
      ``"p_value_below"`` (hypothesis tests: drift when p-value < threshold).

    Args:
        threshold: Decision threshold; None means the test's ``default_threshold``.

    Raises:
        InvalidArgumentError: The threshold is not a finite number >= 0.
    """

    name: ClassVar[str]
    default_threshold: ClassVar[float]
    drift_when: ClassVar[Literal["statistic_above", "p_value_below"]]

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

    def compute(self, reference_counts: Counts, current_counts: Counts) -> DriftResult:
        """Compare the binned counts of a current sample with those of the reference.

        Args:
            reference_counts: Counts per bin of the reference (non-negative, finite).
            current_counts: Counts per bin of the current sample, same bins in the same order.

        Returns:
            The statistic, p-value (if any), threshold and decision.

        Raises:
            InvalidArgumentError: The counts are not 1-D, differ in length, are negative or
                not finite, or one side has no observations.
            DriftTestError: The algorithm failed on accepted inputs.
        """
        ref = self._check_counts("reference_counts", reference_counts)
        cur = self._check_counts("current_counts", current_counts)
        if ref.shape != cur.shape:
            raise InvalidArgumentError(
                f"{type(self).__name__}.compute needs reference_counts and current_counts over "
                f"the same bins. Got {ref.size} reference bins and {cur.size} current bins. "
                "Count the current sample with the reference bin edges or categories."
            )
        try:
            statistic, p_value = self._impl(ref, cur)
        except Exception as exc:
            raise DriftTestError(f"Drift test {self.name!r} failed: {exc}") from exc
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
        )

    @abstractmethod
    def _impl(
        self, reference: npt.NDArray[np.float64], current: npt.NDArray[np.float64]
    ) -> tuple[float, float | None]:
        """Return ``(statistic, p_value)`` for validated counts of equal length."""

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
        name: ``psi``, ``chi_square`` or any registered name.
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
