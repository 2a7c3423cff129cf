"""The ``skops`` flavor: scikit-learn estimators and Pipelines saved with ``skops.io``, a
format that loads without running code from types the loader does not trust.

Chosen at registration with ``flavor="skops"`` (never detected: the ``sklearn`` flavor stays
the default). The payload is ``model.skops``: a zip holding a JSON schema of the object tree
and NumPy arrays. Loading reads the schema first and lists the types it names that skops does
not trust by default (:func:`skops.io.get_untrusted_types`, which imports nothing). Any such
type the loader has not trusted itself refuses the package with
:class:`~loopml.core.errors.UntrustedTypesError` before a module is imported or an object
built; otherwise ``skops.io.load`` builds the model with exactly those types allowed.

Who trusts what (the threat model is written out in ``docs/registry.md``):

* skops' defaults: scikit-learn estimators, NumPy and SciPy containers and ufuncs, builtins.
  skops leaves out some scikit-learn internals on purpose (``sklearn.tree._tree.Tree`` and the
  HistGradientBoosting ``TreePredictor`` keep raw node indices that ``predict`` follows
  without bounds checks: a crafted file can crash the process or read memory out of bounds),
  so tree models need them trusted explicitly;
* the registrant declares, at registration, every other type the model needs
  (``trusted_types=[...]``); registration refuses a model that needs an undeclared one, and
  the manifest records the list (``details["untrusted_types"]``) for reviewers;
* the loader trusts only its own list (``load(..., trusted_types=[...])`` and
  ``LOOPML_TRUSTED_TYPES``), never the manifest's: the manifest is written by the registrant,
  whom this format is meant to protect the loader from.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Set
from pathlib import Path
from typing import Any, ClassVar

from loopml.core.errors import InvalidArgumentError, UntrustedTypesError
from loopml.registry.flavors import import_library
from loopml.registry.flavors.base import Predictor
from loopml.registry.flavors.sklearn import SklearnFlavor, SklearnPredictor

__all__ = ["SKOPS_FILE", "SkopsFlavor"]

#: The payload file.
SKOPS_FILE = "model.skops"


def _importable(name: str) -> bool:
    """Whether a loader could find ``name`` (``module.attr...``) again: defined in a module
    other than ``__main__`` and reachable from it by attributes. Only modules already
    imported are looked at (the model's own classes are), so nothing is imported here."""
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is None:
            continue
        if module.__name__ == "__main__":
            return False
        found: Any = module
        for attribute in parts[cut:]:
            found = getattr(found, attribute, None)
        return found is not None
    return False


class SkopsFlavor(SklearnFlavor):
    """scikit-learn estimators and Pipelines in skops' format (chosen, never detected)."""

    name: ClassVar[str] = "skops"
    libraries: ClassVar[tuple[str, ...]] = ("scikit-learn", "skops")
    extra: ClassVar[str | None] = "skops"
    uses_pickle: ClassVar[bool] = False
    detected: ClassVar[bool] = False

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        """Write ``model`` with ``skops.io.dump`` to ``model.skops`` in ``folder``.

        Returns:
            ``{"estimator", "format": "skops", "untrusted_types"}``: the qualified class
            name and the types the payload holds beyond skops' defaults (sorted).

        Raises:
            InvalidArgumentError: skops cannot save an object inside the model; nothing is
                left in ``folder``.
        """
        sio = import_library("skops.io", flavor=self)
        path = folder / SKOPS_FILE
        try:
            sio.dump(model, path)
            untrusted = sorted(sio.get_untrusted_types(file=path))
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        unreachable = [t for t in untrusted if not _importable(t)]
        if unreachable:
            path.unlink()
            raise InvalidArgumentError(
                f"The scikit-learn model {type(model).__name__} cannot be saved with skops: it "
                f"holds {unreachable}, defined in a script or inside a function, and skops "
                "saves functions and classes by module and name, so no loader could find them "
                "again. Move them to an importable module, or register with the 'sklearn' "
                "flavor (cloudpickle saves them by value, and loading runs them)."
            )
        kind = type(model)
        return {
            "estimator": f"{kind.__module__}.{kind.__qualname__}",
            "format": "skops",
            "untrusted_types": untrusted,
        }

    def load(
        self, folder: Path, details: Mapping[str, Any], *, trusted: Set[str] = frozenset()
    ) -> Predictor:
        """Check the payload's types against skops' defaults and ``trusted``, then build it.

        Raises:
            UntrustedTypesError: The payload names types beyond skops' defaults that are not
                in ``trusted`` (``error.types`` lists them); nothing was imported or built.
        """
        sio = import_library("skops.io", flavor=self)
        path = folder / SKOPS_FILE
        found = sorted(sio.get_untrusted_types(file=path))
        refused = [name for name in found if name not in trusted]
        if refused:
            raise UntrustedTypesError(
                f"The skops payload holds {len(refused)} types that are not trusted: {refused}.",
                types=refused,
            )
        return SklearnPredictor(sio.load(path, trusted=found))
