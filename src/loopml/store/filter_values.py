"""Which values a run-search filter field takes, and the messages when it gets another.

The grammar lives in :mod:`loopml.store.filter_parser`; the typing of values lives here:

- metrics and the ``start_time``/``end_time`` attributes are numbers: a literal must be a
  finite number written bare;
- params, tags and the other attributes are strings; a bare number is taken as the string
  the user typed (``params.max_depth = 6`` means ``'6'``);
- ``status`` values are :class:`~loopml.core.entities.RunStatus` names, normalized to upper
  case.

Each check takes ``error``, which builds a :class:`~loopml.core.errors.FilterSyntaxError`
pointing at a position of the filter.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from loopml.core.entities import RunStatus
from loopml.core.errors import FilterSyntaxError, did_you_mean
from loopml.store.filter_lexer import NUMBER, Token
from loopml.store.query import ATTRIBUTES, FieldRef

#: Builds the syntax error for a message at a position of the filter.
ErrorAt = Callable[[str, int], FilterSyntaxError]
STATUS = FieldRef("attribute", "status")
_STATUSES = tuple(status.value for status in RunStatus)


def is_numeric(field: FieldRef) -> bool:
    """Whether ``field`` holds numbers (metrics, start_time, end_time)."""
    if field.kind == "attribute":
        return ATTRIBUTES[field.key] is float
    return field.kind == "metric"


def kind_phrase(field: FieldRef) -> str:
    """Why a field is a number or a string, for messages."""
    if field.kind == "attribute":
        if is_numeric(field):
            return "a time in milliseconds since the epoch"
        return "run attributes other than start_time and end_time are strings"
    return {"metric": "metrics are numbers", "param": "params are strings"}.get(
        field.kind, "tags are strings"
    )


def number_value(
    token: Token, field: FieldRef, written: str, op: str, error: ErrorAt
) -> float | str:
    """The value of a number token compared with ``field``: a float for a numeric field,
    the text as typed for a string one (``params.max_depth = 6`` means ``'6'``)."""
    if is_numeric(field):
        value = float(token.value)
        if not math.isfinite(value):
            raise error(
                f"The number {token.value} is too large; use a finite number (at most "
                "about 1.8e308).",
                token.pos,
            )
        return value
    if op in ("like", "ilike"):
        raise error(
            f"The pattern of {op!r} must be a quoted string: write {written} {op} '{token.value}'.",
            token.pos,
        )
    if field == STATUS:
        return status_value(token.value, token.pos, error)
    return token.value


def string_value(
    token: Token, field: FieldRef, *, written: str, op: str, source: str, error: ErrorAt
) -> str:
    """The value of a quoted string compared with ``field`` (refused for a numeric field)."""
    if is_numeric(field):
        content = token.value.strip()
        if NUMBER.fullmatch(content) and math.isfinite(float(content)):
            fix = f"write the number without quotes ({content})"
        else:
            fix = "compare it with a number, as in 0.8"
        raise error(
            f"{written} is a number ({kind_phrase(field)}) and cannot be compared with "
            f"the string {source[token.pos : token.end]}; {fix}.",
            token.pos,
        )
    if field == STATUS and op not in ("like", "ilike"):
        return status_value(token.value, token.pos, error)
    return token.value


def status_value(value: str, position: int, error: ErrorAt) -> str:
    """A run status name, in upper case."""
    status = value.upper()
    if status not in _STATUSES:
        raise error(
            f"Unknown run status {value!r}. A status is one of "
            f"{', '.join(_STATUSES)}.{did_you_mean(status, _STATUSES)}",
            position,
        )
    return status
