"""The run-search filter parser: valid filters to exact objects, invalid ones to errors that
point at the offending token."""

from __future__ import annotations

import random
import re

import pytest

from loopml.core.errors import FilterSyntaxError, InvalidArgumentError
from loopml.store.filter_parser import parse_filter_expr, parse_order_clause
from loopml.store.query import (
    BoolOp,
    Comparison,
    Expr,
    FieldRef,
    OrderKey,
    parse_filter,
    parse_order_by,
)


def metric(key: str) -> FieldRef:
    return FieldRef("metric", key)


def param(key: str) -> FieldRef:
    return FieldRef("param", key)


def tag(key: str) -> FieldRef:
    return FieldRef("tag", key)


def attr(key: str) -> FieldRef:
    return FieldRef("attribute", key)


AUC_HIGH = Comparison(metric("auc"), ">", 0.8)
DEPTH_6 = Comparison(param("max_depth"), "=", "6")
TEAM_RISK = Comparison(tag("team"), "=", "risk")

VALID: list[tuple[str, Expr]] = [
    # the README example
    (
        "metrics.auc > 0.8 and params.max_depth = '6' and tags.team = 'risk'",
        BoolOp("and", (AUC_HIGH, DEPTH_6, TEAM_RISK)),
    ),
    # every comparison operator on a metric, and the aliases
    ("metrics.auc = 0.8", Comparison(metric("auc"), "=", 0.8)),
    ("metrics.auc == 0.8", Comparison(metric("auc"), "=", 0.8)),
    ("metrics.auc != 0.8", Comparison(metric("auc"), "!=", 0.8)),
    ("metrics.auc <> 0.8", Comparison(metric("auc"), "!=", 0.8)),
    ("metrics.auc < 0.8", Comparison(metric("auc"), "<", 0.8)),
    ("metrics.auc <= 0.8", Comparison(metric("auc"), "<=", 0.8)),
    ("metrics.auc>0.8", AUC_HIGH),
    ("metrics.auc >= 0.8", Comparison(metric("auc"), ">=", 0.8)),
    ("metrics.auc in (0.5, 0.8)", Comparison(metric("auc"), "in", (0.5, 0.8))),
    ("metrics.auc NOT IN (1)", Comparison(metric("auc"), "not in", (1.0,))),
    ("metrics.auc is null", Comparison(metric("auc"), "is null", None)),
    ("metrics.auc IS NOT NULL", Comparison(metric("auc"), "is not null", None)),
    # numbers: ints, floats, exponents, signs, leading and trailing points
    ("metrics.loss = 3", Comparison(metric("loss"), "=", 3.0)),
    ("metrics.loss = -3", Comparison(metric("loss"), "=", -3.0)),
    ("metrics.loss = +3.5", Comparison(metric("loss"), "=", 3.5)),
    ("metrics.loss < .5", Comparison(metric("loss"), "<", 0.5)),
    ("metrics.loss < 5.", Comparison(metric("loss"), "<", 5.0)),
    ("metrics.loss < 1e-3", Comparison(metric("loss"), "<", 0.001)),
    ("metrics.loss < 2.5E+2", Comparison(metric("loss"), "<", 250.0)),
    ("metrics.loss>-1", Comparison(metric("loss"), ">", -1.0)),
    # params and tags are strings; a bare number is kept exactly as typed
    ("params.max_depth = '6'", DEPTH_6),
    ("params.max_depth = 6", DEPTH_6),
    ('params.max_depth = "6"', DEPTH_6),
    ("params.lr = 0.10", Comparison(param("lr"), "=", "0.10")),
    ("params.lr != 1e-3", Comparison(param("lr"), "!=", "1e-3")),
    ("params.lr = -0.5", Comparison(param("lr"), "=", "-0.5")),
    ("params.lr in (0.10, '0.2', 3)", Comparison(param("lr"), "in", ("0.10", "0.2", "3"))),
    ("tags.team like 'ri%'", Comparison(tag("team"), "like", "ri%")),
    ("tags.team ILIKE 'RI%'", Comparison(tag("team"), "ilike", "RI%")),
    ("tags.team not in ('a', 'b')", Comparison(tag("team"), "not in", ("a", "b"))),
    ("tags.team is null", Comparison(tag("team"), "is null", None)),
    ("tags.team = ''", Comparison(tag("team"), "=", "")),
    # string escapes: the quote char and the backslash; other backslashes stay
    (r"tags.note = 'it\'s'", Comparison(tag("note"), "=", "it's")),
    (r'tags.note = "say \"hi\""', Comparison(tag("note"), "=", 'say "hi"')),
    (r"tags.note = 'a\\b'", Comparison(tag("note"), "=", "a\\b")),
    (r"tags.path like 'C:\dir\%'", Comparison(tag("path"), "like", r"C:\dir\%")),
    ('tags.note = "it\'s"', Comparison(tag("note"), "=", "it's")),
    ("tags.note = 'naïve — ok'", Comparison(tag("note"), "=", "naïve — ok")),
    # keys: dotted, hyphens, digits, backticks
    ("metrics.train.loss < 1", Comparison(metric("train.loss"), "<", 1.0)),
    ("params.max-depth = '3'", Comparison(param("max-depth"), "=", "3")),
    ("metrics.f1_2 > 0", Comparison(metric("f1_2"), ">", 0.0)),
    ("metrics.`val loss` < 0.3", Comparison(metric("val loss"), "<", 0.3)),
    ("tags.`a\\`b` = 'x'", Comparison(tag("a`b"), "=", "x")),
    ("metrics.eval.`val loss` < 1", Comparison(metric("eval.val loss"), "<", 1.0)),
    ("params.`max depth`='3'", Comparison(param("max depth"), "=", "3")),
    # attributes: bare or prefixed, any case; status normalized; times numeric
    ("status = 'FINISHED'", Comparison(attr("status"), "=", "FINISHED")),
    ("attributes.status = 'finished'", Comparison(attr("status"), "=", "FINISHED")),
    ('STATUS = "Failed"', Comparison(attr("status"), "=", "FAILED")),
    (
        "status in ('running', 'KILLED')",
        Comparison(attr("status"), "in", ("RUNNING", "KILLED")),
    ),
    ("status like 'FIN%'", Comparison(attr("status"), "like", "FIN%")),
    ("start_time >= 1700000000000", Comparison(attr("start_time"), ">=", 1700000000000.0)),
    ("attributes.end_time is null", Comparison(attr("end_time"), "is null", None)),
    ("end_time < 5", Comparison(attr("end_time"), "<", 5.0)),
    ("name like 'xgb-%'", Comparison(attr("name"), "like", "xgb-%")),
    ("run_id = 'abc'", Comparison(attr("run_id"), "=", "abc")),
    ("attributes.`run_id` != 'abc'", Comparison(attr("run_id"), "!=", "abc")),
    ("experiment_id = 0", Comparison(attr("experiment_id"), "=", "0")),
    ("parent_run_id is not null", Comparison(attr("parent_run_id"), "is not null", None)),
    ("Metrics.auc > 0.8", AUC_HIGH),
    # precedence, grouping, flattening
    (
        "metrics.auc > 0.8 or params.max_depth = 6 and tags.team = 'risk'",
        BoolOp("or", (AUC_HIGH, BoolOp("and", (DEPTH_6, TEAM_RISK)))),
    ),
    (
        "(metrics.auc > 0.8 or params.max_depth = 6) and tags.team = 'risk'",
        BoolOp("and", (BoolOp("or", (AUC_HIGH, DEPTH_6)), TEAM_RISK)),
    ),
    (
        "metrics.auc > 0.8 OR params.max_depth = 6 Or tags.team = 'risk'",
        BoolOp("or", (AUC_HIGH, DEPTH_6, TEAM_RISK)),
    ),
    (
        "metrics.auc > 0.8 and (params.max_depth = 6 and tags.team = 'risk')",
        BoolOp("and", (AUC_HIGH, DEPTH_6, TEAM_RISK)),
    ),
    ("((metrics.auc > 0.8))", AUC_HIGH),
    (
        "(metrics.auc > 0.8 and params.max_depth = 6) or (tags.team = 'risk')",
        BoolOp("or", (BoolOp("and", (AUC_HIGH, DEPTH_6)), TEAM_RISK)),
    ),
    ("  metrics.auc\t>\n0.8  ", AUC_HIGH),
]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[t for t, _ in VALID])
def test_valid_filter_parses_to_exact_objects(text: str, expected: Expr) -> None:
    assert parse_filter_expr(text) == expected


@pytest.mark.parametrize("text", ["", " ", "\t\n  "])
def test_empty_filter_is_none(text: str) -> None:
    assert parse_filter_expr(text) is None


def test_metric_values_are_floats_and_param_values_strings() -> None:
    expr = parse_filter_expr("metrics.n = 3 and params.n = 3")
    assert isinstance(expr, BoolOp)
    first, second = expr.items
    assert isinstance(first, Comparison)
    assert isinstance(second, Comparison)
    assert type(first.value) is float
    assert type(second.value) is str


# (filter, regex the message must match, index of the offending token)
INVALID: list[tuple[str, str, int]] = [
    # operators
    (
        "metrics.auc equals 0.8",
        re.escape(
            "Expected a comparison operator (=, !=, <, <=, >, >=, like, ilike, in, is) after "
            "'metrics.auc', got 'equals'."
        ),
        12,
    ),
    ("metrics.auc", r"Expected a comparison operator .* got the end of the filter", 11),
    ("metrics.auc 0.8", r"Expected a comparison operator .* got '0.8'", 12),
    ("metrics.auc ! 0.8", r"Unexpected character '!': write != for 'not equal'", 12),
    ("metrics.auc => 0.8", r"Expected a value .* after '=', got '>'", 13),
    ("params.x not like 'a'", r"Expected 'in' after 'not', got 'like'", 13),
    ("params.x is nul", r"Expected 'null' or 'not null' after 'is', got 'nul'", 12),
    ("params.x is not 'a'", r"Expected 'null' after 'is not', got \"'a'\"", 16),
    ("params.x = null", r"test for a missing value with 'params.x is null'", 11),
    # namespaces and attributes
    ("metric.auc > 0.8", r"Unknown field namespace 'metric'\. Did you mean 'metrics'\?", 0),
    ("param.lr = '1'", r"Unknown field namespace 'param'\. Did you mean 'params'\?", 0),
    ("foo.bar = 1", r"Unknown field namespace 'foo'\. Fields are metrics\.<key>", 0),
    ("stauts = 'FINISHED'", r"Unknown attribute 'stauts'.*Did you mean 'status'\?", 0),
    ("auc > 0.8", r"Unknown attribute 'auc'.* \(metrics\.auc, params\.auc, tags\.auc\)", 0),
    (
        "metrics.a > 1 and attributes.start = 1",
        r"Unknown attribute 'start'\. Run attributes are run_id, name, status, start_time",
        29,
    ),
    ("metrics > 1", r"Expected '\.<key>' after 'metrics': write metrics\.<key>", 7),
    ("metrics. > 1", r"Expected a key after 'metrics\.'", 8),
    ("`val loss` < 1", r"backtick-quoted key needs its namespace", 0),
    ("metrics.`` < 1", r"backtick-quoted key is empty", 8),
    ("metrics.`val loss < 1", r"Unterminated key: the ` that opens it is never closed", 8),
    ("metrics.ä > 1", r"Unexpected character 'ä': keys with characters other", 8),
    # type rules
    ("metrics.auc > '0.8'", r"metrics are numbers.*write the number without quotes \(0\.8\)", 14),
    ("metrics.auc = 'high'", r"cannot be compared with the string 'high'; compare it with a", 14),
    ("metrics.auc in (0.5, '0.8')", r"write the number without quotes", 21),
    ("metrics.auc like '0.%'", r"'like' matches strings, but metrics\.auc is a number", 12),
    ("start_time > '2024'", r"start_time is a number \(a time in milliseconds", 13),
    ("params.lr < 0.1", r"params\.lr is a string \(params are strings\).*compared with '<'", 10),
    ("tags.n >= '3'", r"tags\.n is a string \(tags are strings\)", 7),
    ("name > 'a'", r"name is a string \(run attributes other than", 5),
    ("params.lr like 0.1", r"pattern of 'like' must be a quoted string", 15),
    ("status = 'DONE'", r"Unknown run status 'DONE'\. A status is one of RUNNING, FINISHED", 9),
    ("status in ('FINISHED', 'faild')", r"Unknown run status 'faild'.*Did you mean 'FAILED'\?", 23),
    ("status = 1", r"Unknown run status '1'", 9),
    # literals
    ("params.model = xgboost", r"Expected a value .* got 'xgboost'\. Put strings in quotes", 15),
    ("metrics.auc > nan", r"'nan' is not a valid value: NaN and infinity", 14),
    ("metrics.auc > NaN", r"'NaN' is not a valid value", 14),
    ("metrics.auc < inf", r"'inf' is not a valid value", 14),
    ("metrics.auc > -inf", r"'-inf' is not a valid value", 14),
    ("metrics.auc > +Infinity", r"'\+Infinity' is not a valid value", 14),
    ("metrics.auc > 1e999", r"The number 1e999 is too large", 14),
    ("metrics.auc > 1.2.3", r"'1\.2\.3' is not a number", 14),
    ("metrics.auc > 1e", r"'1e' is not a number", 14),
    ("metrics.auc > 0.8x", r"'0\.8x' is not a number", 14),
    ("metrics.auc > 1-2", r"'1-2' is not a number", 14),
    ("metrics.auc > -", r"Unexpected '-': a sign or a decimal point must be followed", 14),
    ("metrics.auc > . ", r"Unexpected '\.'", 14),
    ("metrics.auc >", r"Expected a value .* after '>', got the end of the filter", 13),
    ("metrics.auc > (0.8)", r"Expected a value .* got '\('", 14),
    # strings
    ("params.x = 'abc", r"Unterminated string: the ' that opens it is never closed", 11),
    ('params.x = "abc', r'Unterminated string: the " that opens it', 11),
    ("params.x = 'abc\\'", r"Unterminated string", 11),
    ("tags.a = 'x' and tags.b = \"y", r"Unterminated string", 26),
    # in lists
    ("params.x in ()", r"The list after 'in' is empty; give at least one value", 13),
    ("params.x not in ( )", r"The list after 'not in' is empty", 18),
    ("params.x in 'a'", r"Expected '\(' after 'in', got \"'a'\"\. Write the values in paren", 12),
    ("params.x in ('a',)", r"Expected a value after ',', got '\)'\. Remove the trailing comma", 16),
    ("params.x in ('a' 'b')", r"Expected ',' or '\)' in the list after 'in', got \"'b'\"", 17),
    ("params.x in ('a', 'b'", r"the list after 'in' is never closed", 12),
    ("params.x in (,)", r"Expected a value .* got ','", 13),
    # and / or
    ("metrics.auc > 0.8 and", r"Expected a condition after 'and', got the end of the filter", 18),
    ("metrics.auc > 0.8 or  ", r"Expected a condition after 'or', got the end of the filter", 18),
    ("(metrics.auc > 0.8 and)", r"Expected a condition after 'and', got '\)'", 19),
    ("and metrics.auc > 0.8", r"Expected a field .* got the keyword 'and'", 0),
    ("metrics.auc > 0.8 and or tags.a = 'b'", r"Expected a field .* got the keyword 'or'", 22),
    (
        "metrics.auc > 0.8 && tags.a = 'b'",
        r"Unexpected character '&': join conditions with 'and'",
        18,
    ),
    (
        "metrics.auc > 0.8 || tags.a = 'b'",
        r"Unexpected character '\|': join conditions with 'or'",
        18,
    ),
    ("not metrics.auc > 0.8", r"Expected a field .* got the keyword 'not'", 0),
    # parentheses and trailing garbage
    ("(metrics.auc > 0.8", r"Unbalanced parentheses: this '\(' is never closed", 0),
    ("((metrics.auc > 0.8)", r"Unbalanced parentheses: this '\(' is never closed", 0),
    ("metrics.auc > 0.8)", r"Unbalanced parentheses: this '\)' has no matching '\('", 17),
    ("()", r"Empty parentheses", 0),
    ("(metrics.auc > 0.8 tags.a = 'b')", r"Expected 'and', 'or' or '\)', got 'tags\.a'", 19),
    ("metrics.auc > 0.8 tags.a = 'b'", r"Expected 'and', 'or' or the end of the filter", 18),
    ("params.name = my model", r"got 'my'\. Put strings in quotes: 'my'", 14),
    ("metrics.auc > 0.8;", r"Unexpected character ';'", 17),
    ("metrics.auc > 0.8, metrics.f1 > 1", r"Expected 'and', 'or' or the end .* got ','", 17),
    ("0.8 < metrics.auc", r"Expected a field .* got '0\.8'", 0),
    ("'metrics.auc' > 0.8", r"Expected a field .* got \"'metrics\.auc'\"", 0),
]


@pytest.mark.parametrize(("text", "match", "position"), INVALID, ids=[t for t, _, _ in INVALID])
def test_invalid_filter_points_at_the_token(text: str, match: str, position: int) -> None:
    with pytest.raises(FilterSyntaxError, match=match) as info:
        parse_filter_expr(text)
    assert info.value.position == position
    assert info.value.text == text


def test_error_message_repeats_the_filter_with_a_caret() -> None:
    with pytest.raises(FilterSyntaxError, match="Expected a comparison operator") as info:
        parse_filter_expr("metrics.auc equals 0.8")
    lines = str(info.value).splitlines()
    assert lines[1] == "  metrics.auc equals 0.8"
    assert lines[2] == "  " + " " * 12 + "^"


def test_filter_syntax_error_is_an_invalid_argument_and_a_value_error() -> None:
    with pytest.raises(InvalidArgumentError, match="Expected a value"):
        parse_filter_expr("metrics.auc >")
    with pytest.raises(ValueError, match="Expected a value"):
        parse_filter_expr("metrics.auc >")


@pytest.mark.parametrize("bad", [None, 3, b"metrics.auc > 1", ["metrics.auc > 1"]])
def test_non_string_filter_is_an_invalid_argument(bad: object) -> None:
    with pytest.raises(InvalidArgumentError, match="A filter must be a string") as info:
        parse_filter_expr(bad)  # type: ignore[arg-type]
    assert not isinstance(info.value, FilterSyntaxError)


ORDER_VALID: list[tuple[str, OrderKey]] = [
    ("metrics.auc desc", OrderKey(metric("auc"), descending=True)),
    ("metrics.auc DESC", OrderKey(metric("auc"), descending=True)),
    ("metrics.auc", OrderKey(metric("auc"))),
    ("metrics.auc asc", OrderKey(metric("auc"))),
    ("metrics.auc Asc", OrderKey(metric("auc"))),
    ("  params.lr   desc ", OrderKey(param("lr"), descending=True)),
    ("tags.team", OrderKey(tag("team"))),
    ("start_time desc", OrderKey(attr("start_time"), descending=True)),
    ("attributes.Name", OrderKey(attr("name"))),
    ("metrics.`val loss` asc", OrderKey(metric("val loss"))),
    ("metrics.train.loss desc", OrderKey(metric("train.loss"), descending=True)),
]


@pytest.mark.parametrize(("text", "expected"), ORDER_VALID, ids=[t for t, _ in ORDER_VALID])
def test_valid_order_clause(text: str, expected: OrderKey) -> None:
    assert parse_order_clause(text) == expected


ORDER_INVALID: list[tuple[str, str, int]] = [
    ("metrics.auc descending", r"Expected asc or desc after 'metrics\.auc', got 'descending'", 12),
    ("metrics.auc desc desc", r"Expected the end of the order-by clause, got 'desc'", 17),
    ("metrics.auc desc, params.lr", r"Give each key as its own clause", 16),
    ("metrics.auc, params.lr", r"Expected asc or desc .* got ','.*its own clause", 11),
    ("metrics.auc > 0.8", r"Expected asc or desc after 'metrics\.auc', got '>'", 12),
    ("", r"The order-by clause is empty", 0),
    ("   ", r"The order-by clause is empty", 0),
    ("desc", r"Expected a field .* got the keyword 'desc'", 0),
    ("metric.auc desc", r"Unknown field namespace 'metric'\. Did you mean 'metrics'\?", 0),
    ("stat desc", r"Unknown attribute 'stat'", 0),
    ("metrics.`auc desc", r"Unterminated key", 8),
]


@pytest.mark.parametrize(
    ("text", "match", "position"), ORDER_INVALID, ids=[t or "<empty>" for t, _, _ in ORDER_INVALID]
)
def test_invalid_order_clause_points_at_the_token(text: str, match: str, position: int) -> None:
    with pytest.raises(FilterSyntaxError, match=match) as info:
        parse_order_clause(text)
    assert info.value.position == position


def test_non_string_order_clause_is_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgumentError, match="An order-by clause must be a string"):
        parse_order_clause(None)  # type: ignore[arg-type]


def test_query_module_entry_points_use_this_parser() -> None:
    assert parse_filter("metrics.auc > 0.8") == AUC_HIGH
    assert parse_filter("") is None
    assert parse_order_by(["metrics.auc desc", "params.lr"]) == (
        OrderKey(metric("auc"), descending=True),
        OrderKey(param("lr")),
    )
    with pytest.raises(FilterSyntaxError, match="got 'down'"):
        parse_order_by(("metrics.auc down",))


# -- fuzz: random input either parses or raises FilterSyntaxError, never anything else ----

_FRAGMENTS = [
    "metrics.auc", "params.lr", "tags.team", "status", "start_time", "attributes.name",
    "metrics.`a b`", "metric.x", "foo", " and ", " or ", " not ", " in ", " is ", " null",
    " like ", " ilike ", "=", "==", "!=", "<>", "<", "<=", ">", ">=", "!", "&", "|", "(", ")",
    ",", "'x'", '"y"', "'", '"', "`", "\\", "0.8", "-1", "+", "-", ".", "1e5", "1e", "nan",
    "inf", "'FINISHED'", "'0.5'", " ", "\t", "\n", "é", "²", "٣", ";", "%", "asc", "desc",
]  # fmt: skip
_SEEDS = [
    "metrics.auc > 0.8 and params.max_depth = '6' or tags.team in ('a', 'b')",
    "(status = 'finished' or end_time is not null) and metrics.`val loss` <= -1e-3",
    "params.x not in (1, 2, 3) and tags.y ilike '%z\\'%'",
]


def _check(parse: object, text: str) -> None:
    assert callable(parse)
    try:
        parse(text)
    except FilterSyntaxError as err:
        assert 0 <= err.position <= len(text), (text, err.position)
        assert err.text == text


@pytest.mark.parametrize("seed", range(4))
def test_random_token_soup_parses_or_raises_filter_syntax_error(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(1500):
        text = "".join(rng.choice(_FRAGMENTS) for _ in range(rng.randint(0, 12)))
        _check(parse_filter_expr, text)
        _check(parse_order_clause, text)


@pytest.mark.parametrize("seed", range(4))
def test_random_mutations_of_valid_filters_parse_or_raise_filter_syntax_error(seed: int) -> None:
    rng = random.Random(1000 + seed)
    alphabet = "abcmetrics._`'\"()=<>!, 0123456789-+eE\\\t\né"
    for _ in range(1500):
        chars = list(rng.choice(_SEEDS))
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(chars) + 1)
            action = rng.random()
            if action < 0.4 and i < len(chars):
                del chars[i]
            elif action < 0.7 and i < len(chars):
                chars[i] = rng.choice(alphabet)
            else:
                chars.insert(i, rng.choice(alphabet))
        text = "".join(chars)
        _check(parse_filter_expr, text)


def test_random_printable_garbage_parses_or_raises_filter_syntax_error() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        text = "".join(chr(rng.randint(0, 0x2FF)) for _ in range(rng.randint(0, 30)))
        _check(parse_filter_expr, text)
        _check(parse_order_clause, text)
