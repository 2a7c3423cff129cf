"""The run-search filter parser: filter strings and order-by clauses into typed query objects.

A recursive-descent parser over :class:`~loopml.store.filter_lexer.FilterLexer` that follows
the grammar in :func:`loopml.store.query.parse_filter`. Nothing is evaluated and no SQL is
produced here: the result is a tree of :class:`~loopml.store.query.Comparison` and
:class:`~loopml.store.query.BoolOp`, checked for meaning as it is built: which operators fit
a field here (no ``like`` on a number, no ``<`` on a string), which values fit it in
:mod:`loopml.store.filter_values` (numbers for metrics and times, strings for the rest,
status names for ``status``).

Chains of one operator flatten into one :class:`~loopml.store.query.BoolOp`; ``and`` binds
tighter than ``or``. Every error is a :class:`~loopml.core.errors.FilterSyntaxError` whose
``position`` is the index of the offending token, with a message that says what was
expected and how to fix it.

Example:
    >>> parse_filter_expr("params.max_depth = 6")
    Comparison(field=FieldRef(kind='param', key='max_depth'), op='=', value='6')
    >>> parse_order_clause("metrics.auc DESC")
    OrderKey(field=FieldRef(kind='metric', key='auc'), descending=True)
"""

from __future__ import annotations

from typing import Literal

from loopml.core.errors import FilterSyntaxError, InvalidArgumentError, did_you_mean
from loopml.store.filter_lexer import (
    NOT_LITERALS,
    FilterLexer,
    Token,
    TokenKind,
    not_a_literal_message,
)
from loopml.store.filter_values import is_numeric, kind_phrase, number_value, string_value
from loopml.store.query import (
    ATTRIBUTES,
    BoolOp,
    Comparison,
    Expr,
    FieldKind,
    FieldRef,
    Operator,
    OrderKey,
)

_NAMESPACES: dict[str, FieldKind] = {
    "metrics": "metric", "params": "param", "tags": "tag", "attributes": "attribute"
}  # fmt: skip
_KEYWORDS = frozenset({"and", "or", "not", "in", "is", "null", "like", "ilike", "asc", "desc"})
_SIMPLE_OPERATORS: dict[str, Operator] = {
    "=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=",
    "like": "like", "ilike": "ilike", "in": "in",
}  # fmt: skip
_OPERATOR_LIST = "=, !=, <, <=, >, >=, like, ilike, in, is"
_FIELD_FORMS = "metrics.<key>, params.<key>, tags.<key> or a run attribute"


class _Parser:
    """Recursive descent with one token of lookahead (``self.tok``)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lexer = FilterLexer(text)
        self.tok = self.lexer.next()

    def error(self, message: str, position: int) -> FilterSyntaxError:
        return FilterSyntaxError(message, text=self.text, position=position)

    def advance(self) -> Token:
        token = self.tok
        self.tok = self.lexer.next()
        return token

    def at(self, *kinds: TokenKind) -> bool:
        return self.tok.kind in kinds

    def at_keyword(self, *words: str) -> bool:
        tok = self.tok
        return tok.kind == "word" and tok.key is None and tok.value.lower() in words

    def shown(self, token: Token) -> str:
        """Quote a token as the user wrote it, for "got ..." in messages."""
        if token.kind == "eof":
            return "the end of the filter"
        return repr(self.text[token.pos : token.end])

    # -- boolean structure -------------------------------------------------------------

    def expression(self) -> Expr:
        items = [self.conjunction()]
        while self.at_keyword("or"):
            self.connective("or")
            items.append(self.conjunction())
        return _combine("or", items)

    def conjunction(self) -> Expr:
        items = [self.atom()]
        while self.at_keyword("and"):
            self.connective("and")
            items.append(self.atom())
        return _combine("and", items)

    def connective(self, word: str) -> None:
        keyword = self.advance()
        if self.at("eof", "rparen"):
            raise self.error(
                f"Expected a condition after {word!r}, got {self.shown(self.tok)}. Add a "
                f"condition after it or remove the {word!r}.",
                keyword.pos,
            )

    def atom(self) -> Expr:
        if not self.at("lparen"):
            return self.comparison()
        opening = self.advance()
        if self.at("rparen"):
            raise self.error(
                "Empty parentheses: put a condition inside them, as in (metrics.auc > 0.8).",
                opening.pos,
            )
        expr = self.expression()
        if self.at("eof"):
            raise self.error(
                "Unbalanced parentheses: this '(' is never closed. Add the matching ')'.",
                opening.pos,
            )
        if not self.at("rparen"):
            raise self.error(
                f"Expected 'and', 'or' or ')', got {self.shown(self.tok)}. Join conditions "
                "with 'and' or 'or', and put string values in quotes.",
                self.tok.pos,
            )
        self.advance()
        return expr

    def finish(self) -> None:
        if self.at("eof"):
            return
        if self.at("rparen"):
            raise self.error(
                "Unbalanced parentheses: this ')' has no matching '('. Remove it or add the "
                "'(' it closes.",
                self.tok.pos,
            )
        raise self.error(
            f"Expected 'and', 'or' or the end of the filter, got {self.shown(self.tok)}. "
            "Join conditions with 'and' or 'or', and put string values in quotes.",
            self.tok.pos,
        )

    # -- fields ------------------------------------------------------------------------

    def field(self) -> tuple[FieldRef, str]:
        """Parse a field; return it and its text as written (for messages)."""
        token = self.tok
        if token.kind != "word" or (token.key is None and token.value.lower() in _KEYWORDS):
            got = self.shown(token)
            if token.kind == "word":
                got = f"the keyword {got}"
            raise self.error(f"Expected a field ({_FIELD_FORMS}), got {got}.", token.pos)
        self.advance()
        written = self.text[token.pos : token.end]
        prefix, dot, rest = token.value.partition(".")
        if not dot:
            return self.bare_attribute(token), written
        namespace = prefix.lower()
        if namespace not in _NAMESPACES:
            raise self.error(
                f"Unknown field namespace {prefix!r}.{did_you_mean(namespace, _NAMESPACES)} "
                f"Fields are {_FIELD_FORMS} ({', '.join(ATTRIBUTES)}).",
                token.pos,
            )
        key = rest + (token.key or "")
        key_pos = token.key_pos if token.key and not rest else token.pos + len(prefix) + 1
        if not key:
            raise self.error(
                f"Expected a key after '{prefix}.': write {namespace}.<key>, with a key that "
                f"has other characters in backticks ({namespace}.`val loss`).",
                key_pos,
            )
        kind = _NAMESPACES[namespace]
        if kind == "attribute":
            key = self.attribute_name(key, key_pos)
        return FieldRef(kind, key), written

    def bare_attribute(self, token: Token) -> FieldRef:
        name = token.value.lower()
        if name in _NAMESPACES:
            example = "status" if name == "attributes" else "auc"
            raise self.error(
                f"Expected '.<key>' after {token.value!r}: write {name}.<key>, as in "
                f"{name}.{example}.",
                token.end,
            )
        if name not in ATTRIBUTES:
            word = token.value
            raise self.error(
                f"Unknown attribute {word!r}. A name without a prefix must be one of the run "
                f"attributes ({', '.join(ATTRIBUTES)}); metrics, params and tags need their "
                f"prefix (metrics.{word}, params.{word}, tags.{word})."
                f"{did_you_mean(name, ATTRIBUTES)}",
                token.pos,
            )
        return FieldRef("attribute", name)

    def attribute_name(self, key: str, position: int) -> str:
        name = key.lower()
        if name not in ATTRIBUTES:
            raise self.error(
                f"Unknown attribute {key!r}. Run attributes are "
                f"{', '.join(ATTRIBUTES)}.{did_you_mean(name, ATTRIBUTES)}",
                position,
            )
        return name

    # -- comparisons -------------------------------------------------------------------

    def comparison(self) -> Comparison:
        field, written = self.field()
        op_token = self.tok
        op = self.operator(written)
        numeric = is_numeric(field)
        if op in ("like", "ilike") and numeric:
            raise self.error(
                f"{op!r} matches strings, but {written} is a number ({kind_phrase(field)}); "
                "compare it with =, !=, <, <=, >, >=, in or is null.",
                op_token.pos,
            )
        if op in ("<", "<=", ">", ">=") and not numeric:
            raise self.error(
                f"{written} is a string ({kind_phrase(field)}), so it cannot be compared with "
                f"{op!r}; use =, !=, like, ilike, in or is null. To compare numbers, log the "
                "value as a metric and filter on metrics.<key>.",
                op_token.pos,
            )
        if op in ("is null", "is not null"):
            return Comparison(field, op, None)
        if op in ("in", "not in"):
            values = self.value_list(field, written, op)
            if numeric:
                return Comparison(field, op, tuple(float(v) for v in values))
            return Comparison(field, op, tuple(str(v) for v in values))
        return Comparison(field, op, self.literal(field, written, op))

    def operator(self, written: str) -> Operator:
        token = self.tok
        if token.kind == "op" or self.at_keyword("like", "ilike", "in"):
            self.advance()
            return _SIMPLE_OPERATORS[token.value.lower()]
        if self.at_keyword("not"):
            self.advance()
            if not self.at_keyword("in"):
                raise self.error(
                    f"Expected 'in' after 'not', got {self.shown(self.tok)}. 'not' is only "
                    "used in 'not in (...)' and 'is not null'.",
                    self.tok.pos,
                )
            self.advance()
            return "not in"
        if self.at_keyword("is"):
            self.advance()
            negated = self.at_keyword("not")
            if negated:
                self.advance()
            if not self.at_keyword("null"):
                expected = "'null'" if negated else "'null' or 'not null'"
                after = "'is not'" if negated else "'is'"
                raise self.error(
                    f"Expected {expected} after {after}, got {self.shown(self.tok)}. 'is' only "
                    f"tests for a missing value: {written} is null, {written} is not null.",
                    self.tok.pos,
                )
            self.advance()
            return "is not null" if negated else "is null"
        raise self.error(
            f"Expected a comparison operator ({_OPERATOR_LIST}) after {written!r}, "
            f"got {self.shown(token)}.",
            token.pos,
        )

    def value_list(self, field: FieldRef, written: str, op: str) -> list[float | str]:
        example = f"{written} {op} " + ("(0.5, 0.8)" if is_numeric(field) else "('a', 'b')")
        if not self.at("lparen"):
            raise self.error(
                f"Expected '(' after {op!r}, got {self.shown(self.tok)}. Write the values in "
                f"parentheses: {example}.",
                self.tok.pos,
            )
        opening = self.advance()
        if self.at("rparen"):
            raise self.error(
                f"The list after {op!r} is empty; give at least one value: {example}.",
                self.tok.pos,
            )
        values = [self.literal(field, written, op)]
        while not self.at("rparen"):
            if self.at("eof"):
                raise self.error(
                    f"Unbalanced parentheses: the list after {op!r} is never closed. Add ')' "
                    "after its last value.",
                    opening.pos,
                )
            if not self.at("comma"):
                raise self.error(
                    f"Expected ',' or ')' in the list after {op!r}, got "
                    f"{self.shown(self.tok)}. Separate the values with commas: {example}.",
                    self.tok.pos,
                )
            comma = self.advance()
            if self.at("rparen"):
                raise self.error(
                    "Expected a value after ',', got ')'. Remove the trailing comma.", comma.pos
                )
            values.append(self.literal(field, written, op))
        self.advance()
        return values

    def literal(self, field: FieldRef, written: str, op: str) -> float | str:
        token = self.tok
        if token.kind == "number":
            self.advance()
            return number_value(token, field, written=written, op=op, error=self.error)
        if token.kind == "string":
            self.advance()
            return string_value(
                token, field, written=written, op=op, source=self.text, error=self.error
            )
        word = token.value.lower() if token.kind == "word" else ""
        if word in NOT_LITERALS:
            raise self.error(not_a_literal_message(token.value), token.pos)
        if word == "null":
            raise self.error(
                f"null is not a value to compare with; test for a missing value with "
                f"'{written} is null' or '{written} is not null'.",
                token.pos,
            )
        hint = f" Put strings in quotes: '{self.text[token.pos : token.end]}'." if word else ""
        raise self.error(
            f"Expected a value (a number or a quoted string) after {op!r}, got "
            f"{self.shown(token)}.{hint}",
            token.pos,
        )


def _combine(op: Literal["and", "or"], items: list[Expr]) -> Expr:
    """Join ``items`` with ``op``, flattening nested operations of the same kind."""
    if len(items) == 1:
        return items[0]
    flat: list[Expr] = []
    for item in items:
        if isinstance(item, BoolOp) and item.op == op:
            flat.extend(item.items)
        else:
            flat.append(item)
    return BoolOp(op, tuple(flat))


def _check_text(text: object, what: str, example: str) -> str:
    if not isinstance(text, str):
        raise InvalidArgumentError(
            f"{what} must be a string such as {example!r}. Got {type(text).__name__} "
            f"{text!r} instead."
        )
    return text


def parse_filter_expr(text: str) -> Expr | None:
    """Parse a run-search filter string into an expression tree.

    Args:
        text: The filter, e.g. ``"metrics.auc > 0.8 and params.max_depth = '6'"``.

    Returns:
        The expression, or None when ``text`` is empty or only whitespace.

    Raises:
        FilterSyntaxError: The filter does not parse or is not meaningful; ``position`` is
            the index of the offending token.
        InvalidArgumentError: ``text`` is not a string.

    Example:
        >>> parse_filter_expr("metrics.`val loss` < 0.3")
        Comparison(field=FieldRef(kind='metric', key='val loss'), op='<', value=0.3)
    """
    text = _check_text(text, "A filter", "metrics.auc > 0.8")
    if not text.strip():
        return None
    parser = _Parser(text)
    expr = parser.expression()
    parser.finish()
    return expr


def parse_order_clause(text: str) -> OrderKey:
    """Parse one order-by clause: a field and an optional ``asc`` (default) or ``desc``.

    Args:
        text: The clause, e.g. ``"metrics.auc desc"``.

    Returns:
        The ordering key.

    Raises:
        FilterSyntaxError: The clause does not parse; ``position`` is the index of the
            offending token.
        InvalidArgumentError: ``text`` is not a string.

    Example:
        >>> parse_order_clause("params.lr")
        OrderKey(field=FieldRef(kind='param', key='lr'), descending=False)
    """
    text = _check_text(text, "An order-by clause", "metrics.auc desc")
    parser = _Parser(text)
    if parser.at("eof"):
        raise parser.error(
            "The order-by clause is empty; write a field and an optional direction, as in "
            "'metrics.auc desc'.",
            0,
        )
    field, written = parser.field()
    descending = False
    if parser.at_keyword("asc", "desc"):
        descending = parser.advance().value.lower() == "desc"
        expected = "the end of the order-by clause"
    else:
        expected = f"asc or desc after {written!r}"
    if not parser.at("eof"):
        if parser.at("comma"):
            fix = "Give each key as its own clause: order_by=['metrics.auc desc', 'params.lr']."
        else:
            fix = "A clause is one field and an optional asc or desc, as in 'metrics.auc desc'."
        raise parser.error(
            f"Expected {expected}, got {parser.shown(parser.tok)}. {fix}", parser.tok.pos
        )
    return OrderKey(field, descending=descending)
