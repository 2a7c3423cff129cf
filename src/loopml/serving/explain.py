"""Per-prediction explanations on the model server: :class:`Explainers`.

``POST /v2/models/{name}/explain`` takes the body of ``/infer`` and answers, for each row, a
base value and one contribution per input column (they add up to the model's raw output for
the row), for tree and linear models (:mod:`loopml.registry.contributions`). A version is
explained with its native package (an ONNX copy has no trees or coefficients to read), and
its explainer is built once, on its first request, then kept while it is served.

A linear model's contributions are ``coef * (x - mean)``: the mean is taken over up to
:data:`BACKGROUND_ROWS` rows of the version's validation dataset (else its training dataset).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from loopml.core.entities import ModelVersion
from loopml.registry import LoadedModel, ModelRegistry
from loopml.registry.contributions import RowExplainer, model_kind, unsupported

#: Rows the linear models' background mean is taken over, at most.
BACKGROUND_ROWS = 1000
#: Explainers kept (a few versions are served at once: champion, canary, shadows).
KEEP = 8


class Explainers:
    """The row explainer of each served version, built on first use and kept.

    Args:
        registry: Where versions are loaded (native runtime) and background rows read.
    """

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry
        self._built: dict[str, RowExplainer] = {}
        self._lock = threading.Lock()

    def explainer(self, served: LoadedModel) -> RowExplainer:
        """The explainer of a served version (its native package).

        Raises:
            InvalidArgumentError: The model is neither a tree nor a linear model (naming
                what is supported), or a linear model without a dataset to take the mean on.
        """
        version = served.version
        with self._lock:
            found = self._built.get(version.manifest_digest)
        if found is not None:
            return found
        native = served if served.runtime == "native" else self.registry.load(version)
        if model_kind(native) is None:
            raise unsupported(native)
        background = _background(self.registry, version) if model_kind(native) == "linear" else None
        built = RowExplainer(native, background=background)
        with self._lock:
            if len(self._built) >= KEEP:
                self._built.pop(next(iter(self._built)))
            self._built[version.manifest_digest] = built
        return built

    def explain(
        self, served: LoadedModel, columns: Mapping[str, Any], *, request_id: str | None = None
    ) -> dict[str, Any]:
        """The JSON answer explaining the rows of ``columns`` (one list per input column)."""
        import pandas as pd

        explainer = self.explainer(served)
        found = explainer.explain(pd.DataFrame(dict(columns)))
        version = served.version
        answer: dict[str, Any] = {
            "model_name": version.name,
            "model_version": str(version.version),
            "kind": found.kind,
            "method": found.method,
            "explained": found.explained,
            "features": list(found.features),
            "base_values": _floats(found.base),
            "contributions": [_floats(row) for row in found.values],
        }
        if found.classes:
            answer["classes"] = [_plain(c) for c in found.classes]
        if request_id is not None:
            answer["id"] = request_id
        return answer


def _background(registry: ModelRegistry, version: ModelVersion) -> Any:
    ref = version.validation_data or version.training_data
    if ref is None:
        return None
    table = registry.datasets.read_table(registry.datasets.get(ref))
    return table.slice(0, BACKGROUND_ROWS).to_pandas()


def _floats(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, float)]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
