"""What passes between steps: each value stored in the content-addressed artifact store in a
format chosen by its type, and loaded back from there by the next step.

- a pandas DataFrame: Parquet; a Series: Parquet of one column (its name kept);
- a NumPy array (not of objects): ``.npy``, written and read with ``allow_pickle=False``;
- JSON values (numbers, strings, booleans, None, lists and str-keyed dicts of them; NumPy
  scalars become Python ones, tuples come back as lists): JSON;
- bytes: as they are;
- a model (scikit-learn, XGBoost, LightGBM, ONNX, any object with ``predict``): the files
  its registry flavor saves (the registry's packaging) and a JSON list of them; loaded back
  by the flavor, verified against their digests first.

Anything else is refused with an error naming the step, the type and what can be returned.
A value's identity is its digest (SHA-256 of the stored bytes; for a model, of the list of
its files' digests), which is what the cache keys of later steps hash.
"""

from __future__ import annotations

import io
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from loopml.core.errors import InvalidArgumentError
from loopml.core.jsonable import Jsonable
from loopml.store.protocols import ArtifactStore

Kind = Literal["dataframe", "series", "ndarray", "json", "bytes", "model"]

#: What a step may return, for messages.
STORABLE = (
    "a pandas DataFrame or Series (stored as Parquet), a NumPy array not of objects (.npy), "
    "JSON values (numbers, strings, booleans, None, lists and str-keyed dicts of them), "
    "bytes, or a fitted model (scikit-learn, XGBoost, LightGBM, ONNX, or any object with a "
    "predict method)"
)
_SERIES_COLUMN = "__loopml_series__"
_EXTENSIONS: dict[str, str] = {
    "dataframe": ".parquet",
    "series": ".parquet",
    "ndarray": ".npy",
    "json": ".json",
    "bytes": ".bin",
    "model": ".model.json",
}


@dataclass(frozen=True)
class StoredValue(Jsonable):
    """A value stored between steps.

    Attributes:
        kind: How it is stored (see the module docstring).
        digest: SHA-256 of the stored bytes (for a model, of its file list): its identity.
        size: Bytes stored (for a model, of its files).
        type: The Python type it was, for people (``pandas.DataFrame``).
    """

    kind: Kind
    digest: str
    size: int
    type: str

    @property
    def filename(self) -> str:
        """A file name for the value in a run's artifact index (``<digest>.parquet``)."""
        return f"{self.digest[:12]}{_EXTENSIONS[self.kind]}"


def type_name(value: Any) -> str:
    """``module.Class`` of a value (``builtins`` left out)."""
    kind = type(value)
    module = kind.__module__.split(".")[0]
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def store_value(artifacts: ArtifactStore, value: Any, *, what: str) -> StoredValue:
    """Store ``value`` (see the module docstring) and return where it is.

    Args:
        artifacts: The artifact store.
        value: What a step returned.
        what: For messages: ``output 0 of step 'fit'``.

    Raises:
        InvalidArgumentError: The value cannot be stored; the message names ``what``, its
            type and what can be returned.
    """
    import numpy as np
    import pandas as pd

    kind: Kind
    if isinstance(value, pd.DataFrame):
        kind, data = "dataframe", _parquet(value, what)
    elif isinstance(value, pd.Series):
        column = _SERIES_COLUMN if value.name is None else str(value.name)
        kind, data = "series", _parquet(value.to_frame(name=column), what)
    elif isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise _unstorable(value, what, "its dtype is object, which .npy stores only by pickle")
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        kind, data = "ndarray", buffer.getvalue()
    elif isinstance(value, bytes | bytearray | memoryview):
        kind, data = "bytes", bytes(value)
    elif _is_json(value):
        text = json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), allow_nan=True)
        kind, data = "json", text.encode()
    else:
        return _store_model(artifacts, value, what)
    blob = artifacts.put_bytes(data)
    return StoredValue(kind, blob.digest, blob.size, type_name(value))


def load_value(artifacts: ArtifactStore, stored: StoredValue) -> Any:
    """Load a stored value back (verified against its digest).

    Raises:
        ArtifactIntegrityError: The stored bytes changed.
        NotFoundError: The value is no longer in the artifact store.
    """
    data = artifacts.get_bytes(stored.digest)
    if stored.kind == "dataframe":
        return _read_parquet(data)
    if stored.kind == "series":
        series = _read_parquet(data).iloc[:, 0]
        return series.rename(None) if series.name == _SERIES_COLUMN else series
    if stored.kind == "ndarray":
        import numpy as np

        return np.load(io.BytesIO(data), allow_pickle=False)
    if stored.kind == "bytes":
        return data
    if stored.kind == "json":
        return json.loads(data)
    return _load_model(artifacts, json.loads(data))


# -- tables and JSON ----------------------------------------------------------------------


def _parquet(frame: Any, what: str) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pa.Table.from_pandas(frame)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        reason = f"Parquet cannot hold it ({type(exc).__name__}: {exc})"
        raise _unstorable(frame, what, reason) from None
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def _read_parquet(data: bytes) -> Any:
    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(data)).to_pandas()


def _is_json(value: Any) -> bool:
    import numpy as np

    if value is None or isinstance(value, bool | int | float | str | np.bool_):
        return True
    if isinstance(value, np.number):
        return not isinstance(value, np.complexfloating)
    if isinstance(value, list | tuple):
        return all(_is_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v) for k, v in value.items())
    return False


def _plain(value: Any) -> Any:
    """NumPy scalars as Python ones (``np.float64(0.9)`` -> ``0.9``), recursively."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    item = getattr(value, "item", None)
    if item is not None and not isinstance(value, bool | int | float | str):
        value = item()
    if isinstance(value, float) and not math.isfinite(value):
        return value  # json writes NaN / Infinity, and reads them back
    return value


def _unstorable(value: Any, what: str, reason: str | None = None) -> InvalidArgumentError:
    why = f" ({reason})" if reason else ""
    return InvalidArgumentError(
        f"The {what} is a {type_name(value)}, which loopml cannot store between steps{why}. "
        f"A step may return {STORABLE}, or a tuple of them declared in its return "
        "annotation (-> tuple[pd.DataFrame, pd.Series]). Return one of these, or save the "
        "object yourself and return its bytes."
    )


# -- models -------------------------------------------------------------------------------


def _store_model(artifacts: ArtifactStore, model: Any, what: str) -> StoredValue:
    from loopml.registry.flavors import detect_flavor

    if isinstance(model, type) or (callable(model) and not hasattr(model, "predict")):
        raise _unstorable(model, what)
    try:
        flavor = detect_flavor(model)
    except InvalidArgumentError:
        raise _unstorable(model, what) from None
    with tempfile.TemporaryDirectory(prefix="loopml-step-model-") as tmp:
        folder = Path(tmp)
        try:
            details = flavor.save(model, folder)
        except InvalidArgumentError as exc:
            raise _unstorable(model, what, str(exc)) from None
        files: list[tuple[str, str, int]] = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            blob = artifacts.put_file(path)
            files.append((path.relative_to(folder).as_posix(), blob.digest, blob.size))
    listing = {"flavor": flavor.name, "details": details, "files": files}
    text = json.dumps(listing, sort_keys=True, separators=(",", ":"))
    blob = artifacts.put_bytes(text.encode())
    return StoredValue("model", blob.digest, sum(f[2] for f in files), type_name(model))


def _load_model(artifacts: ArtifactStore, listing: dict[str, Any]) -> Any:
    from loopml.registry.flavors import get_flavor

    flavor = get_flavor(listing["flavor"])
    with tempfile.TemporaryDirectory(prefix="loopml-step-model-") as tmp:
        folder = Path(tmp)
        for path, digest, _size in listing["files"]:
            dest = folder / path
            dest.parent.mkdir(parents=True, exist_ok=True)
            artifacts.get_file(digest, dest)  # verified before it appears
        predictor = flavor.load(folder, listing["details"])
    return getattr(predictor, "model", predictor)
