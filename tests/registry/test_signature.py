"""Signatures: reading inputs, inferring inputs/outputs, and enforcing them on predict input."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loopml.core.entities.data import ColumnRole, ColumnSchema, DatasetSchema
from loopml.core.entities.registry import ModelSignature, TaskKind
from loopml.core.errors import InvalidArgumentError
from loopml.data.schema import infer_schema
from loopml.registry.enforce import InputEnforcer, enforce
from loopml.registry.signature import infer_inputs, infer_output, inputs_from_schema, to_frame

STR = pd.api.types.pandas_dtype("str")

AGE = ColumnSchema("age", "int64", ColumnRole.NUMERIC, nullable=False)
INCOME = ColumnSchema("income", "double", ColumnRole.NUMERIC, nullable=True)
CITY = ColumnSchema("city", "string", ColumnRole.CATEGORICAL, False, ("oslo", "lima"), False)
FLAG = ColumnSchema("flag", "bool", ColumnRole.BOOLEAN, nullable=False)
SEEN = ColumnSchema("seen", "timestamp[us, tz=UTC]", ColumnRole.DATETIME, nullable=False)
INPUTS = (AGE, INCOME, CITY, FLAG, SEEN)


def good_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": np.array([31, 45], dtype=np.int64),
            "income": [1.5, np.nan],
            "city": pd.Series(["oslo", "lima"], dtype=STR),
            "flag": [True, False],
            "seen": pd.to_datetime(["2024-01-01", "2024-01-02"], utc=True).as_unit("us"),
        }
    )


def expected_dtypes() -> list[Any]:
    return [np.dtype(np.int64), np.dtype(np.float64), STR, np.dtype(bool), "datetime64[us, UTC]"]


# -- to_frame ----------------------------------------------------------------------------------


def test_to_frame_returns_a_dataframe_as_is() -> None:
    frame = good_frame()
    assert to_frame(frame) is frame


@pytest.mark.parametrize(
    "data",
    [
        {"a": [1, 2], "b": ["x", "y"]},
        {"a": np.array([1, 2]), "b": pd.Series(["x", "y"])},
        {"a": pa.array([1, 2]), "b": pa.array(["x", "y"])},
        {"a": pd.array([1, 2], dtype="Int64"), "b": pd.array(["x", "y"], dtype=STR)},
        [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}],
        pa.table({"a": [1, 2], "b": ["x", "y"]}),
        pa.table({"a": [1, 2], "b": ["x", "y"]}).to_batches()[0],
    ],
    ids=[
        "dict-lists",
        "dict-arrays",
        "dict-arrow",
        "dict-pandas-arrays",
        "records",
        "arrow-table",
        "record-batch",
    ],
)
def test_to_frame_reads_each_form(data: Any) -> None:
    frame = to_frame(data)
    assert list(frame.columns) == ["a", "b"]
    assert frame["a"].tolist() == [1, 2]
    assert frame["b"].tolist() == ["x", "y"]


def test_to_frame_reads_a_single_record_as_one_row() -> None:
    frame = to_frame({"a": 1, "b": "x", "c": None})
    assert frame.shape == (1, 3)
    assert frame["b"].tolist() == ["x"]


def test_to_frame_fills_keys_missing_from_some_records() -> None:
    frame = to_frame([{"a": 1}, {"a": 2, "b": "y"}])
    assert frame["b"].isna().tolist() == [True, False]


def test_to_frame_reads_polars_when_installed() -> None:
    pl = pytest.importorskip("polars")
    frame = to_frame(pl.DataFrame({"a": [1, 2]}))
    assert isinstance(frame, pd.DataFrame)
    assert frame["a"].tolist() == [1, 2]


@pytest.mark.parametrize(
    "data", [[], {}, pd.DataFrame({"a": []}), {"a": []}, pa.table({"a": pa.array([], pa.int64())})]
)
def test_to_frame_refuses_empty_input(data: Any) -> None:
    with pytest.raises(InvalidArgumentError, match="has no rows; pass at least one row"):
        to_frame(data)


def test_to_frame_refuses_other_types_listing_the_accepted_forms() -> None:
    with pytest.raises(InvalidArgumentError, match=r"type builtins\.str; pass a pandas DataFrame"):
        to_frame("age=3")


def test_to_frame_refuses_a_list_of_non_records() -> None:
    with pytest.raises(InvalidArgumentError, match="item 0 is a list"):
        to_frame([[1, 2], [3, 4]])


def test_to_frame_refuses_a_dict_mixing_lists_and_scalars() -> None:
    with pytest.raises(InvalidArgumentError, match=r"mixes lists \(columns \['a'\]\)"):
        to_frame({"a": [1, 2], "b": 3})


def test_to_frame_refuses_columns_of_different_lengths() -> None:
    with pytest.raises(InvalidArgumentError, match="lengths: {'a': 2, 'b': 1}"):
        to_frame({"a": [1, 2], "b": [3]})


# -- infer_inputs / inputs_from_schema ---------------------------------------------------------


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    datasets = pytest.importorskip("sklearn.datasets")
    frame: pd.DataFrame = datasets.load_breast_cancer(as_frame=True).frame
    # a categorical feature, so the schema has categories to hand over
    size = np.where(frame["mean radius"] > 15, "large", "small")
    return frame.assign(size=pd.Series(size, dtype=STR, index=frame.index))


@pytest.fixture(scope="module")
def cancer_schema(cancer: pd.DataFrame) -> DatasetSchema:
    return infer_schema(pa.Table.from_pandas(cancer, preserve_index=False), target="target")


def test_infer_inputs_from_the_example_alone(cancer: pd.DataFrame) -> None:
    example = cancer.drop(columns=["target"]).head(5)
    inputs = infer_inputs(example)
    assert [c.name for c in inputs] == list(example.columns)
    assert inputs[0] == ColumnSchema("mean radius", "double", ColumnRole.NUMERIC, nullable=True)
    size = inputs[-1]
    assert (size.dtype, size.role, size.nullable, size.categories) == (
        "string",
        ColumnRole.CATEGORICAL,
        True,
        None,
    )


def test_infer_inputs_takes_the_schema_facts(
    cancer: pd.DataFrame, cancer_schema: DatasetSchema
) -> None:
    example = cancer.drop(columns=["target"]).head(3)
    inputs = infer_inputs(example, schema=cancer_schema)
    assert all(not c.nullable for c in inputs)
    size = inputs[-1]
    assert size.categories == ("small", "large")
    assert size.other_bucket is False
    assert inputs == tuple(c for c in cancer_schema.columns if c.name != "target")


def test_infer_inputs_keeps_columns_unknown_to_the_schema(cancer_schema: DatasetSchema) -> None:
    inputs = infer_inputs({"mean radius": [14.0], "extra": ["x"]}, schema=cancer_schema)
    assert inputs[0] == cancer_schema.column("mean radius")
    assert inputs[1] == ColumnSchema("extra", "string", ColumnRole.CATEGORICAL, nullable=True)


def test_infer_inputs_refuses_the_target_in_the_example(
    cancer: pd.DataFrame, cancer_schema: DatasetSchema
) -> None:
    with pytest.raises(InvalidArgumentError, match="'target'.*drop it from the input example"):
        infer_inputs(cancer.head(3), schema=cancer_schema)


def test_infer_inputs_keeps_arrow_types_of_a_table() -> None:
    table = pa.table({"n": pa.array([1, 2], pa.int32()), "d": pa.array([1, 2], pa.date32())})
    assert [c.dtype for c in infer_inputs(table)] == ["int32", "date32[day]"]


def test_inputs_from_schema_drops_target_key_timestamp_and_excluded() -> None:
    table = pa.table({"id": ["a", "b"], "ts": [1, 2], "x": [1.0, 2.0], "z": [3, 4], "y": [0, 1]})
    schema = infer_schema(table, target="y", key="id", timestamp="ts")
    assert [c.name for c in inputs_from_schema(schema)] == ["x", "z"]
    assert [c.name for c in inputs_from_schema(schema, exclude=["z"])] == ["x"]
    assert [c.name for c in inputs_from_schema(schema, exclude="z")] == ["x"]


def test_inputs_from_schema_refuses_unknown_exclusions(cancer_schema: DatasetSchema) -> None:
    with pytest.raises(InvalidArgumentError, match="Did you mean 'mean radius'"):
        inputs_from_schema(cancer_schema, exclude=["mean radios"])


# -- infer_output ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("predictions", "classes", "task", "dtype"),
    [
        (np.array([0, 1, 1]), np.array([0, 1]), TaskKind.BINARY, "int64"),
        (["a", "b", "c"], ["a", "b", "c"], TaskKind.MULTICLASS, "string"),
        (pd.Series(["a", "b"], dtype=STR), ["a", "b"], TaskKind.BINARY, "string"),
        (np.array([[0.5], [1.5]]), (), TaskKind.REGRESSION, "double"),
        (np.array([0.5, 1.5], dtype=np.float32), (), TaskKind.REGRESSION, "float"),
        (np.array([1, 2]), (), TaskKind.OTHER, "int64"),
        (pa.array(["x"]), (), TaskKind.OTHER, "string"),
    ],
)
def test_infer_output(predictions: Any, classes: Any, task: TaskKind, dtype: str) -> None:
    output = infer_output(predictions, classes=classes)
    assert (output.task, output.dtype) == (task, dtype)
    assert all(type(c) in (int, str) for c in output.classes)


def test_infer_output_refuses_bad_arguments() -> None:
    with pytest.raises(InvalidArgumentError, match=r"one value per row \(1-D\)"):
        infer_output(np.zeros((3, 2)))
    with pytest.raises(InvalidArgumentError, match="distinct labels"):
        infer_output([1, 0], classes=[1, 1])
    with pytest.raises(InvalidArgumentError, match="no 'classes' were given"):
        infer_output([1, 0], has_proba=True)
    with pytest.raises(InvalidArgumentError, match="all missing"):
        infer_output([None, None])
    with pytest.raises(InvalidArgumentError, match="JSON scalars"):
        infer_output([1], classes=[(1, 2), 3])


def test_signature_round_trips_through_json(
    cancer: pd.DataFrame, cancer_schema: DatasetSchema
) -> None:
    example = cancer.drop(columns=["target"]).head(3)
    signature = ModelSignature(
        inputs=infer_inputs(example, schema=cancer_schema),
        output=infer_output(np.array([0, 1]), classes=np.array([0, 1]), has_proba=True),
    )
    text = json.dumps(signature.to_dict())
    assert ModelSignature.from_dict(json.loads(text)) == signature
    assert InputEnforcer(signature).enforce(example).equals(example)


# -- enforcement -------------------------------------------------------------------------------


def test_fast_path_returns_a_new_frame_with_the_trained_dtypes() -> None:
    frame = good_frame()
    out = InputEnforcer(INPUTS).enforce(frame)
    assert out is not frame
    assert out.dtypes.tolist() == expected_dtypes()
    assert out.equals(frame)


def test_reorders_and_drops_extra_columns() -> None:
    frame = good_frame()[["seen", "flag", "city", "income", "age"]].assign(other=1)
    out = enforce(frame, INPUTS)
    assert list(out.columns) == ["age", "income", "city", "flag", "seen"]
    assert out.dtypes.tolist() == expected_dtypes()


def test_extra_error_refuses_extra_columns() -> None:
    with pytest.raises(InvalidArgumentError, match="1 columns the model does not take: 'other'"):
        enforce(good_frame().assign(other=1), INPUTS, extra="error")


def test_missing_columns_are_all_listed_with_what_the_model_takes() -> None:
    frame = good_frame().drop(columns=["age", "flag"]).assign(Age=3)
    with pytest.raises(
        InvalidArgumentError,
        match=r"missing 2 of the model's 5 columns: 'age', 'flag'\. Did you mean 'Age'\? "
        r"The model takes: 'age', 'income', 'city', 'flag', 'seen'",
    ):
        enforce(frame, INPUTS)


def test_duplicate_input_columns_are_refused() -> None:
    frame = pd.concat([good_frame(), good_frame()[["age"]]], axis=1)
    with pytest.raises(InvalidArgumentError, match=r"duplicate columns \['age'\]"):
        enforce(frame, INPUTS)


@pytest.mark.parametrize(
    "data",
    [
        {
            "age": ["31", "45"],
            "income": ["1.5", None],
            "city": ["oslo", "lima"],
            "flag": ["true", "False"],
            "seen": ["2024-01-01T00:00:00Z", "2024-01-02"],
        },
        [
            {"age": 31, "income": 1.5, "city": "oslo", "flag": 1, "seen": "2024-01-01"},
            {"age": 45.0, "city": "lima", "flag": 0, "seen": "2024-01-02T00:00:00+00:00"},
        ],
        pa.table(
            {
                "age": pa.array([31, 45], pa.int32()),
                "income": [1.5, None],
                "city": pa.array(["oslo", "lima"]).dictionary_encode(),
                "flag": [True, False],
                "seen": pa.array([1704067200, 1704153600], pa.timestamp("s", tz="UTC")),
            }
        ),
    ],
    ids=["text-columns", "records", "arrow"],
)
def test_converts_each_input_form_to_the_trained_dtypes(data: Any) -> None:
    out = enforce(data, INPUTS)
    assert out.dtypes.tolist() == expected_dtypes()
    assert out.equals(good_frame())


def test_single_record() -> None:
    record = {"age": 31, "income": 1.5, "city": "oslo", "flag": True, "seen": "2024-01-01"}
    out = enforce(record, INPUTS)
    assert out.dtypes.tolist() == expected_dtypes()
    assert out.equals(good_frame().head(1).assign(income=1.5))


def test_text_that_is_not_a_number_is_refused() -> None:
    frame = good_frame().assign(age=["abc", "3"])
    with pytest.raises(
        InvalidArgumentError,
        match=r"Column 'age' must hold numbers .* 1 values that are not: 'abc'",
    ):
        enforce(frame, INPUTS)


def test_fractions_in_an_integer_column_are_refused() -> None:
    frame = good_frame().assign(age=[2.5, 3.0])
    with pytest.raises(InvalidArgumentError, match=r"'age' must hold whole numbers .*: 2\.5\."):
        enforce(frame, INPUTS)


def test_non_booleans_are_refused_and_zero_one_accepted() -> None:
    assert enforce(good_frame().assign(flag=[1, 0]), INPUTS)["flag"].tolist() == [True, False]
    with pytest.raises(InvalidArgumentError, match=r"'flag' must hold booleans .*: 2, 'yes'\."):
        enforce(good_frame().assign(flag=pd.Series([2, "yes"], dtype=object)), INPUTS)


def test_unparseable_datetimes_are_refused() -> None:
    frame = good_frame().assign(seen=["2024-01-01", "yesterday"])
    with pytest.raises(InvalidArgumentError, match=r"'seen' must hold date-times .*: 'yesterday'"):
        enforce(frame, INPUTS)
    with pytest.raises(InvalidArgumentError, match=r"holds numbers \(int64\), whose unit"):
        enforce(good_frame().assign(seen=[1, 2]), INPUTS)


def test_datetimes_are_converted_to_the_signature_zone() -> None:
    paris = ColumnSchema("t", "timestamp[ms, tz=Europe/Paris]", ColumnRole.DATETIME, True)
    out = enforce({"t": pd.to_datetime(["2024-01-01 12:00"])}, [paris])["t"]
    assert str(out.dtype) == "datetime64[ms, Europe/Paris]"
    assert out.iloc[0] == pd.Timestamp("2024-01-01 12:00", tz="UTC")


def test_numbers_in_a_string_column_become_their_text() -> None:
    codes = ColumnSchema("code", "string", ColumnRole.CATEGORICAL, True, ("3", "4"), False)
    out = enforce({"code": [3, 4.0, None]}, [codes], unseen="error")["code"]
    assert out.dtype == STR
    assert out.tolist()[:2] == ["3", "4"]
    assert out.isna().tolist() == [False, False, True]
    mixed = enforce({"code": pd.Series([3, "4", True], dtype=object)}, [codes])["code"]
    assert mixed.tolist() == ["3", "4", "true"]


def test_missing_values_in_a_non_nullable_column_are_refused_with_their_count() -> None:
    frame = good_frame().assign(city=pd.Series([None, None], dtype=STR))
    with pytest.raises(
        InvalidArgumentError, match=r"'city' has 2 missing values \(rows 0, 1\).*nullable=False"
    ):
        enforce(frame, INPUTS)
    with pytest.raises(InvalidArgumentError, match="'age' has 1 missing values"):
        enforce(good_frame().assign(age=[np.nan, 3.0]), INPUTS)


def test_pandas_nullable_dtypes_are_converted() -> None:
    income = enforce({"income": pd.array([1, None], dtype="Int64")}, [INCOME])["income"]
    assert income.dtype == np.float64
    assert income.isna().tolist() == [False, True]
    age = enforce({"age": pd.array([1, 2], dtype="Int64")}, [AGE])["age"]
    assert age.dtype == np.int64


def test_missing_values_pass_in_nullable_columns() -> None:
    nullable_age = ColumnSchema("age", "int64", ColumnRole.NUMERIC, nullable=True)
    out = enforce({"age": [None, 3]}, [nullable_age])["age"]
    assert out.dtype == np.float64
    assert out.isna().tolist() == [True, False]
    nullable_flag = ColumnSchema("flag", "bool", ColumnRole.BOOLEAN, nullable=True)
    assert enforce({"flag": [True, None]}, [nullable_flag])["flag"].dtype == "boolean"


def test_problems_of_several_columns_are_reported_together() -> None:
    frame = good_frame().assign(age=["abc", "3"], flag=[5, 0])
    with pytest.raises(InvalidArgumentError, match=r"The input has 2 problems:\n- Column 'age'"):
        enforce(frame, INPUTS)


@pytest.mark.parametrize("rows", [2, 1000])
def test_unseen_categories(rows: int) -> None:
    frame = pd.concat([good_frame()] * (rows // 2), ignore_index=True)
    frame.loc[1, "city"] = "rome"
    assert enforce(frame, INPUTS)["city"].iloc[1] == "rome"  # allow: the model decides
    with pytest.raises(
        InvalidArgumentError,
        match=r"'city' has 1 values in 1 categories not seen in training: 'rome'",
    ):
        enforce(frame, INPUTS, unseen="error")
    nulled = enforce(frame, INPUTS, unseen="null")["city"]
    assert nulled.dtype == STR
    assert nulled.isna().sum() == 1
    assert pd.isna(nulled.iloc[1])
    assert frame.loc[1, "city"] == "rome"  # the caller's frame is untouched


def test_unseen_is_not_judged_when_categories_are_only_the_top_k() -> None:
    top_k = ColumnSchema("city", "string", ColumnRole.CATEGORICAL, False, ("oslo",), True)
    assert enforce({"city": ["rome"]}, [top_k], unseen="error")["city"].tolist() == ["rome"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"unseen": "drop"},
            "The 'unseen' parameter of InputEnforcer must be one of 'allow', 'error', 'null'. "
            "Got 'drop' instead.",
        ),
        (
            {"extra": "keep"},
            "The 'extra' parameter of InputEnforcer must be one of 'drop', 'error'. "
            "Got 'keep' instead.",
        ),
    ],
)
def test_option_values_are_validated(options: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message.replace("(", r"\(")):
        InputEnforcer(INPUTS, **options)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="non-empty sequence of ColumnSchema"):
        InputEnforcer([])
    with pytest.raises(InvalidArgumentError, match=r"\['age'\] more than once"):
        InputEnforcer([AGE, AGE])


# -- the quick path for a few JSON-like rows ----------------------------------------------------

_QUICK_SIGNATURE = [
    ColumnSchema("n", "int64", ColumnRole.NUMERIC, nullable=False),
    ColumnSchema("small", "uint8", ColumnRole.NUMERIC, nullable=True),
    ColumnSchema("x", "double", ColumnRole.NUMERIC, nullable=True),
    ColumnSchema("y", "double", ColumnRole.NUMERIC, nullable=False),
    ColumnSchema("f", "float", ColumnRole.NUMERIC, nullable=False),
    ColumnSchema("city", "string", ColumnRole.CATEGORICAL, nullable=True),
    ColumnSchema("code", "string", ColumnRole.CATEGORICAL, nullable=False),
    ColumnSchema("ok", "bool", ColumnRole.BOOLEAN, nullable=False),
]
_ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=3),
    st.sampled_from(["3", "1.5", "true", "2024-01-01"]),
)


def _outcome(enforcer: InputEnforcer, data: Any) -> Any:
    try:
        return enforcer.enforce(data)
    except InvalidArgumentError as exc:
        return str(exc)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {c.name: _ANY_VALUE for c in _QUICK_SIGNATURE}, optional={"extra": _ANY_VALUE}
        ),
        min_size=1,
        max_size=4,
    )
)
def test_the_quick_path_for_json_rows_agrees_with_the_general_one(rows: list[dict]) -> None:
    """Records (a list, the quick path) and the same records as a tuple (the general path)
    give the same frame or the same error, whatever the values."""
    enforcer = InputEnforcer(_QUICK_SIGNATURE)
    quick, general = _outcome(enforcer, rows), _outcome(enforcer, tuple(rows))
    if isinstance(general, str):
        assert quick == general
    else:
        assert isinstance(quick, pd.DataFrame), quick
        pd.testing.assert_frame_equal(quick, general)
    columns = {k: [r.get(k) for r in rows] for k in rows[0]}
    by_column = _outcome(enforcer, columns)  # a dict of lists: the quick path too
    if isinstance(general, str):
        assert isinstance(by_column, str)
    else:
        pd.testing.assert_frame_equal(by_column, general)


def test_the_quick_path_takes_clean_rows() -> None:
    enforcer = InputEnforcer(_QUICK_SIGNATURE)
    row = {"n": 1, "small": 2, "x": None, "y": 2.5, "f": 1, "city": None, "code": "a", "ok": True}
    assert enforcer._quick([row]) is not None  # no conversion needed: the quick path
    assert enforcer._quick([row | {"n": "1"}]) is None  # text to convert: the general path
    frame = enforcer.enforce(row)
    assert frame.dtypes.astype(str).tolist() == [
        "int64", "uint8", "float64", "float64", "float32", "str", "str", "bool"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("column", "value"),
    [("small", 300), ("small", -1), ("n", 2**70), ("n", 1e30), ("f", 1e300)],
)
def test_values_beyond_the_column_type_are_refused_not_wrapped(column: str, value: Any) -> None:
    """Found by the fuzzing above: 300 used to reach a uint8 column as 44 (wrapped), and
    1e300 in a float32 column was refused as 'infinite'."""
    enforcer = InputEnforcer(_QUICK_SIGNATURE)
    row = {"n": 1, "small": 2, "x": 1.0, "y": 2.5, "f": 1.0, "city": "a", "code": "a", "ok": True}
    for data in ([row | {column: value}], pd.DataFrame([row | {column: value}])):
        with pytest.raises(InvalidArgumentError, match=f"'{column}' has 1 values outside the"):
            enforcer.enforce(data)


def test_integers_beyond_64_bits_become_their_text_in_a_string_column() -> None:
    enforcer = InputEnforcer([ColumnSchema("code", "string", ColumnRole.CATEGORICAL, True)])
    assert enforcer.enforce({"code": [2**70, 3]})["code"].tolist() == [str(2**70), "3"]
