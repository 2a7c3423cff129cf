"""Names and ``name@version`` references: the one parser that datasets and models share.

A name is 1-250 letters, digits, ``_``, ``-`` or ``.``, starting with a letter or digit. A
reference is a name, optionally followed by ``@`` and a version number (ASCII digits, from 1
to :data:`MAX_VERSION`, the largest a version column holds), ``latest``, or a tag that the
caller gives a meaning to (a model's alias; a dataset has none).

Every pattern here matches the whole text (``fullmatch``): with ``re.match`` and ``$``, a name
with a trailing newline (``"credit\\n"``) would pass, since ``$`` also matches before a final
newline.

Example:
    >>> parse_ref("credit-default@3", noun="model")
    Ref(name='credit-default', version=3, tag=None)
    >>> parse_ref("credit-default@champion", noun="model").tag
    'champion'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from loopml.core.errors import InvalidArgumentError

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,249}")
#: What is read as a version number (a minus sign too, to say that versions start at 1).
_NUMBER = re.compile(r"-?[0-9]+")
#: The highest version of a dataset or a model (the SQL ``INTEGER`` the stores number with).
MAX_VERSION = 2**31 - 1
#: The version after ``@`` that means "the highest one".
LATEST = "latest"


def check_name(name: object, *, noun: str) -> str:
    """Return ``name`` if it is a valid dataset or model name, else raise naming the rule.

    Args:
        name: The name to check.
        noun: What it names (``model``, ``dataset``), for the message.

    Raises:
        InvalidArgumentError: Not a string, or not 1-250 letters, digits, ``_ - .``
            starting with a letter or digit.
    """
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise InvalidArgumentError(
            f"{noun.capitalize()} name {name!r} is not valid: use 1-250 letters, digits, '_', "
            "'-' or '.', starting with a letter or digit (e.g. 'credit-default')."
        )
    return name


def check_version(version: object, *, noun: str) -> int:
    """Return ``version`` if it is a version number (an ``int`` from 1 to
    :data:`MAX_VERSION`), else raise.

    Raises:
        InvalidArgumentError: Not an int (a bool is not one), or out of range.
    """
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        raise InvalidArgumentError(
            f"A {noun} version is a whole number from 1 to {MAX_VERSION}. Got {version!r} instead."
        )
    return version


@dataclass(frozen=True)
class Ref:
    """A parsed reference.

    Attributes:
        name: The dataset or model name.
        version: The version number, or None (latest, or a tag).
        tag: The text after ``@`` when it is neither a number nor ``latest`` (unchecked: the
            caller decides what it may be).
    """

    name: str
    version: int | None = None
    tag: str | None = None


def parse_ref(ref: object, *, noun: str) -> Ref:
    """Parse ``name``, ``name@3``, ``name@latest`` or ``name@<tag>``.

    Args:
        ref: The reference.
        noun: What it names (``model``, ``dataset``), for messages.

    Raises:
        InvalidArgumentError: Not text, a bad name, or a version outside 1 to
            :data:`MAX_VERSION`.
    """
    if not isinstance(ref, str):
        raise InvalidArgumentError(
            f"A {noun} reference is text like 'credit-default@3' or 'credit-default@latest'; "
            f"got {ref!r}."
        )
    name, sep, tail = ref.partition("@")
    check_name(name, noun=noun)
    if not sep or tail == LATEST:
        return Ref(name)
    if _NUMBER.fullmatch(tail):
        # A number of more than 12 characters is out of range (and int() refuses very long
        # ones): do not convert it.
        number = int(tail) if len(tail) <= 12 else MAX_VERSION + 1
        if not 1 <= number <= MAX_VERSION:
            raise InvalidArgumentError(
                f"{noun.capitalize()} reference {ref!r} has version {tail}: versions are whole "
                f"numbers from 1 to {MAX_VERSION} (e.g. '{name}@3'), or 'latest'."
            )
        return Ref(name, version=number)
    return Ref(name, tag=tail)
