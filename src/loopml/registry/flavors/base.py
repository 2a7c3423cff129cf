"""The flavor template: how a kind of model is detected, saved, loaded and called.

A flavor is one file under ``registry/flavors/`` with a subclass of :class:`Flavor`, listed
in :mod:`loopml.registry.flavors` (the registry by name). The registry service never touches
a library itself: it asks the flavor to

* ``detect`` whether an object is its kind of model,
* ``check_fitted`` it (raising :class:`~loopml.core.errors.NotFittedError`),
* ``save`` the payload files into an empty folder and describe them (``details``),
* ``load`` a folder back into a :class:`Predictor`, the uniform calling surface that
  :class:`~loopml.registry.loaded.LoadedModel` wraps with signature enforcement, given the
  types the loader trusts (used by formats that can refuse a type before building it).

Flavors must import their library lazily (inside methods): ``import loopml.registry`` stays
cheap, and a missing library is an ImportError naming the ``pip install 'loopml[x]'`` line.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Set
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd


class Predictor(Protocol):
    """A loaded model behind one calling convention: a DataFrame of the signature's input
    columns (in order, already type-checked) in, NumPy arrays out."""

    #: Class labels in the order of ``predict_proba``'s columns; empty for regressors.
    classes: tuple[Any, ...]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Return one prediction per row (1-D)."""

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Return class probabilities (rows x classes), or None when the model has none."""


class Flavor(abc.ABC):
    """One kind of model. Subclasses set the class attributes and implement the methods."""

    #: The flavor's name in manifests and messages (``sklearn``).
    name: ClassVar[str]
    #: The distributions whose versions are recorded in the manifest (``("scikit-learn",)``).
    libraries: ClassVar[tuple[str, ...]] = ()
    #: The extra that installs them (``sklearn`` for ``pip install 'loopml[sklearn]'``).
    extra: ClassVar[str | None] = None
    #: True when loading unpickles the payload (the docs say what the hash check protects).
    uses_pickle: ClassVar[bool] = False
    #: False for a flavor chosen by name only (``flavor="skops"``), never by detection.
    detected: ClassVar[bool] = True

    @abc.abstractmethod
    def detect(self, model: object) -> bool:
        """Tell whether ``model`` is this flavor's kind. Must not import the library when
        the object cannot be of its kind (check ``type(model).__module__`` first)."""

    def check_fitted(self, model: Any) -> None:  # noqa: B027 - optional hook
        """Raise :class:`~loopml.core.errors.NotFittedError` when ``model`` is not fitted."""

    @abc.abstractmethod
    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        """Write the payload files of ``model`` into the empty ``folder``.

        Returns:
            JSON-ready details recorded in the manifest and passed back to :meth:`load`
            (estimator class, file names, format).
        """

    @abc.abstractmethod
    def load(
        self, folder: Path, details: Mapping[str, Any], *, trusted: Set[str] = frozenset()
    ) -> Predictor:
        """Load the payload written by :meth:`save` (files already verified).

        Args:
            folder: The package folder.
            details: What :meth:`save` returned (from the manifest).
            trusted: Types the loader trusts beyond the format's defaults, by qualified
                name. Only formats that check types before building objects (skops) use it;
                pickle-based flavors run whatever the payload names.
        """

    @abc.abstractmethod
    def wrap(self, model: Any) -> Predictor:
        """Return the in-memory model behind the :class:`Predictor` convention (used to check
        the input example and to compare a saved package with the original)."""
