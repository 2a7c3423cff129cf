"""The tokens of the run-search filter language, cut on demand by :class:`FilterLexer`.

The lexer is used by :mod:`loopml.store.filter_parser` (and its number pattern by
:mod:`loopml.store.filter_values`), by nothing else. Tokens are cut
one at a time as the parser asks for them, so errors surface in left-to-right order. A lexer
error is a :class:`~loopml.core.errors.FilterSyntaxError` pointing at the offending
character.

Token kinds:

- ``word``: a name or keyword, ``[A-Za-z_][A-Za-z0-9_.-]*``; a word that ends with ``.``
  followed by a backtick-quoted key (``metrics.`val loss```) carries that key,
- ``number``: ``[+-]`` digits, a fraction and an exponent (``-1``, ``.5``, ``1e-3``),
- ``string``: in single or double quotes; a backslash escapes the quote and itself,
- ``op``: ``= == != <> < <= > >=``, normalized (``==`` is ``=``, ``<>`` is ``!=``),
- ``lparen``, ``rparen``, ``comma``, and ``eof``.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Literal

from loopml.core.errors import FilterSyntaxError

TokenKind = Literal["word", "number", "string", "op", "lparen", "rparen", "comma", "eof"]

#: Words that mean NaN or infinity, which are not valid filter literals.
NOT_LITERALS = frozenset({"nan", "inf", "infinity"})
NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)

_WORD_START = frozenset(string.ascii_letters + "_")
_WORD_CHARS = frozenset(string.ascii_letters + string.digits + "_.-")
_NUMBER_START = frozenset(string.digits + "+-.")
_PUNCTUATION: dict[str, TokenKind] = {"(": "lparen", ")": "rparen", ",": "comma"}
_OPERATORS = {"==": "=", "<>": "!=", "!=": "!=", "<=": "<=", ">=": ">=", "=": "=", "<": "<",
              ">": ">"}  # fmt: skip
_CHARACTER_HINTS = {
    "!": "write != for 'not equal'",
    "&": "join conditions with 'and'",
    "|": "join conditions with 'or'",
}


@dataclass(frozen=True)
class Token:
    """One token: its kind, the source slice ``[pos, end)`` and its decoded value.

    Attributes:
        kind: What the token is.
        pos: Index of its first character in the text.
        end: Index just past its last character.
        value: The word, the number as written, the decoded string, or the normalized
            operator.
        key: For a ``prefix.`` word followed by a backtick-quoted key, the decoded key.
        key_pos: Index of the opening backtick of ``key``.
    """

    kind: TokenKind
    pos: int
    end: int
    value: str
    key: str | None = None
    key_pos: int = 0


def not_a_literal_message(written: str) -> str:
    """Return the error message for ``nan``/``inf`` written as a value."""
    return (
        f"{written!r} is not a valid value: NaN and infinity cannot be used in a filter (a "
        "NaN metric never matches a comparison). Use a finite number, or 'is null' to find "
        "runs without the metric."
    )


class FilterLexer:
    """Cut a filter (or order-by clause) into :class:`Token` objects, one per :meth:`next`.

    Args:
        text: The whole filter; positions in tokens and errors index into it.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.index = 0
        #: Where the end of the filter is reported: just past its last non-space character.
        self.eof_pos = len(text.rstrip())
        bad = next(
            (i for i, c in enumerate(text) if c == "\x00" or "\ud800" <= c <= "\udfff"), None
        )
        if bad is not None:  # no stored key or value holds one (PostgreSQL cannot even compare)
            what = "a NUL byte" if text[bad] == chr(0) else "an unpaired surrogate"
            raise self.error(
                f"The filter holds {what} ({text[bad]!r}) at position {bad}, which no key or "
                "value can hold. Remove it.",
                bad,
            )

    def error(self, message: str, position: int) -> FilterSyntaxError:
        """Return a syntax error pointing at ``position`` of the text."""
        return FilterSyntaxError(message, text=self.text, position=position)

    def next(self) -> Token:
        """Cut and return the next token (``eof`` once the text is used up).

        Raises:
            FilterSyntaxError: The next characters are not a token.
        """
        text, i = self.text, self.index
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            self.index = i
            return Token("eof", self.eof_pos, self.eof_pos, "")
        char = text[i]
        if char in _PUNCTUATION:
            token = Token(_PUNCTUATION[char], i, i + 1, char)
        elif char in "'\"":
            value, end = self._quoted(i, "string")
            token = Token("string", i, end, value)
        elif char == "`":
            raise self.error(
                "A backtick-quoted key needs its namespace in front: write "
                "metrics.`val loss`, params.`...` or tags.`...`.",
                i,
            )
        elif char in _WORD_START:
            token = self._word(i)
        elif char in _NUMBER_START:
            token = self._number(i)
        else:
            token = self._operator(i)
        self.index = token.end
        return token

    def _quoted(self, start: int, what: str) -> tuple[str, int]:
        """Read the quoted run opening at ``start``; return its content and its end index.

        A backslash escapes the quote character and the backslash itself; any other
        backslash is kept as written (so LIKE patterns and Windows paths survive).
        """
        text, quote = self.text, self.text[start]
        parts: list[str] = []
        i = start + 1
        while i < len(text):
            char = text[i]
            if char == "\\" and i + 1 < len(text) and text[i + 1] in (quote, "\\"):
                parts.append(text[i + 1])
                i += 2
            elif char == quote:
                return "".join(parts), i + 1
            else:
                parts.append(char)
                i += 1
        raise self.error(
            f"Unterminated {what}: the {quote} that opens it is never closed. Add the closing "
            f"{quote} (and write a {quote} inside it as \\{quote}).",
            start,
        )

    def _word(self, start: int) -> Token:
        text, i = self.text, start
        while i < len(text) and text[i] in _WORD_CHARS:
            i += 1
        word = text[start:i]
        if word.endswith(".") and text[i : i + 1] == "`":
            key, end = self._quoted(i, "key")
            if not key:
                raise self.error(
                    "The backtick-quoted key is empty; write the key between the backticks, "
                    "as in metrics.`val loss`.",
                    i,
                )
            return Token("word", start, end, word, key=key, key_pos=i)
        return Token("word", start, i, word)

    def _number(self, start: int) -> Token:
        text = self.text
        match = NUMBER.match(text, start)
        end = match.end() if match else start
        tail = end
        while tail < len(text) and (text[tail] in _WORD_CHARS or text[tail] in "+-"):
            tail += 1
        if match is not None and tail == end:
            return Token("number", start, end, text[start:end])
        written = text[start:tail]
        if written.lstrip("+-").lower() in NOT_LITERALS:
            raise self.error(not_a_literal_message(written), start)
        if written in ("+", "-", "."):
            raise self.error(
                f"Unexpected {written!r}: a sign or a decimal point must be followed by "
                "digits, as in -1 or .5.",
                start,
            )
        raise self.error(
            f"{written!r} is not a number. Write numbers like 6, -0.5, .25 or 1e-3, and put "
            f"strings in quotes ('{written}').",
            start,
        )

    def _operator(self, start: int) -> Token:
        for width in (2, 1):
            symbol = self.text[start : start + width]
            if len(symbol) == width and symbol in _OPERATORS:
                return Token("op", start, start + width, _OPERATORS[symbol])
        char = self.text[start]
        hint = _CHARACTER_HINTS.get(
            char,
            "keys with characters other than letters, digits, '_', '.' and '-' go in "
            "backticks (metrics.`val loss`), and strings go in quotes",
        )
        raise self.error(f"Unexpected character {char!r}: {hint}.", start)
