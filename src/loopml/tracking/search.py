"""Run search: filter strings and experiment names in, a pandas DataFrame or ``Run`` list out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from loopml.core.entities import Experiment, Run

if TYPE_CHECKING:
    import pandas as pd

BASE_COLUMNS = ("run_id", "experiment", "name", "status", "start_time", "end_time", "parent_run_id")


def runs_to_frame(runs: Sequence[Run], experiments: dict[str, Experiment]) -> pd.DataFrame:
    """Build a wide DataFrame: one row per run; ``params.*``, ``metrics.*``, ``tags.*`` columns.

    Times are timezone-aware UTC timestamps; a run that lacks a param, metric or tag has a
    missing value there (NaN for metrics, None for text).
    """
    import pandas as pd

    n = len(runs)
    columns: dict[str, Any] = {
        "run_id": [r.run_id for r in runs],
        "experiment": [
            experiments[r.experiment_id].name if r.experiment_id in experiments else r.experiment_id
            for r in runs
        ],
        "name": [r.name for r in runs],
        "status": [r.status.value for r in runs],
        "start_time": _times([r.start_time for r in runs]),
        "end_time": _times([r.end_time for r in runs]),
        "parent_run_id": [r.parent_run_id for r in runs],
    }
    for prefix, attr, missing in (
        ("params", "params", None),
        ("metrics", "metrics", float("nan")),
        ("tags", "tags", None),
    ):
        keys = sorted({k for r in runs for k in getattr(r, attr)})
        for key in keys:
            values: list[Any] = [missing] * n
            for i, r in enumerate(runs):
                mapping = getattr(r, attr)
                if key in mapping:
                    values[i] = mapping[key]
            columns[f"{prefix}.{key}"] = values
    return pd.DataFrame(columns)


def _times(values: list[int | None]) -> pd.Series:
    """Milliseconds since the epoch (or None) as timezone-aware UTC timestamps."""
    import pandas as pd

    millis = pd.Series(values, dtype="float64")  # exact below 2**53 ms, i.e. year 287,000
    return pd.to_datetime(millis, unit="ms", utc=True)
