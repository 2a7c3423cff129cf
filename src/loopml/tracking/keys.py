"""What the tracking store accepts: keys, param and tag values, metric values, steps and
artifact paths. Checked once here, above every backend, so backends cannot disagree."""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from typing import Any, Literal

from loopml.core.entities import MetricPoint
from loopml.core.errors import InvalidArgumentError

MAX_KEY_LENGTH = 250
MAX_PARAM_LENGTH = 6000
MAX_TAG_LENGTH = 8000
MAX_NAME_LENGTH = 250
MAX_ARTIFACT_PATH_LENGTH = 1000
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

KeyKind = Literal["metric", "param", "tag"]
_KEY = re.compile(r"[\w\-./: ]+")
_KEY_CHARS = "letters, digits, spaces and _ - . / :"
_NOT_STORABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
#: A Windows drive (``C:``): the path would be absolute on a Windows client downloading it.
_DRIVE = re.compile(r"[A-Za-z]:")


def check_key(kind: KeyKind, key: Any) -> str:
    """Return ``key`` if it is a valid metric, param or tag key, else raise.

    Raises:
        InvalidArgumentError: Not a string, empty, longer than 250 characters, padded with
            spaces, or holding characters the store cannot keep.
    """
    label = f"{kind.capitalize()} key"
    if not isinstance(key, str):
        raise InvalidArgumentError(
            f"{label} must be a string; got {key!r} ({type(key).__name__}). "
            "Pass the name as text, e.g. 'val_auc'."
        )
    if not key:
        raise InvalidArgumentError(f"{label} must not be empty. Give it a name, e.g. 'val_auc'.")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArgumentError(
            f"{label} {key[:40]!r}... is {len(key)} characters long; the limit is "
            f"{MAX_KEY_LENGTH}. Use a shorter key and put long text in a tag value."
        )
    if not _KEY.fullmatch(key) or key != key.strip():
        bad = sorted(
            {c for c in key if not _KEY.fullmatch(c)} | ({" "} if key != key.strip() else set())
        )
        shown = ", ".join(repr(c) for c in bad)
        raise InvalidArgumentError(
            f"{label} {key!r} has characters the store cannot keep ({shown}). Keys may use "
            f"{_KEY_CHARS}, and may not start or end with a space."
        )
    return key


def check_text(kind: Literal["param", "tag"], key: str, value: Any) -> str:
    """Return a param or tag value as text, or raise if the store cannot keep it.

    Raises:
        InvalidArgumentError: The text is too long, holds a NUL or an unpaired surrogate, or
            the value cannot be turned into text at all (``str()`` raised, as it does for an
            int of more than 4,300 digits).
    """
    text = value if isinstance(value, str) else _as_text(kind, key, value)
    limit = MAX_PARAM_LENGTH if kind == "param" else MAX_TAG_LENGTH
    if len(text) > limit:
        raise InvalidArgumentError(
            f"The value of {kind} {key!r} is {len(text)} characters long; the limit is {limit}. "
            "Log long text as an artifact (log_dict or log_artifact) instead."
        )
    if "\x00" in text or re.search(r"[\ud800-\udfff]", text):
        raise InvalidArgumentError(
            f"The value of {kind} {key!r} holds a NUL byte or an unpaired surrogate, which the "
            "store cannot keep. Remove it, or log the raw bytes with log_artifact."
        )
    return text


def _as_text(kind: str, key: str, value: Any) -> str:
    try:
        text = str(value)
    except Exception as exc:  # str() of a foreign object may raise anything
        raise InvalidArgumentError(
            f"The value of {kind} {key!r} ({type(value).__name__}) cannot be turned into text: "
            f"{type(exc).__name__}: {exc}. Pass a string, or log the value as an artifact."
        ) from None
    if not isinstance(text, str):  # a __str__ returning something else
        raise InvalidArgumentError(
            f"The value of {kind} {key!r} ({type(value).__name__}) did not turn into text. "
            "Pass a string."
        )
    return text


def check_texts(kind: Literal["param", "tag"], values: Mapping[str, Any]) -> dict[str, str]:
    """Validate a mapping of params or tags; returns key -> text."""
    if not isinstance(values, Mapping):
        raise InvalidArgumentError(
            f"{kind}s must be a mapping of key to value; got {type(values).__name__}."
        )
    return {check_key(kind, k): check_text(kind, k, v) for k, v in values.items()}


def check_metric_value(key: str, value: Any) -> float:
    """Return ``value`` as a float. NaN and infinities are valid and stored faithfully.

    Raises:
        InvalidArgumentError: The value is not a real number (a string, None, a complex...).
    """
    if type(value) is float:
        return value
    if isinstance(value, numbers.Real) or (
        hasattr(value, "__float__") and not isinstance(value, str | bytes | complex)
    ):
        try:
            result = float(value)
        except OverflowError:
            raise _too_large(key, value) from None
        except (TypeError, ValueError):
            pass
        else:
            if math.isinf(result) and not _is_infinite(value):
                raise _too_large(key, value)  # Decimal('1e400'), a long double: inf silently
            return result
    raise InvalidArgumentError(
        f"Metric {key!r} must be a real number (int, float or a NumPy scalar); got {value!r} "
        f"({type(value).__name__}). Convert it with float(), or log text as a tag."
    )


def _is_infinite(value: Any) -> bool:
    """Whether a number that converted to an infinite float was infinite to begin with."""
    try:
        return bool(abs(value) == math.inf)
    except Exception:
        return False


def _too_large(key: str, value: Any) -> InvalidArgumentError:
    shown = repr(value)
    if len(shown) > 60:
        shown = f"{shown[:30]}...{shown[-10:]} ({len(shown)} characters)"
    return InvalidArgumentError(
        f"Metric {key!r} is {shown}, which is too large for a double (the largest finite "
        "value is about 1.8e308). Log a smaller number (its logarithm, or in other units), "
        "or float('inf') if infinity is meant."
    )


def check_step(key: str, step: Any) -> int:
    """Return ``step`` as an int in the int64 range.

    Raises:
        InvalidArgumentError: Not an integer, or outside ``[-2**63, 2**63 - 1]``.
    """
    if type(step) is int and INT64_MIN <= step <= INT64_MAX:  # the common case, fast
        return step
    if isinstance(step, bool) or not isinstance(step, numbers.Integral):
        raise InvalidArgumentError(
            f"The step of metric {key!r} must be an integer; got {step!r} ({type(step).__name__})."
        )
    value = int(step)
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidArgumentError(
            f"The step of metric {key!r} is {value}; steps must fit in 64 bits "
            f"({INT64_MIN} to {INT64_MAX}). Number steps from 0 (epoch, batch or row count)."
        )
    return value


def check_timestamp(key: str, timestamp: Any) -> int:
    """Return a millisecond timestamp as an int.

    Raises:
        InvalidArgumentError: Not an integer, negative, or beyond 64 bits.
    """
    if (
        isinstance(timestamp, bool)
        or not isinstance(timestamp, numbers.Integral)
        or (not 0 <= int(timestamp) <= INT64_MAX)
    ):
        shown = repr(timestamp) if len(repr(timestamp)) <= 60 else f"{repr(timestamp)[:30]}..."
        raise InvalidArgumentError(
            f"The timestamp of metric {key!r} must be a non-negative integer of milliseconds "
            f"since the epoch that fits in 64 bits; got {shown}. Leave it out to use the "
            "current time."
        )
    return int(timestamp)


def check_point(point: MetricPoint) -> MetricPoint:
    """Return ``point`` with its key, value, step and timestamp checked (see the checks above).

    Raises:
        InvalidArgumentError: Any of them is not valid.
    """
    key = check_key("metric", point.key)
    return MetricPoint(
        key,
        check_metric_value(key, point.value),
        check_step(key, point.step),
        check_timestamp(key, point.timestamp),
    )


def check_limit(limit: Any) -> int | None:
    """Return a search limit: None (no limit) or an int from 0 to 2**63 - 1.

    Raises:
        InvalidArgumentError: A negative number, a non-integer or one beyond 64 bits.
    """
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, numbers.Integral):
        raise InvalidArgumentError(
            f"limit must be a non-negative integer or None; got {limit!r} ({type(limit).__name__})."
        )
    if not 0 <= int(limit) <= INT64_MAX:
        raise InvalidArgumentError(
            f"limit must be a non-negative integer that fits in 64 bits, or None for no "
            f"limit; got {limit}."
        )
    return int(limit)


def check_offset(offset: Any) -> int:
    """Return a search offset: an int from 0 to 2**63 - 1 (the matching runs to skip).

    Raises:
        InvalidArgumentError: A negative number, a non-integer or one beyond 64 bits.
    """
    if (
        isinstance(offset, bool)
        or not isinstance(offset, numbers.Integral)
        or not 0 <= int(offset) <= INT64_MAX
    ):
        raise InvalidArgumentError(
            f"offset must be a non-negative integer that fits in 64 bits (the runs to skip); "
            f"got {offset!r}."
        )
    return int(offset)


def check_name(what: str, name: Any) -> str:
    """Validate an experiment or run name: non-empty text, at most 250 printable characters."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgumentError(f"The {what} name must be non-empty text; got {name!r}.")
    if len(name) > MAX_NAME_LENGTH or _NOT_STORABLE.search(name):
        raise InvalidArgumentError(
            f"The {what} name {name[:60]!r} must be at most {MAX_NAME_LENGTH} printable "
            "characters (no control characters)."
        )
    return name


def check_artifact_path(path: Any) -> str:
    """Validate a run-relative artifact path: ``a/b/file.txt``; no ``..`` or ``.`` part, no
    leading ``/`` or drive (``C:``), no backslash, no NUL or other control character, so that
    no path can point outside the folder an artifact is downloaded to."""
    if not isinstance(path, str) or not path:
        raise InvalidArgumentError(f"An artifact path must be non-empty text; got {path!r}.")
    parts = path.split("/")
    if (
        path.startswith("/")
        or _DRIVE.match(path)
        or "\\" in path
        or any(p in {"", ".", ".."} for p in parts)
        or len(path) > MAX_ARTIFACT_PATH_LENGTH
        or _NOT_STORABLE.search(path)
    ):
        raise InvalidArgumentError(
            f"Artifact path {path!r} is not valid: use a relative path like 'plots/roc.png' "
            f"with '/' separators, no '.' or '..' parts, no leading '/' or drive, no '\\' or "
            f"control characters, at most {MAX_ARTIFACT_PATH_LENGTH} characters."
        )
    return path
