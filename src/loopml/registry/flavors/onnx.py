"""The ONNX flavor: an ``onnx.ModelProto`` saved as ``model.onnx``, served by onnxruntime.

An ONNX graph carries no pickle, so loading it runs no Python code from the package. The
:class:`OnnxPredictor` feeds a DataFrame to the graph in one of two ways:

* **one matrix input** (``X``, shape ``[N, n_columns]``): the frame's values as one array of
  the input's element type (``float``, ``double`` or ``int64``);
* **one input per column** (shape ``[N, 1]``), matched to the columns by name, as
  scikit-learn pipelines that select columns by name are converted. The export records the
  column behind each input in the model metadata (``loopml.columns``), because skl2onnx
  renames inputs (``mean radius`` becomes ``mean_radius``).

Classifiers converted with ``zipmap=False`` return labels (output 0) and a probability matrix
(output 1); regressors return one ``[N, 1]`` output. Class labels are read from the model
metadata ``loopml.classes`` (JSON), which :func:`loopml.registry.onnx_export.convert_sklearn`
writes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence, Set
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from loopml.core.errors import InvalidArgumentError, ModelExportError, did_you_mean
from loopml.registry.flavors.base import Flavor

if TYPE_CHECKING:
    import onnx
    import onnxruntime

__all__ = ["CLASSES_KEY", "COLUMNS_KEY", "MODEL_FILE", "OnnxFlavor", "OnnxPredictor"]

#: The payload file written by :meth:`OnnxFlavor.save`.
MODEL_FILE = "model.onnx"
#: Model metadata key holding the class labels (JSON list, ``predict_proba`` column order).
CLASSES_KEY = "loopml.classes"
#: Model metadata key holding the column fed to each graph input (JSON list, input order).
COLUMNS_KEY = "loopml.columns"

_NUMPY_TYPES: dict[str, type[np.generic]] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
}
_STRING_TYPE = "tensor(string)"
_INSTALL = "pip install 'loopml[onnx]'"


def _import_runtime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"Loading an ONNX model needs onnxruntime. Install it with: {_INSTALL}"
        ) from exc
    return onnxruntime


def _metadata_list(model: onnx.ModelProto, key: str) -> list[Any] | None:
    for prop in model.metadata_props:
        if prop.key == key:
            value = json.loads(prop.value)
            return list(value) if isinstance(value, list) else None
    return None


def _dim(dim: Any) -> int | None:
    return int(dim.dim_value) if dim.HasField("dim_value") else None


class OnnxPredictor:
    """An onnxruntime session behind the :class:`~loopml.registry.flavors.base.Predictor`
    convention.

    Args:
        session: An ``onnxruntime.InferenceSession``.
        classes: Class labels in the order of the probability output's columns; empty for
            regressors.
        columns: The frame column fed to each graph input, in input order; empty to match
            inputs to columns by name.

    Example:
        >>> predictor = OnnxPredictor.from_bytes(data, classes=(0, 1))  # doctest: +SKIP
        >>> predictor.predict(frame)  # doctest: +SKIP
    """

    def __init__(
        self,
        session: onnxruntime.InferenceSession,
        *,
        classes: Sequence[Any] = (),
        columns: Sequence[str] = (),
    ) -> None:
        self.session = session
        self.classes: tuple[Any, ...] = tuple(classes)
        self._inputs = list(session.get_inputs())
        self._outputs = [output.name for output in session.get_outputs()]
        names = [str(node.name) for node in self._inputs]
        self._columns = list(columns) if len(columns) == len(names) else names

    @classmethod
    def from_bytes(
        cls,
        data: bytes,
        *,
        classes: Sequence[Any] | None = None,
        columns: Sequence[str] | None = None,
    ) -> OnnxPredictor:
        """Build a predictor from a serialized ``ModelProto``.

        Args:
            data: The ``model.onnx`` bytes.
            classes: Class labels; None reads them from the ``loopml.classes`` metadata.
            columns: Column per graph input; None reads them from ``loopml.columns``.

        Returns:
            The predictor, running on the CPU execution provider.

        Raises:
            ModelExportError: When onnxruntime cannot load the bytes.
        """
        import onnx

        try:
            model = onnx.load_from_string(data)
        except Exception as exc:
            raise ModelExportError(
                f"The ONNX payload ({len(data)} bytes) is not a valid ModelProto: {exc}. "
                "Pass the bytes of model.onnx as written by the ONNX flavor."
            ) from exc
        if classes is None:
            classes = _metadata_list(model, CLASSES_KEY) or ()
        if columns is None:
            columns = [str(c) for c in _metadata_list(model, COLUMNS_KEY) or ()]
        return cls(_session(data), classes=classes, columns=columns)

    def _feeds(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        first = self._inputs[0]
        width = first.shape[1] if len(first.shape) == 2 else None
        single_matrix = len(self._inputs) == 1 and (width != 1 or frame.shape[1] == 1)
        if single_matrix:
            return {first.name: _as_type(frame.to_numpy(), first.type, name=first.name)}
        feeds: dict[str, np.ndarray] = {}
        for node, column in zip(self._inputs, self._columns, strict=True):
            if column not in frame.columns:
                raise InvalidArgumentError(
                    f"The ONNX model needs the column {column!r} (graph input {node.name!r}), "
                    f"which the frame does not have. Got columns {list(frame.columns)!r}."
                    f"{did_you_mean(column, [str(c) for c in frame.columns])} "
                    "Pass every input column of the model's signature."
                )
            values = frame[column].to_numpy().reshape(-1, 1)
            feeds[node.name] = _as_type(values, node.type, name=column)
        return feeds

    def _run(self, frame: pd.DataFrame) -> list[np.ndarray]:
        return [np.asarray(out) for out in self.session.run(None, self._feeds(frame))]

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Return the graph's first output, one value per row (labels for classifiers)."""
        return self._run(frame)[0].reshape(len(frame), -1)[:, 0]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Return the probability matrix (output 1 of a classifier), or None for regressors."""
        if len(self._outputs) < 2:
            return None  # a regressor: no need to run the graph
        return self.predict_with_proba(frame)[1]

    def predict_with_proba(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None]:
        """Labels and the probability matrix (None for regressors) from one run of the graph."""
        outputs = self._run(frame)
        labels = outputs[0].reshape(len(frame), -1)[:, 0]
        if len(outputs) < 2 or outputs[1].ndim != 2:
            return labels, None
        return labels, outputs[1]


def _as_type(values: np.ndarray, onnx_type: str, *, name: str) -> np.ndarray:
    if onnx_type == _STRING_TYPE:
        return np.array(
            ["" if pd.isna(v) else str(v) for v in values.ravel()], dtype=object
        ).reshape(values.shape)
    target = _NUMPY_TYPES.get(onnx_type)
    if target is None:
        raise InvalidArgumentError(
            f"The ONNX input {name!r} has the type {onnx_type}, which the ONNX flavor cannot "
            f"feed. Supported input types: {sorted([*_NUMPY_TYPES, _STRING_TYPE])}. Re-export "
            "the model with float, double, int64 or string inputs."
        )
    try:
        return np.asarray(values, dtype=target)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"The values of {name!r} cannot be cast to the ONNX input type {onnx_type}: {exc}. "
            "Pass numeric values (no missing values) for numeric inputs."
        ) from exc


def _session(source: bytes | str) -> onnxruntime.InferenceSession:
    runtime = _import_runtime()
    options = runtime.SessionOptions()
    options.log_severity_level = 3
    session: onnxruntime.InferenceSession = runtime.InferenceSession(
        source, sess_options=options, providers=["CPUExecutionProvider"]
    )
    return session


class OnnxFlavor(Flavor):
    """ONNX models (``onnx.ModelProto``), served by onnxruntime on the CPU."""

    name: ClassVar[str] = "onnx"
    libraries: ClassVar[tuple[str, ...]] = ("onnx", "onnxruntime")
    extra: ClassVar[str | None] = "onnx"
    uses_pickle: ClassVar[bool] = False

    def detect(self, model: object) -> bool:
        """Tell whether ``model`` is an ``onnx.ModelProto`` (without importing onnx otherwise)."""
        if not type(model).__module__.startswith("onnx"):
            return False
        import onnx

        return isinstance(model, onnx.ModelProto)

    def save(self, model: Any, folder: Path) -> dict[str, Any]:
        """Write ``model.onnx`` and describe the graph's inputs, outputs and classes.

        Args:
            model: An ``onnx.ModelProto``.
            folder: An empty folder.

        Returns:
            ``{"file", "inputs": [{"name", "type", "shape"}], "outputs", "classes",
            "columns", "opsets"}``.
        """
        import onnx

        (folder / MODEL_FILE).write_bytes(model.SerializeToString())
        inputs = []
        for node in model.graph.input:
            tensor = node.type.tensor_type
            inputs.append(
                {
                    "name": node.name,
                    "type": onnx.TensorProto.DataType.Name(tensor.elem_type).lower(),
                    "shape": [_dim(d) for d in tensor.shape.dim],
                }
            )
        details: dict[str, Any] = {
            "file": MODEL_FILE,
            "inputs": inputs,
            "outputs": [node.name for node in model.graph.output],
            "opsets": {op.domain or "ai.onnx": int(op.version) for op in model.opset_import},
        }
        classes = _metadata_list(model, CLASSES_KEY)
        if classes is not None:
            details["classes"] = classes
        columns = _metadata_list(model, COLUMNS_KEY)
        if columns is not None:
            details["columns"] = columns
        return details

    def load(
        self, folder: Path, details: Mapping[str, Any], *, trusted: Set[str] = frozenset()
    ) -> OnnxPredictor:
        """Open ``model.onnx`` in an onnxruntime session (CPU) wrapped in an
        :class:`OnnxPredictor`."""
        path = folder / str(details.get("file", MODEL_FILE))
        return OnnxPredictor(
            _session(str(path)),
            classes=tuple(details.get("classes", ())),
            columns=[str(c) for c in details.get("columns", ())],
        )

    def wrap(self, model: Any) -> OnnxPredictor:
        """Return an in-memory ``ModelProto`` behind the predictor convention."""
        return OnnxPredictor.from_bytes(model.SerializeToString())
