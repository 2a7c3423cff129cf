"""US census employment data with delayed labels, from the files NannyML ships (no download).

NannyML's wheel carries the American Community Survey's employment data for Massachusetts as
three Parquet files: a labeled reference period (2015), an analysis period without labels
(2016-2018) and the analysis period's labels by row id, which is how delayed ground truth
arrives in production. Only those files are read here, never NannyML's code (its dependency
pins clash with loopml's, so it is installed without them):

    pip install --no-deps nannyml==0.13.1

Example:
    >>> from loopml.examples.census import load_census
    >>> census = load_census()  # doctest: +SKIP
    >>> census.reference.shape, census.analysis.shape, census.labels.shape  # doctest: +SKIP
    ((68785, 19), (208892, 18), (208892, 2))
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline

#: The line that installs the data files.
INSTALL = "pip install --no-deps nannyml==0.13.1"
#: The row id column (unique over the reference and the analysis period).
ID = "id"
#: The target: 1 when the person is employed.
TARGET = "employed"
#: The survey year of each row (the period).
YEAR = "year"
#: Numeric feature: age.
NUMERIC = ("AGEP",)
#: Categorical features (census codes, as text): schooling, marital status, relationship,
#: disability, parents' employment, citizenship, mobility, military service, ancestry,
#: nativity, hearing, vision, cognition, sex, race.
CATEGORICAL = (
    "SCHL",
    "MAR",
    "RELP",
    "DIS",
    "ESP",
    "CIT",
    "MIG",
    "MIL",
    "ANC",
    "NATIVITY",
    "DEAR",
    "DEYE",
    "DREM",
    "SEX",
    "RAC1P",
)
FEATURES = NUMERIC + CATEGORICAL
#: The files, by part.
FILES = {
    "reference": "employment_MA_reference.pq",
    "analysis": "employment_MA_analysis.pq",
    "labels": "employment_MA_analysis_target.pq",
}


@dataclass(frozen=True)
class CensusData:
    """The census employment data.

    Attributes:
        reference: 2015, labeled: :data:`ID`, :data:`FEATURES`, :data:`TARGET`, :data:`YEAR`.
        analysis: 2016-2018 without labels: :data:`ID`, :data:`FEATURES`, :data:`YEAR`.
        labels: The analysis period's labels: :data:`ID` and :data:`TARGET`.
    """

    reference: pd.DataFrame
    analysis: pd.DataFrame
    labels: pd.DataFrame


def census_files() -> dict[str, Path]:
    """The paths of the three files inside the installed nannyml package, found without
    importing it.

    Returns:
        ``{"reference": ..., "analysis": ..., "labels": ...}``.

    Raises:
        ImportError: nannyml is not installed, or its version lacks a file; the message has
            the ``pip install`` line.
    """
    spec = importlib.util.find_spec("nannyml")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "The census example data are files of the nannyml package, which is not installed. "
            f"Install it without its dependencies (only its data files are read):\n    {INSTALL}"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    paths = {part: folder / name for part, name in FILES.items()}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise ImportError(
            f"The installed nannyml has no census data file {missing[0]} (another version?). "
            f"Install the one whose files loopml reads:\n    {INSTALL}"
        )
    return paths


def load_census() -> CensusData:
    """Read the census employment data (NannyML's own model scores left out).

    Categorical codes are text (``"1"``, ``"21"``), age a float, the target and the year
    integers; ids are unique across the three parts' periods.

    Returns:
        The :class:`CensusData`.

    Raises:
        ImportError: nannyml is not installed (see :func:`census_files`).
    """
    import pandas as pd

    paths = census_files()

    def read(part: str, columns: tuple[str, ...]) -> pd.DataFrame:
        frame = pd.read_parquet(paths[part], columns=list(columns))
        for name in CATEGORICAL:
            if name in frame.columns:
                frame[name] = frame[name].astype(str)
        return frame

    return CensusData(
        reference=read("reference", (ID, *FEATURES, TARGET, YEAR)),
        analysis=read("analysis", (ID, *FEATURES, YEAR)),
        labels=read("labels", (ID, TARGET)),
    )


def classifier(*, seed: int = 0) -> Pipeline:
    """An unfitted classifier of :data:`TARGET` from :data:`FEATURES`: the categorical codes
    ordinal-encoded (unseen codes as -1), then scikit-learn's histogram gradient boosting."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    encode = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
    prep = ColumnTransformer([("codes", encode, list(CATEGORICAL))], remainder="passthrough")
    return Pipeline([("prep", prep), ("model", HistGradientBoostingClassifier(random_state=seed))])


def times_within_years(years: pd.Series, rng: np.random.Generator) -> pd.Series:
    """An event time per row, uniform within the row's survey year (UTC; the files give the
    year only), for monitoring by time windows."""
    import pandas as pd

    starts = pd.to_datetime(years.astype(str), format="%Y", utc=True)
    ends = pd.to_datetime((years + 1).astype(str), format="%Y", utc=True)
    seconds = rng.random(len(years)) * (ends - starts).dt.total_seconds().to_numpy()
    return starts + pd.to_timedelta(seconds, unit="s")
