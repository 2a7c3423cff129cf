"""The registry of model flavors by name: find the flavor of a model, or a flavor by name.

Flavors are tried in :data:`FLAVOR_NAMES` order by :func:`detect_flavor`: the XGBoost and
LightGBM scikit-learn wrappers also subclass ``sklearn.base.BaseEstimator``, so they come
before ``sklearn``; ``generic`` (any object with a callable ``predict``) comes last. ``skops``
(scikit-learn models in skops' format) is only used when asked for by name.

Importing this package imports no model library: each flavor module is imported on first use
and imports its library inside its methods.

Example:
    >>> from loopml.registry.flavors import detect_flavor, get_flavor
    >>> get_flavor("sklearn").name
    'sklearn'
    >>> class Doubler:
    ...     def predict(self, frame):
    ...         return frame["x"] * 2
    >>> detect_flavor(Doubler()).name
    'generic'
"""

from __future__ import annotations

import importlib
import importlib.metadata
from types import ModuleType

from loopml.core.errors import InvalidArgumentError, did_you_mean
from loopml.registry.flavors.base import Flavor, Predictor

__all__ = [
    "FLAVOR_NAMES",
    "Flavor",
    "Predictor",
    "detect_flavor",
    "get_flavor",
    "import_library",
    "is_from_library",
    "library_versions",
]

#: Every flavor, in detection order (``skops`` is chosen by name, never detected).
FLAVOR_NAMES: tuple[str, ...] = ("xgboost", "lightgbm", "onnx", "sklearn", "skops", "generic")

# name -> (module, class); modules are imported on first use.
_FLAVOR_CLASSES: dict[str, tuple[str, str]] = {
    "xgboost": ("loopml.registry.flavors.xgboost", "XGBoostFlavor"),
    "lightgbm": ("loopml.registry.flavors.lightgbm", "LightGBMFlavor"),
    "onnx": ("loopml.registry.flavors.onnx", "OnnxFlavor"),
    "sklearn": ("loopml.registry.flavors.sklearn", "SklearnFlavor"),
    "skops": ("loopml.registry.flavors.skops", "SkopsFlavor"),
    "generic": ("loopml.registry.flavors.generic", "GenericFlavor"),
}
_SUPPORTED = (
    "scikit-learn estimators and Pipelines, XGBoost and LightGBM models (scikit-learn wrappers "
    "or Boosters), ONNX ModelProto, any object with a callable predict(frame) method, or a "
    "subclass of loopml.registry.PythonModel"
)
_instances: dict[str, Flavor] = {}


def get_flavor(name: str) -> Flavor:
    """Return the flavor called ``name`` (one shared instance per name).

    Args:
        name: One of :data:`FLAVOR_NAMES`.

    Returns:
        The flavor.

    Raises:
        InvalidArgumentError: ``name`` is not a flavor.
        ModuleNotFoundError: The flavor's module is not part of this installation.

    Example:
        >>> get_flavor("lightgbm").extra
        'lightgbm'
    """
    flavor = _instances.get(name)
    if flavor is not None:
        return flavor
    if name not in _FLAVOR_CLASSES:
        raise InvalidArgumentError(
            f"Unknown model flavor {name!r}. The flavor must be one of "
            f"{', '.join(repr(n) for n in FLAVOR_NAMES)}.{did_you_mean(name, FLAVOR_NAMES)}"
        )
    module_name, class_name = _FLAVOR_CLASSES[name]
    flavor_class: type[Flavor] = getattr(importlib.import_module(module_name), class_name)
    flavor = flavor_class()
    _instances[name] = flavor
    return flavor


def detect_flavor(model: object) -> Flavor:
    """Return the first flavor (in :data:`FLAVOR_NAMES` order) that recognizes ``model``.

    A flavor whose module is not part of this installation is skipped.

    Args:
        model: A fitted model object.

    Returns:
        The flavor that can save, load and call ``model``.

    Raises:
        InvalidArgumentError: No flavor recognizes ``model``; the message lists what is
            supported.

    Example:
        >>> from sklearn.linear_model import LinearRegression
        >>> detect_flavor(LinearRegression()).name
        'sklearn'
    """
    for name in FLAVOR_NAMES:
        try:
            flavor = get_flavor(name)
        except ModuleNotFoundError as exc:
            if exc.name == _FLAVOR_CLASSES[name][0]:
                continue
            raise
        if flavor.detected and flavor.detect(model):
            return flavor
    kind = type(model)
    raise InvalidArgumentError(
        f"Cannot log a model of type {kind.__module__}.{kind.__qualname__}: no model flavor "
        f"supports it. Supported are {_SUPPORTED}. Wrap the model in a PythonModel subclass "
        "that implements predict(frame) to log it."
    )


def library_versions(flavor: Flavor) -> dict[str, str]:
    """Return the installed versions of the flavor's libraries (ones not installed are skipped).

    Args:
        flavor: The flavor.

    Returns:
        ``{distribution: version}``, e.g. ``{"scikit-learn": "1.5.2"}``.

    Example:
        >>> sorted(library_versions(get_flavor("sklearn")))
        ['scikit-learn']
    """
    versions: dict[str, str] = {}
    for distribution in flavor.libraries:
        try:
            versions[distribution] = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def import_library(module: str, *, flavor: Flavor) -> ModuleType:
    """Import ``module`` for ``flavor``, or explain which extra installs it.

    Args:
        module: The module to import (``"xgboost"``, ``"sklearn.utils.validation"``).
        flavor: The flavor that needs it (for its name, libraries and extra).

    Returns:
        The imported module.

    Raises:
        ImportError: The library is not installed; the message has the ``pip install`` line.

    Example:
        >>> import_library("cloudpickle", flavor=get_flavor("generic")).__name__
        'cloudpickle'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        target = f"'loopml[{flavor.extra}]'" if flavor.extra else " ".join(flavor.libraries)
        raise ImportError(
            f"The {flavor.name!r} model flavor needs {' or '.join(flavor.libraries)} "
            f"(module {module!r}), which cannot be imported: {exc}. Install it with:\n"
            f"    pip install {target}"
        ) from exc


def is_from_library(model: object, package: str) -> bool:
    """Tell whether ``model``'s class, or a base class, is defined in ``package``.

    Flavors call this in ``detect`` before importing their library, so detection imports
    nothing that is not already imported.

    Args:
        model: Any object.
        package: A top-level package name (``"sklearn"``).

    Returns:
        True when a class in ``type(model).__mro__`` comes from ``package``.

    Example:
        >>> is_from_library(3, "sklearn")
        False
    """
    return any(cls.__module__.partition(".")[0] == package for cls in type(model).__mro__)
