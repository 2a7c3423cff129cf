"""Shared rendering for the CLI: times, durations, numbers, sizes."""

from __future__ import annotations

import datetime as dt
import math


def when(ms: int | None) -> str:
    """Format a millisecond timestamp as local ``YYYY-MM-DD HH:MM:SS``."""
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def duration(ms: int | None) -> str:
    """Format a duration in milliseconds as ``1.2s`` / ``3m04s`` / ``2h05m``."""
    if ms is None:
        return "-"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def number(value: float) -> str:
    """Format a metric value compactly (NaN and infinities spelled out)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-4):
        return f"{value:.4e}"
    return f"{value:.6g}"


def size(n: int) -> str:
    """Format a size in bytes: ``512 B``, ``1.5 kB``, ``3.2 MB``, ``1.1 GB`` (powers of 1024)."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


STATUS_STYLE = {"RUNNING": "yellow", "FINISHED": "green", "FAILED": "red", "KILLED": "magenta"}


def status(value: str) -> str:
    """A status with its colour markup."""
    return f"[{STATUS_STYLE.get(value, 'white')}]{value}[/]"
