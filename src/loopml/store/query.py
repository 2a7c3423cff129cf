"""Typed run queries. Filter strings are parsed once into these objects (never into SQL text),
and :mod:`loopml.store.sql.compile` is the one place that turns them into SQL.

A filter is a boolean expression over fields:

- ``metrics.<key>``: the latest value of a metric (float; NaN never matches a comparison),
- ``params.<key>``: a param (string),
- ``tags.<key>``: a tag (string),
- ``attributes.<name>`` or the bare name, one of :data:`ATTRIBUTES`.

Keys with characters outside ``[A-Za-z0-9_.-]`` are written in backticks:
``metrics.`val loss` < 0.3``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from loopml.core.ids import ExperimentId, RunId

FieldKind = Literal["metric", "param", "tag", "attribute"]
Operator = Literal[
    "=", "!=", "<", "<=", ">", ">=", "like", "ilike", "in", "not in", "is null", "is not null"
]
Value = float | str | tuple[str, ...] | tuple[float, ...] | None

#: Run attributes a filter or an order may name, with their value type.
ATTRIBUTES: dict[str, type] = {
    "run_id": str,
    "name": str,
    "status": str,
    "start_time": float,
    "end_time": float,
    "parent_run_id": str,
    "experiment_id": str,
}


@dataclass(frozen=True)
class FieldRef:
    """A field of a run: ``kind`` says which namespace, ``key`` which entry."""

    kind: FieldKind
    key: str

    def __str__(self) -> str:
        prefix = {"metric": "metrics", "param": "params", "tag": "tags", "attribute": "attributes"}[
            self.kind
        ]
        return f"{prefix}.{self.key}"


@dataclass(frozen=True)
class Comparison:
    """``field op value``. ``value`` is a tuple for ``in``/``not in`` and None for null tests.

    A comparison on a metric, param or tag that the run does not have is false
    (``!=`` and ``not in`` included); ``is null`` is true exactly for such runs.
    """

    field: FieldRef
    op: Operator
    value: Value


@dataclass(frozen=True)
class BoolOp:
    """``and`` / ``or`` of two or more expressions."""

    op: Literal["and", "or"]
    items: tuple[Expr, ...]


Expr = Comparison | BoolOp


@dataclass(frozen=True)
class OrderKey:
    """One ordering key. Runs that lack the field (or have a NaN metric) sort last."""

    field: FieldRef
    descending: bool = False


@dataclass(frozen=True)
class RunQuery:
    """A complete run search: which experiments, which runs, in which order, how many.

    Ties after ``order_by`` are broken by start time (newest first), then run id, so the
    order is total and pages are stable.
    """

    experiment_ids: tuple[ExperimentId, ...]
    where: Expr | None = None
    order_by: tuple[OrderKey, ...] = ()
    limit: int | None = None
    offset: int = 0
    include_deleted: bool = False
    run_ids: tuple[RunId, ...] | None = field(default=None)


def parse_filter(text: str) -> Expr | None:
    """Parse a filter string into an expression (None for an empty filter).

    Grammar (case-insensitive keywords)::

        expr       := and_expr ("or" and_expr)*
        and_expr   := atom ("and" atom)*
        atom       := "(" expr ")" | comparison
        comparison := field op literal
                    | field ["not"] "in" "(" literal ("," literal)* ")"
                    | field "is" ["not"] "null"
        field      := ("metrics"|"params"|"tags"|"attributes") "." key | attribute
        op         := "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=" | "like" | "ilike"
        literal    := number | 'string' | "string"

    Raises:
        FilterSyntaxError: The filter does not parse or is not meaningful (for example a
            numeric comparison on a param, or a string compared with a metric); the message
            points at the token.
    """
    from loopml.store.filter_parser import parse_filter_expr

    return parse_filter_expr(text)


def parse_order_by(clauses: list[str] | tuple[str, ...]) -> tuple[OrderKey, ...]:
    """Parse order-by clauses such as ``["metrics.auc desc", "params.lr"]``.

    Raises:
        FilterSyntaxError: A clause does not parse; the message points at the token.
    """
    from loopml.store.filter_parser import parse_order_clause

    return tuple(parse_order_clause(c) for c in clauses)
