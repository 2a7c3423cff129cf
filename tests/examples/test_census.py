"""The census employment data read from NannyML's package files: the parts, their columns and
ids, and the error that names the pip line when the files are not there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

from loopml.examples.census import (
    CATEGORICAL,
    FEATURES,
    ID,
    INSTALL,
    TARGET,
    YEAR,
    census_files,
    load_census,
    times_within_years,
)

SRC = Path(__file__).resolve().parents[2] / "src"


def test_the_three_parts_load_with_their_columns() -> None:
    data = load_census()
    assert data.reference.shape == (68_785, len(FEATURES) + 3)
    assert data.analysis.shape == (208_892, len(FEATURES) + 2)
    assert list(data.labels.columns) == [ID, TARGET]
    assert set(data.reference[YEAR]) == {2015}
    assert set(data.analysis[YEAR]) == {2016, 2017, 2018}
    assert "predicted_probability" not in data.analysis.columns  # NannyML's own model left out
    assert all(data.reference[c].map(type).eq(str).all() for c in CATEGORICAL)
    assert set(data.reference[TARGET]) == {0, 1}
    # the delayed labels join the analysis period one to one by id
    assert data.analysis[ID].is_unique and not set(data.analysis[ID]) & set(data.reference[ID])
    joined = data.analysis.merge(data.labels, on=ID, validate="one_to_one")
    assert len(joined) == len(data.analysis)


def test_times_fall_within_each_rows_year() -> None:
    import numpy as np

    years = pd.Series([2016, 2017, 2018] * 1_000)
    times = times_within_years(years, np.random.default_rng(0))
    assert (times.dt.year == years).all()
    assert times.dt.month.nunique() == 12  # spread over the year, not all on 1 January


def _run(code: str, *path: Path) -> subprocess.CompletedProcess[str]:
    """``code`` in a Python without site-packages (so without nannyml), loopml from src."""
    setup = f"import sys; sys.path[:0] = {[str(p) for p in (*path, SRC)]!r}\n"
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", setup + code],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_nannyml_the_error_names_the_pip_line() -> None:
    done = _run(
        "from loopml.examples.census import census_files\n"
        "try:\n    census_files()\nexcept ImportError as exc:\n    print(exc)\n"
    )
    assert done.returncode == 0, done.stderr
    assert "nannyml package, which is not installed" in done.stdout
    assert INSTALL in done.stdout and INSTALL == "pip install --no-deps nannyml==0.13.1"


def test_a_nannyml_without_the_files_is_named(tmp_path: Path) -> None:
    (tmp_path / "nannyml").mkdir()
    (tmp_path / "nannyml" / "__init__.py").write_text("")
    done = _run(
        "from loopml.examples.census import census_files\n"
        "try:\n    census_files()\nexcept ImportError as exc:\n    print(exc)\n",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "has no census data file" in done.stdout and "employment_MA_" in done.stdout
    assert INSTALL in done.stdout


def test_the_installed_files_are_found() -> None:
    files = census_files()
    assert sorted(files) == ["analysis", "labels", "reference"]
    assert all(p.is_file() and p.suffix == ".pq" for p in files.values())
