"""The model object ``loopml.models.load`` returns, and the per-process cache behind it.

:class:`LoadedModel` puts the signature in front of the flavor's predictor: every call
converts the input (a DataFrame, dict of columns, records or an Arrow table) to the
signature's columns and types, with errors that name the column, then calls the model.

Outputs, as documented in ``docs/registry.md``:

* ``predict(data)`` returns a 1-D NumPy array, one prediction per row;
* ``predict_proba(data)`` returns a DataFrame with one column per class label, in the order
  of ``classes``, indexed like the input rows.

Loaded packages are cached per process by package digest and runtime, so loading the same
version again costs one metadata lookup, and no read of the package or its manifest.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pandas as pd

from loopml.core.entities import ModelManifest, ModelSignature, ModelVersion
from loopml.core.errors import InvalidArgumentError
from loopml.registry.enforce import InputEnforcer
from loopml.registry.flavors.base import Predictor

Runtime = Literal["native", "onnx"]
#: What a caller may ask for: a runtime, or ``auto`` (the checked ONNX export when the version
#: has one and onnxruntime is installed, else the native library).
RuntimeChoice = Literal["native", "onnx", "auto"]
#: What the cache keeps of a package: its manifest and the flavor's loaded predictor.
Loaded = tuple[ModelManifest, Predictor]
#: Loaded predictors kept per process (least recently used ones are dropped first).
CACHE_SIZE = 16
#: A cache key: (package digest, runtime, the types the loader trusts beyond skops' defaults).
CacheKey = tuple[str, str, frozenset[str]]


class LoadedModel:
    """A registered model version ready to predict, with its signature enforced.

    Attributes:
        version: The registered version (name, number, lineage, review).
        manifest: Its package manifest (flavor, library versions, files).
        runtime: ``native`` (the flavor's own library) or ``onnx`` (the checked export).
        raw: The flavor's predictor, for callers that have already checked their input.
    """

    def __init__(
        self,
        version: ModelVersion,
        manifest: ModelManifest,
        predictor: Predictor,
        *,
        runtime: Runtime = "native",
        unseen: str = "allow",
        extra: str = "drop",
    ) -> None:
        self.version = version
        self.manifest = manifest
        self.runtime = runtime
        self.raw = predictor
        self._enforcer = InputEnforcer(version.signature.inputs, extra=extra, unseen=unseen)

    def __repr__(self) -> str:
        return (
            f"LoadedModel({self.version.ref!r}, flavor={self.manifest.flavor!r}, "
            f"runtime={self.runtime!r})"
        )

    @property
    def signature(self) -> ModelSignature:
        """The version's signature."""
        return self.version.signature

    @property
    def classes(self) -> tuple[Any, ...]:
        """Class labels, in the order of :meth:`predict_proba`'s columns (empty: regressor)."""
        return tuple(self.version.signature.output.classes)

    def prepare(self, data: Any) -> pd.DataFrame:
        """Return ``data`` as the DataFrame the model takes (the signature's columns, in
        order, with their types). Raises InvalidArgumentError naming the column at fault."""
        return self._enforcer.enforce(data)

    def predict(self, data: Any) -> np.ndarray:
        """Predict one value per row.

        Args:
            data: A DataFrame, a dict of columns, a list of records, one record (dict), or
                an Arrow table, holding at least the signature's input columns.

        Returns:
            A 1-D array with one prediction per row.

        Raises:
            InvalidArgumentError: A column is missing, has the wrong type, holds nulls it
                may not, or (with ``unseen="error"``) an unseen category.
        """
        frame = self._enforcer.enforce(data)
        return np.asarray(self.raw.predict(frame)).reshape(len(frame))

    def predict_proba(self, data: Any) -> pd.DataFrame:
        """Predict class probabilities.

        Returns:
            A DataFrame with one column per class label (in :attr:`classes` order), indexed
            like the input rows.

        Raises:
            InvalidArgumentError: The model gives no probabilities (a regressor), or the
                input breaks the signature (as :meth:`predict`).
        """
        if not self.version.signature.output.has_proba:
            raise InvalidArgumentError(
                f"Model {self.version.ref} ({self.version.signature.output.task.value}) gives "
                "no class probabilities; call predict(...) instead."
            )
        frame = self._enforcer.enforce(data)
        proba = self.raw.predict_proba(frame)
        if proba is None:
            raise InvalidArgumentError(
                f"Model {self.version.ref} returned no probabilities; call predict(...)."
            )
        return pd.DataFrame(np.asarray(proba), columns=list(self.classes), index=frame.index)


class PredictorCache:
    """A small thread-safe LRU of loaded packages (manifest and predictor) keyed by
    (package digest, runtime, trusted types)."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[CacheKey, Loaded] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[CacheKey, threading.Lock] = {}

    def get_or_load(self, key: CacheKey, load: Callable[[], Loaded]) -> Loaded:
        """Return the cached manifest and predictor for ``key``, loading them once
        (concurrent callers for the same key wait for the one load)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            gate = self._loading.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                if key in self._items:
                    return self._items[key]
            loaded = load()
            with self._lock:
                self._items[key] = loaded
                self._items.move_to_end(key)
                while len(self._items) > self._size:
                    self._items.popitem(last=False)
                self._loading.pop(key, None)
            return loaded

    def clear(self) -> None:
        """Forget every cached predictor."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


#: The process-wide cache used by :class:`~loopml.registry.service.ModelRegistry`.
PREDICTORS = PredictorCache()
