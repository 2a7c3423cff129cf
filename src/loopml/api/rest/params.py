"""Limits shared by the routes' parameters and bodies."""

from __future__ import annotations

__all__ = ["LINE", "TEXT"]

#: One line of text: no control characters (NUL, which PostgreSQL cannot store, included).
LINE = r"^[^\x00-\x1f\x7f]*$"
#: Free text: line breaks and tabs allowed, other control characters not.
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
