"""Limits shared by the routes' parameters and bodies."""

from __future__ import annotations

__all__ = ["LINE", "MAX_INT", "TEXT"]

#: One line of text: no control characters (NUL, which PostgreSQL cannot store, included).
LINE = r"^[^\x00-\x1f\x7f]*$"
#: Free text: line breaks and tabs allowed, other control characters not.
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

#: The largest integer a store column holds (BIGINT): milliseconds since the epoch and counts.
MAX_INT = 2**63 - 1
