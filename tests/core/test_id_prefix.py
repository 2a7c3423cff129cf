"""The shared id-prefix resolver: full ids, unique prefixes, and the three errors."""

from __future__ import annotations

import pytest

from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.core.id_prefix import resolve_prefix

IDS = ["3f2a" + "0" * 28, "3f2a" + "1" * 28, "77aa" + "b" * 28]
IDS += [f"0000{i:x}" + "c" * 27 for i in range(8)]


def lookup(prefix: str, limit: int) -> list[str]:
    return sorted(i for i in IDS if i.startswith(prefix))[:limit]


def resolve(prefix: object) -> str:
    return resolve_prefix(
        prefix, kind="evaluation", listing="loopml evaluations list", candidates=lookup
    )


def test_a_full_id_or_a_unique_prefix_gives_the_id() -> None:
    assert resolve("77aa" + "b" * 28) == "77aa" + "b" * 28
    assert resolve("77aa") == "77aa" + "b" * 28
    assert resolve(" 77AAbb ") == "77aa" + "b" * 28  # pasted with spaces, or upper case


def test_an_ambiguous_prefix_lists_the_candidates() -> None:
    with pytest.raises(InvalidArgumentError, match=r"prefix '3f2a' is ambiguous: it starts "
                       r"3f2a0+, 3f2a1+\. Give more digits"):  # fmt: skip
        resolve("3f2a")
    with pytest.raises(
        InvalidArgumentError, match=r"ambiguous: it starts 00000c+, .*00004c+, \.\.\."
    ):
        resolve("0000")  # 8 match: the first 5 are listed


def test_bad_and_unknown_prefixes() -> None:
    with pytest.raises(InvalidArgumentError, match="give at least 4 of its hex digits"):
        resolve("3f2")
    with pytest.raises(
        InvalidArgumentError, match="'zz-top' is not an evaluation id or a prefix of one"
    ):
        resolve("zz-top")
    with pytest.raises(InvalidArgumentError, match="is not a"):
        resolve(None)
    with pytest.raises(NotFoundError, match=r"No evaluation id starts with 'abcd'\. See `loopml "):
        resolve("abcd")
