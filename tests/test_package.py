"""Package hygiene: public APIs are complete and sorted; ``import loopml`` stays light."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import loopml

PACKAGES = [
    "loopml.core.entities",
    "loopml.data",
    "loopml.client.datasets",
    "loopml.client.models",
    "loopml.client.deployments",
    "loopml.client.loops",
    "loopml.datasets",
    "loopml.deployments",
    "loopml.loops",
    "loopml.errors",
    "loopml.models",
    "loopml.monitoring",
    "loopml.client.monitoring",
    "loopml.health",
    "loopml.evaluation",
    "loopml.governance",
    "loopml.registry",
    "loopml.registry.flavors",
    "loopml.stats",
    "loopml.stats.drift",
    "loopml.store",
    "loopml.store.sql",
    "loopml.store.artifacts",
    "loopml.store.logs",
    "loopml.store.remote",
    "loopml.compute",
    "loopml.pipelines",
    "loopml.serving",
    "loopml.tracking",
    "loopml.automation",
    "loopml.client",
    "loopml.cli",
]
HEAVY = [
    "pandas",
    "numpy",
    "sqlalchemy",
    "alembic",
    "pyarrow",
    "fsspec",
    "sklearn",
    "typer",
    "rich",
    "duckdb",
    "fastapi",
    "ray",
    "matplotlib",
    "xgboost",
    "lightgbm",
    "onnx",
    "onnxruntime",
    "cloudpickle",
]


def _isort_key(name: str) -> tuple[int, str]:
    """The order ruff (RUF022) keeps: CONSTANTS, then Classes, then functions, each by name."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_unique_and_importable(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported, key=_isort_key), f"{name}.__all__ is not sorted"
    assert len(set(exported)) == len(exported)
    for attr in exported:
        assert hasattr(module, attr), f"{name}.__all__ names missing {attr!r}"


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_every_public_class_and_function(name: str) -> None:
    module = importlib.import_module(name)
    public = {
        attr
        for attr, value in vars(module).items()
        if not attr.startswith("_")
        and getattr(value, "__module__", "").startswith(name)
        and callable(value)
    }
    assert public <= set(module.__all__), f"{name} exports {public - set(module.__all__)} "


def test_top_level_exports_resolve_lazily() -> None:
    for attr in loopml.__all__:
        assert getattr(loopml, attr) is not None
    assert loopml.__all__[1:] == sorted(loopml.__all__[1:], key=_isort_key)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = loopml.nope  # type: ignore[attr-defined]


def test_import_loopml_loads_no_heavy_module() -> None:
    code = (
        "import sys, time; t = time.perf_counter(); import loopml; "
        "dt = time.perf_counter() - t; "
        f"print(dt); print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out[1] == "", f"import loopml loaded heavy modules: {out[1]}"


def test_the_cli_starts_without_heavy_modules() -> None:
    """``loopml --help`` and every command's parsing load no NumPy, pandas, Arrow or
    database driver: a command imports what it needs when it runs (``loopml data profile``
    once loaded NumPy and Arrow for every command)."""
    heavy = [m for m in HEAVY if m not in ("typer", "rich")]  # the CLI's own libraries
    code = f"import sys; import loopml.cli.app; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"the CLI loaded heavy modules: {out.stdout}"


def test_live_comparison_and_the_bootstrap_load_no_scipy_stats() -> None:
    """``scipy.stats`` takes about a second to import: ``loopml monitor compare``, a server
    start and every process that bootstraps once paid it for a Poisson CDF, a normal quantile
    and a rank; ``scipy.special`` gives the same numbers."""
    code = (
        "import sys; import loopml.health.live_comparison, loopml.stats; "
        "print('scipy.stats' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_special_functions_equal_scipy_stats() -> None:
    import numpy as np
    from scipy import stats

    from loopml.health.live_verdict import LivePolicy, level, multiplier
    from loopml.stats import bootstrap, proportions

    assert np.array_equal(bootstrap._CDF, stats.poisson.cdf(np.arange(40), 1.0))
    for confidence in (0.5, 0.9, 0.95, 0.99):
        assert proportions._z(confidence) == stats.norm.ppf(0.5 + confidence / 2)
    fixed = LivePolicy(alpha=0.05, sequential=False)
    assert multiplier(100, fixed) == stats.norm.ppf(0.975)
    assert level(100, fixed) == min(1 - 2 * stats.norm.sf(stats.norm.ppf(0.975)), 1 - 1e-12)


@pytest.mark.parametrize(
    "name",
    [
        "loopml.models",
        "loopml.datasets",
        "loopml.deployments",
        "loopml.errors",
        "loopml.monitoring",
    ],
)
def test_public_modules_import_as_users_expect(name: str) -> None:
    """``import loopml.models`` works (it used to be only a lazy attribute of ``loopml``)."""
    code = f"import {name} as m; import loopml; print(m is getattr(loopml, {name.split('.')[1]!r}))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "True"


def test_every_error_class_is_in_the_one_tree() -> None:
    """No error class is defined outside core/errors.py; all are importable from loopml.errors."""
    import inspect
    import pkgutil

    import loopml.errors

    outside = []
    for info in pkgutil.walk_packages(loopml.__path__, "loopml."):
        if info.name.startswith(("loopml.examples", "loopml.cli")) or info.name in (
            "loopml.__main__",
            "loopml.store.sql.migrations.env",
            "loopml.core.errors",
            "loopml.errors",
        ):
            continue
        module = importlib.import_module(info.name)
        for attr, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == info.name
            ):
                outside.append(f"{info.name}.{attr}")
    assert outside == []
    for name in loopml.errors.__all__:
        value = getattr(loopml.errors, name)
        if inspect.isclass(value):  # an error of the tree, or one of loopml's warnings
            assert issubclass(value, loopml.errors.LoopmlError | loopml.errors.LoopmlWarning)
    from loopml.serving import RowsRejectedError

    assert RowsRejectedError is loopml.errors.RowsRejectedError
