"""Turn Python objects into artifact bytes: DataFrames (Parquet), matplotlib figures (PNG),
plotly figures (JSON), dicts (JSON or YAML). Heavy libraries are imported only when needed."""

from __future__ import annotations

import io
import json
import math
from typing import Any

from loopml.core.errors import InvalidArgumentError

SUPPORTED = (
    "a file or folder path, bytes, a pandas DataFrame, a pyarrow Table, "
    "a matplotlib Figure or a plotly Figure"
)


def _module(obj: Any) -> str:
    return type(obj).__module__.split(".")[0]


def object_kind(obj: Any) -> str | None:
    """Name the kind of in-memory object ``obj`` is, or None when it is not one we serialize."""
    module = _module(obj)
    name = type(obj).__name__
    if isinstance(obj, bytes | bytearray | memoryview):
        return "bytes"
    if module == "pandas" and name == "DataFrame":
        return "dataframe"
    if module == "pyarrow" and name == "Table":
        return "arrow"
    if module == "matplotlib" and hasattr(obj, "savefig"):
        return "matplotlib"
    if module == "plotly" and hasattr(obj, "to_json"):
        return "plotly"
    return None


DEFAULT_NAMES = {
    "dataframe": "data.parquet",
    "arrow": "data.parquet",
    "matplotlib": "figure.png",
    "plotly": "figure.plotly.json",
}


def to_bytes(obj: Any, kind: str) -> bytes:
    """Serialize an object of a kind named by :func:`object_kind`."""
    if kind == "bytes":
        return bytes(obj)
    if kind in {"dataframe", "arrow"}:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(obj) if kind == "dataframe" else obj
        sink = io.BytesIO()
        pq.write_table(table, sink)
        return sink.getvalue()
    if kind == "matplotlib":
        sink = io.BytesIO()
        obj.savefig(sink, format="png", dpi=100, bbox_inches="tight")
        return sink.getvalue()
    if kind == "plotly":
        return str(obj.to_json()).encode()
    raise InvalidArgumentError(f"Cannot log an object of kind {kind!r}; supported: {SUPPORTED}.")


def _json_ready(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # NumPy scalars
        return _json_ready(value.item())
    if hasattr(value, "tolist") and callable(value.tolist):  # NumPy arrays
        return _json_ready(value.tolist())
    return value


def dict_to_bytes(data: Any, name: str) -> bytes:
    """Serialize a dict to JSON (``.json``) or YAML (``.yaml``/``.yml``, needs PyYAML)."""
    if not isinstance(data, dict):
        raise InvalidArgumentError(
            f"log_dict needs a dict; got {type(data).__name__}. Wrap it: {{'value': ...}}."
        )
    if name.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise InvalidArgumentError(
                f"Writing {name!r} as YAML needs PyYAML: pip install pyyaml (or use .json)."
            ) from None
        return str(yaml.safe_dump(_json_ready(data), sort_keys=False)).encode()
    if not name.endswith(".json"):
        raise InvalidArgumentError(
            f"log_dict writes JSON or YAML; name {name!r} must end in .json, .yaml or .yml."
        )
    try:
        return json.dumps(_json_ready(data), indent=2, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"The dict for {name!r} is not JSON-serializable: {exc}."
        ) from None
