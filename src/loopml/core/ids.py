"""Typed ids. Runs and experiments are named by random 32-hex-digit ids (uuid4)."""

from __future__ import annotations

import re
import uuid
from typing import NewType

RunId = NewType("RunId", str)
ExperimentId = NewType("ExperimentId", str)

_HEX_ID = re.compile(r"[0-9a-f]{32}")


def new_run_id() -> RunId:
    """Return a fresh run id."""
    return RunId(uuid.uuid4().hex)


def new_experiment_id() -> ExperimentId:
    """Return a fresh experiment id."""
    return ExperimentId(uuid.uuid4().hex)


def new_event_id() -> str:
    """Return a fresh event id."""
    return uuid.uuid4().hex


def is_hex_id(value: str) -> bool:
    """Tell whether ``value`` has the shape of a loopml id (32 lowercase hex digits)."""
    return _HEX_ID.fullmatch(value) is not None
