"""Every docs example in docs_src/ runs (in a fresh store) and its assertions hold."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parents[2] / "docs_src").glob("*.py"))


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(example: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["LOOPML_CAPTURE_ENV"] = "false"
    # One OpenMP thread per example, as `make demo` and the benchmarks do: the suite runs two
    # examples at once on two cores, and OpenMP teams spinning for busy cores made single-row
    # predictions 20x slower (evaluation_quickstart: 42 s instead of 14 s on a loaded machine).
    env.setdefault("OMP_NUM_THREADS", "1")
    done = subprocess.run(
        [sys.executable, str(example)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / ".loopml" / "loopml.db").is_file()


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 3
