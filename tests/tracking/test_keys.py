"""Validation of keys and values: clear messages that name the key, the value and the fix."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from loopml.core.errors import InvalidArgumentError
from loopml.tracking import keys


@pytest.mark.parametrize(
    "key", ["auc", "val_auc", "train/loss", "a.b-c:d e", "précision", "x" * 250]
)
def test_valid_keys(key: str) -> None:
    assert keys.check_key("metric", key) == key


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ("", "must not be empty"),
        ("x" * 251, "251 characters long; the limit is 250"),
        ("a\x00b", r"characters the store cannot keep \('\\x00'\)"),
        ("a\nb", "cannot keep"),
        (" padded", "may not start or end with a space"),
        ("semi;colon", r"\(';'\)"),
        (42, r"must be a string; got 42 \(int\)"),
        (None, "must be a string"),
    ],
)
def test_bad_keys(key: object, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        keys.check_key("metric", key)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1.0),
        (0.5, 0.5),
        (np.float32(0.25), 0.25),
        (np.int64(3), 3.0),
        (Decimal("1.5"), 1.5),
        (True, 1.0),
        (float("inf"), math.inf),
        (-math.inf, -math.inf),
    ],
)
def test_metric_values(value: object, expected: float) -> None:
    assert keys.check_metric_value("m", value) == expected


def test_nan_is_a_valid_metric_value() -> None:
    assert math.isnan(keys.check_metric_value("m", float("nan")))


@pytest.mark.parametrize("value", ["0.5", "high", None, 1 + 2j, [1.0], b"1"])
def test_non_numeric_metric_values_are_refused(value: object) -> None:
    with pytest.raises(InvalidArgumentError, match=r"Metric 'auc' must be a real number"):
        keys.check_metric_value("auc", value)


def test_param_values_become_text_and_long_ones_are_refused() -> None:
    assert keys.check_texts("param", {"lr": 0.1, "layers": [64, 32]}) == {
        "lr": "0.1",
        "layers": "[64, 32]",
    }
    with pytest.raises(
        InvalidArgumentError, match="param 'p' is 6001 characters long; the limit is 6000"
    ):
        keys.check_text("param", "p", "x" * 6001)
    with pytest.raises(InvalidArgumentError, match="NUL byte"):
        keys.check_text("tag", "t", "a\x00")
    with pytest.raises(InvalidArgumentError, match="must be a mapping"):
        keys.check_texts("param", [("a", 1)])  # type: ignore[arg-type]


@pytest.mark.parametrize("step", [1.5, "3", True, 2**64])
def test_bad_steps(step: object) -> None:
    with pytest.raises(InvalidArgumentError, match="step of metric 'm'"):
        keys.check_step("m", step)


@pytest.mark.parametrize("path", ["a.txt", "plots/roc.png", "a/b/c.parquet", "ab:c", "a/C:"])
def test_valid_artifact_paths(path: str) -> None:
    assert keys.check_artifact_path(path) == path


BAD_ARTIFACT_PATHS = [
    "",
    "/abs",
    "//server/share/x",
    "../up",
    "..",
    "a/..",
    "a/../b",
    "a//b",
    "a\\b",
    "..\\..\\windows",
    "./a",
    "C:/Windows/x",
    "c:\\x",
    "C:x",
    "a\x00b",
    "a/b\n",
    "x" * 1001,
]


@pytest.mark.parametrize("path", BAD_ARTIFACT_PATHS)
def test_bad_artifact_paths(path: str) -> None:
    with pytest.raises(InvalidArgumentError, match="(?i)artifact path") as info:
        keys.check_artifact_path(path)
    if path:
        assert repr(path)[:60].strip("'") in str(info.value)  # the path is named
