"""Run search results as a wide pandas DataFrame."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from loopml.core.entities import Experiment, Run

if TYPE_CHECKING:
    import pandas as pd

BASE_COLUMNS = (
    "run_id",
    "experiment",
    "name",
    "status",
    "start_time",
    "end_time",
    "parent_run_id",
)


def runs_to_frame(runs: Sequence[Run], experiments: Mapping[str, Experiment]) -> pd.DataFrame:
    """Build a wide DataFrame: one row per run; ``params.*``, ``metrics.*``, ``tags.*`` columns.

    Times are timezone-aware UTC timestamps; a run that lacks a param, metric or tag has a
    missing value there (NaN for metrics, None for text). Each namespace is filled as one 2-D
    block, so building the frame costs one pass over the values, not one pandas column each.
    """
    import pandas as pd

    base = pd.DataFrame(
        {
            "run_id": [r.run_id for r in runs],
            "experiment": [
                experiments[r.experiment_id].name
                if r.experiment_id in experiments
                else r.experiment_id
                for r in runs
            ],
            "name": [r.name for r in runs],
            "status": [r.status.value for r in runs],
            "start_time": _times([r.start_time for r in runs]),
            "end_time": _times([r.end_time for r in runs]),
            "parent_run_id": [r.parent_run_id for r in runs],
        },
        columns=list(BASE_COLUMNS),
    )
    blocks = [
        _block(runs, "params", [r.params for r in runs], float_values=False),
        _block(runs, "metrics", [r.metrics for r in runs], float_values=True),
        _block(runs, "tags", [r.tags for r in runs], float_values=False),
    ]
    return pd.concat([base, *(b for b in blocks if b is not None)], axis=1)


def _block(
    runs: Sequence[Run],
    prefix: str,
    maps: list[Mapping[str, Any]],
    *,
    float_values: bool,
) -> pd.DataFrame | None:
    import numpy as np
    import pandas as pd

    keys = sorted({k for m in maps for k in m})
    if not keys:
        return None
    column = {k: j for j, k in enumerate(keys)}
    if float_values:
        matrix = np.full((len(runs), len(keys)), np.nan)
    else:
        matrix = np.full((len(runs), len(keys)), None, dtype=object)
    for i, mapping in enumerate(maps):
        row = matrix[i]
        for key, value in mapping.items():
            row[column[key]] = value
    return pd.DataFrame(matrix, columns=[f"{prefix}.{k}" for k in keys])


def _times(values: list[int | None]) -> pd.Series:
    """Milliseconds since the epoch (or None) as timezone-aware UTC timestamps."""
    import pandas as pd

    millis = pd.Series(values, dtype="float64")  # exact below 2**53 ms, i.e. year 287,000
    return pd.to_datetime(millis, unit="ms", utc=True)
