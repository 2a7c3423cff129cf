"""What a monitor run is told: thresholds (defaults documented in docs/monitoring.md), per-column
test overrides and the window spec, each checked once with a message that names the fix.

Defaults, and why they stay quiet when nothing changed:

* ``alpha`` 0.05 is the family-wise false-alarm rate of one window: the hypothesis tests of a
  window (Kolmogorov-Smirnov, chi-square) are corrected together by Holm's procedure, and a
  distance's threshold is raised to its noise floor at level ``1 - alpha / features`` when
  the window is small enough for chance alone to cross it.
* ``wasserstein`` 0.1 (a tenth of a reference standard deviation), ``jensen_shannon`` 0.1 and
  ``psi`` 0.2: effect sizes, as the established tools use them, for windows over
  :data:`SMALL_WINDOW` rows where any hypothesis test would flag tiny shifts.
* ``dataset_share`` 0.5: the dataset drifted when half of the tested features did.
* ``domain_auc`` 0.55: the domain classifier's smallest AUC worth an alarm (its noise threshold
  is used when higher).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loopml.core.errors import InvalidArgumentError, did_you_mean

#: Windows up to this many rows use hypothesis tests (KS, chi-square); larger ones distances.
SMALL_WINDOW = 1_000

DEFAULT_THRESHOLDS: dict[str, float] = {
    "alpha": 0.05,
    "dataset_share": 0.5,
    "wasserstein": 0.1,
    "jensen_shannon": 0.1,
    "psi": 0.2,
    "domain_auc": 0.55,
}

NUMERIC_TESTS = ("ks", "wasserstein", "psi")
CATEGORICAL_TESTS = ("chi_square", "jensen_shannon", "psi")

_UNITS = {"min": "min", "h": "h", "d": "D", "w": "W", "mo": "M", "y": "Y"}
_DURATION = re.compile(r"^\s*(\d+)\s*(min|h|d|w|mo|y)\s*$")
#: Most windows one run makes (a '1min' window over a year would be 525,600).
MAX_WINDOWS = 5_000


def resolve_thresholds(thresholds: Mapping[str, Any] | None) -> dict[str, float]:
    """The defaults with ``thresholds`` laid over them.

    Raises:
        InvalidArgumentError: An unknown key or a value out of range.
    """
    out = dict(DEFAULT_THRESHOLDS)
    for key, value in (thresholds or {}).items():
        if key not in out:
            raise InvalidArgumentError(
                f"Unknown monitoring threshold {key!r}. The thresholds are "
                f"{sorted(DEFAULT_THRESHOLDS)}." + did_you_mean(str(key), DEFAULT_THRESHOLDS)
            )
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise InvalidArgumentError(
                f"The monitoring threshold {key!r} must be a number >= 0. Got {value!r}."
            )
        out[key] = float(value)
    if not 0 < out["alpha"] < 1:
        raise InvalidArgumentError(
            f"The monitoring threshold 'alpha' must be in (0, 1), the false-alarm rate of one "
            f"window. Got {out['alpha']!r}; 0.05 is the default."
        )
    if out["dataset_share"] > 1:
        raise InvalidArgumentError(
            f"'dataset_share' is a share of features in [0, 1]. Got {out['dataset_share']!r}."
        )
    return out


def check_tests(tests: Mapping[str, str] | None) -> dict[str, str]:
    """Per-column test overrides, checked against the registered drift tests.

    Raises:
        InvalidArgumentError: A test that is not registered.
    """
    from loopml.stats.drift import drift_test_names

    known = drift_test_names()
    out: dict[str, str] = {}
    for column, test in (tests or {}).items():
        if test not in known:
            raise InvalidArgumentError(
                f"Unknown drift test {test!r} for column {column!r}. The tests are "
                f"{list(known)}." + did_you_mean(str(test), known)
            )
        out[str(column)] = test
    return out


@dataclass(frozen=True)
class WindowSpec:
    """How current rows are cut into windows.

    Attributes:
        rows: Rows per window (row-count windows), or None.
        count: How many units of ``unit`` per window (duration windows).
        unit: ``min``, ``h``, ``D``, ``W`` (weeks from Monday), ``M`` (calendar months) or
            ``Y`` (calendar years).
        text: The spec as given (``1d``, ``5000``), or None for one window.
    """

    rows: int | None = None
    count: int = 0
    unit: str = ""
    text: str | None = None

    @property
    def by_time(self) -> bool:
        """True for duration windows (cut by event time)."""
        return bool(self.unit)


def parse_window(window: object) -> WindowSpec:
    """Parse ``None`` (one window), a row count (``5000``) or a duration (``"1d"``, ``"6h"``,
    ``"30min"``, ``"1w"``, ``"1mo"``, ``"1y"``).

    Raises:
        InvalidArgumentError: Anything else.
    """
    if window is None:
        return WindowSpec()
    if isinstance(window, int) and not isinstance(window, bool):
        if window < 1:
            raise InvalidArgumentError(f"A row-count window must be >= 1 row. Got {window}.")
        return WindowSpec(rows=window, text=str(window))
    if isinstance(window, str):
        if window.strip().isdigit():
            return parse_window(int(window))
        match = _DURATION.match(window.lower())
        if match and int(match.group(1)) > 0:
            return WindowSpec(
                count=int(match.group(1)), unit=_UNITS[match.group(2)], text=window.strip()
            )
    raise InvalidArgumentError(
        f"window={window!r} is not a window. Pass a duration ('1d', '6h', '30min', '1w', "
        "'1mo', '1y': UTC calendar windows by event time), a row count (5000) or None for one "
        "window."
    )
