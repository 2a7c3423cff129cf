"""Model signatures: read prediction inputs into a DataFrame and infer what a model takes and gives.

A signature's inputs are :class:`~loopml.core.entities.data.ColumnSchema` objects, the same
entity a dataset schema uses, so a model and its training data compare directly. They come
from one of two places:

* an input example (:func:`infer_inputs`): a few rows cannot prove that a column never misses a
  value or which categories exist, so from the example alone every column is ``nullable`` and
  has no known categories. Given the training dataset's schema, each column found in it takes
  the schema's facts instead (the whole training set is the better evidence);
* the training dataset's schema alone (:func:`inputs_from_schema`): every column except the
  target, the key and the timestamp.

:func:`infer_output` describes what ``predict`` returns. :func:`to_frame` reads the forms a
caller may send to ``predict`` (a DataFrame, columns, records, one record, Arrow, polars);
:mod:`loopml.registry.enforce` checks them against the signature on every call.

Example:
    >>> inputs = infer_inputs({"age": [31, 45], "city": ["Oslo", "Lima"]})
    >>> [(c.name, c.dtype, c.role.value, c.nullable) for c in inputs]
    [('age', 'int64', 'numeric', True), ('city', 'string', 'categorical', True)]
    >>> infer_output([0.5, 1.5]).task.value
    'regression'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.entities.data import ColumnSchema, DatasetSchema
from loopml.core.entities.registry import ModelOutput, TaskKind
from loopml.core.errors import InvalidArgumentError, did_you_mean

__all__ = ["ACCEPTED_INPUTS", "infer_inputs", "infer_output", "inputs_from_schema", "to_frame"]

#: The forms :func:`to_frame` reads, as the error messages list them.
ACCEPTED_INPUTS = (
    "a pandas DataFrame, a dict of columns (name -> list of values), a list of dict records, "
    "a single dict record (name -> value), a pyarrow Table or a polars DataFrame"
)

_COLUMNAR = (list, tuple, np.ndarray, pd.Series, pd.Index, pd.api.extensions.ExtensionArray)


def to_frame(data: Any) -> pd.DataFrame:
    """Read prediction input into a pandas DataFrame.

    Args:
        data: A pandas DataFrame (returned as is, not copied); a dict of columns
            (``{"age": [31, 45]}``); a list of dict records (``[{"age": 31}, ...]``, missing
            keys become missing values); a single dict record whose values are scalars
            (``{"age": 31}``, one row); a pyarrow Table; or a polars DataFrame.

    Returns:
        The rows as a DataFrame.

    Raises:
        InvalidArgumentError: Another type, a dict mixing lists and scalars, columns of
            different lengths, a list holding something other than dicts, or no rows.

    Example:
        >>> to_frame({"age": 31, "city": "Oslo"}).shape
        (1, 2)
    """
    if isinstance(data, pd.DataFrame):
        frame = data
    elif isinstance(data, Mapping):
        frame = _from_mapping(data)
    elif isinstance(data, list | tuple):
        frame = _from_records(data)
    else:
        frame = _from_foreign(data)
    if len(frame.index) == 0:
        raise InvalidArgumentError(
            f"The input ({type(data).__name__} with columns {list(frame.columns)[:10]}) has no "
            "rows; pass at least one row."
        )
    return frame


def infer_inputs(example: Any, *, schema: DatasetSchema | None = None) -> tuple[ColumnSchema, ...]:
    """Infer a model's input columns from an input example.

    Types and roles come from :func:`loopml.data.schema.infer_schema` on the example. An
    example cannot show that a column never misses a value, nor every category, so from the
    example alone each column is ``nullable=True`` with ``categories=None``. When ``schema``
    (the training dataset's schema) is given, every example column found in it is the schema's
    column (dtype, role, nullability, categories); columns not in it stay as inferred.

    Args:
        example: A few input rows, in any form :func:`to_frame` reads (a pyarrow Table is used
            as is, keeping its exact Arrow types).
        schema: The schema of the training dataset, if known.

    Returns:
        The input columns, in the example's order.

    Raises:
        InvalidArgumentError: The example cannot be read (see :func:`to_frame` and
            :func:`loopml.data.ingest.to_table`), or it holds the schema's target column.

    Example:
        >>> import pyarrow as pa
        >>> from loopml.data.schema import infer_schema
        >>> train = infer_schema(pa.table({"x": [1.0, 2.0], "y": [0, 1]}), target="y")
        >>> infer_inputs({"x": [1.5]}, schema=train)[0].nullable
        False
    """
    from loopml.data.ingest import to_table
    from loopml.data.schema import infer_schema

    table = to_table(example if _is_arrow_table(example) else to_frame(example))
    if schema is not None and schema.target is not None and schema.target in table.column_names:
        raise InvalidArgumentError(
            f"The input example holds {schema.target!r}, the target column of the training "
            "data; a model's inputs must not contain its label: drop it from the input example "
            f"(e.g. X = df.drop(columns=[{schema.target!r}]))."
        )
    inferred = infer_schema(table)
    known = {} if schema is None else {c.name: c for c in schema.columns}
    return tuple(
        known[col.name]
        if col.name in known
        else replace(col, nullable=True, categories=None, other_bucket=False)
        for col in inferred.columns
    )


def inputs_from_schema(
    schema: DatasetSchema, *, exclude: Sequence[str] = ()
) -> tuple[ColumnSchema, ...]:
    """The input columns of a model trained on every feature of a dataset.

    Args:
        schema: The training dataset's schema.
        exclude: More columns the model does not take (a single name may be passed as text).

    Returns:
        The schema's columns, in order, minus its target, key, timestamp and ``exclude``.

    Raises:
        InvalidArgumentError: A name in ``exclude`` is not a column of the schema, or no
            column is left.

    Example:
        >>> from loopml.core.entities.data import ColumnRole, ColumnSchema, DatasetSchema
        >>> cols = tuple(ColumnSchema(n, "double", ColumnRole.NUMERIC, False) for n in "abc")
        >>> [c.name for c in inputs_from_schema(DatasetSchema(cols, target="c"), exclude=["a"])]
        ['b']
    """
    names = schema.names
    excluded = (exclude,) if isinstance(exclude, str) else tuple(exclude)
    for name in excluded:
        if name not in names:
            raise InvalidArgumentError(
                f"The 'exclude' parameter of inputs_from_schema names {name!r}, which is not a "
                f"column of the schema; pass names among {list(names)}."
                f"{did_you_mean(name, names)}"
            )
    dropped = {schema.target, schema.key, schema.timestamp, *excluded}
    inputs = tuple(c for c in schema.columns if c.name not in dropped)
    if not inputs:
        raise InvalidArgumentError(
            f"No input column is left of the schema's columns {list(names)} once the target, "
            "key, timestamp and 'exclude' are removed; exclude fewer columns."
        )
    return inputs


def infer_output(
    predictions: Any, *, classes: Sequence[Any] = (), has_proba: bool = False
) -> ModelOutput:
    """Describe what a model's ``predict`` returns.

    The task is BINARY with two classes, MULTICLASS with more, else REGRESSION when the
    predictions are floats and OTHER otherwise.

    Args:
        predictions: ``predict``'s output on an example: a 1-D array, list, pandas Series,
            pyarrow Array or a single-column 2-D array or DataFrame.
        classes: The class labels of a classifier, in the order of ``predict_proba``'s
            columns (``model.classes_``); NumPy scalars are turned into Python ones.
        has_proba: Whether the model offers ``predict_proba`` (needs ``classes``).

    Returns:
        The output description; ``dtype`` is the Arrow type (as text) of the predictions.

    Raises:
        InvalidArgumentError: Predictions that are not one value per row, have no type (all
            missing) or mix types; classes that are not distinct text, numbers or booleans;
            ``has_proba`` without classes.

    Example:
        >>> out = infer_output(["no", "yes"], classes=["no", "yes"], has_proba=True)
        >>> (out.task.value, out.dtype, out.classes)
        ('binary', 'string', ('no', 'yes'))
    """
    import pyarrow as pa

    labels = tuple(_class_label(c) for c in classes)
    if len(set(labels)) != len(labels):
        raise InvalidArgumentError(
            f"The 'classes' parameter of infer_output must hold distinct labels. Got "
            f"{list(labels)} instead; pass model.classes_."
        )
    if has_proba and not labels:
        raise InvalidArgumentError(
            "The 'has_proba' parameter of infer_output is True but no 'classes' were given; "
            "probabilities need their labels: pass classes=model.classes_."
        )
    arrow_type = _arrow_type(predictions)
    if pa.types.is_null(arrow_type):
        raise InvalidArgumentError(
            "The predictions passed to infer_output are all missing, so their type is unknown; "
            "pass the model's predictions on a real input example."
        )
    if len(labels) == 2:
        task = TaskKind.BINARY
    elif len(labels) > 2:
        task = TaskKind.MULTICLASS
    elif pa.types.is_floating(arrow_type):
        task = TaskKind.REGRESSION
    else:
        task = TaskKind.OTHER
    return ModelOutput(task=task, dtype=_type_text(arrow_type), classes=labels, has_proba=has_proba)


def _from_mapping(data: Mapping[Any, Any]) -> pd.DataFrame:
    columnar = [k for k, v in data.items() if _is_columnar(v)]
    if not columnar:  # one record (or an empty dict, reported as having no rows)
        return pd.DataFrame({k: [v] for k, v in data.items()})
    if len(columnar) < len(data):
        scalars = [k for k in data if k not in set(columnar)]
        raise InvalidArgumentError(
            f"The input dict mixes lists (columns {columnar[:3]}) and single values (columns "
            f"{scalars[:3]}); pass either a dict of columns (name -> list of values) or one "
            "record (name -> value)."
        )
    columns = {k: v.to_pandas() if _is_arrow(v) else v for k, v in data.items()}
    try:
        return pd.DataFrame(columns)
    except ValueError as exc:
        lengths = {str(k): len(v) for k, v in columns.items()}
        raise InvalidArgumentError(
            f"The input dict's columns cannot form a table ({exc}); lengths: {lengths}. "
            "Every column needs one value per row."
        ) from None


def _from_records(data: list[Any] | tuple[Any, ...]) -> pd.DataFrame:
    for position, record in enumerate(data):
        if not isinstance(record, Mapping):
            raise InvalidArgumentError(
                f"A list input must hold dict records (name -> value); item {position} is a "
                f"{type(record).__name__}: {record!r:.80}. Pass [{{'col': value, ...}}, ...] "
                "or a dict of columns."
            )
    return pd.DataFrame(list(data))


def _from_foreign(data: Any) -> pd.DataFrame:
    module = type(data).__module__.split(".")[0]
    name = type(data).__name__
    if module == "pyarrow" and name in ("Table", "RecordBatch"):
        frame: pd.DataFrame = data.to_pandas()
        return frame
    if module == "polars" and name == "DataFrame":
        polars_frame: pd.DataFrame = data.to_pandas()
        return polars_frame
    raise InvalidArgumentError(
        f"Cannot read prediction input from an object of type {type(data).__module__}."
        f"{name}; pass {ACCEPTED_INPUTS}."
    )


def _is_columnar(value: Any) -> bool:
    if isinstance(value, np.ndarray):
        return value.ndim > 0
    return isinstance(value, _COLUMNAR) or _is_arrow(value)


def _is_arrow(value: Any) -> bool:
    return type(value).__module__.startswith("pyarrow") and type(value).__name__.endswith("Array")


def _is_arrow_table(value: Any) -> bool:
    return type(value).__module__.startswith("pyarrow") and type(value).__name__ == "Table"


def _arrow_type(predictions: Any) -> Any:
    import pyarrow as pa

    if isinstance(predictions, pd.DataFrame):
        if predictions.shape[1] != 1:
            raise _not_one_per_row(f"a DataFrame with {predictions.shape[1]} columns")
        predictions = predictions.iloc[:, 0]
    try:
        if isinstance(predictions, pa.Array | pa.ChunkedArray):
            return predictions.type
        if isinstance(predictions, pd.Series):
            return pa.Array.from_pandas(predictions).type
        values = np.asarray(predictions)
        if values.ndim == 2 and values.shape[1] == 1:
            values = values.ravel()
        if values.ndim != 1:
            raise _not_one_per_row(f"an array of shape {values.shape}")
        return pa.array(values, from_pandas=True).type
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidArgumentError(
            f"The predictions passed to infer_output mix types or cannot be typed ({exc}); "
            "predict must return values of one type."
        ) from None


def _not_one_per_row(what: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"The predictions passed to infer_output must be one value per row (1-D); got {what}. "
        "Pass model.predict(X), not predict_proba, or describe one output at a time."
    )


def _type_text(arrow_type: Any) -> str:
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        arrow_type = arrow_type.value_type
    if pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type):
        return "string"
    return str(arrow_type)


def _class_label(label: Any) -> Any:
    if isinstance(label, np.generic):
        label = label.item()
    if isinstance(label, str | int | float | bool):
        return label
    raise InvalidArgumentError(
        f"The 'classes' parameter of infer_output must hold text, numbers or booleans (JSON "
        f"scalars). Got {label!r} ({type(label).__name__}) instead; pass model.classes_."
    )
