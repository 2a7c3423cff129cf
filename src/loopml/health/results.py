"""Stored monitor runs: every run of :meth:`MonitorService.monitor` with a store is kept, one
:class:`~loopml.core.entities.MonitorResult` per window, with a ``monitor.run`` event linking
the run id; ``loopml monitor show`` lists them.

A run is written in one transaction (its windows and its event), after the whole run is
computed, so an interrupted run leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from loopml.core.entities import Event, MonitorReport, MonitorResult
from loopml.core.errors import InvalidArgumentError
from loopml.core.ids import new_event_id
from loopml.core.refs import check_name
from loopml.health.alerts import parse_duration

if TYPE_CHECKING:
    from loopml.store.protocols import MonitorResultStore

#: The event kind of a stored run (subject: the run's subject; links: ``monitor_run``).
RUN_EVENT = "monitor.run"

R = TypeVar("R", bound=MonitorReport)


def subject_of(model_name: str | None, current_label: str) -> str:
    """What a run is about: ``model:<name>``, or ``data:<current data>`` without a model."""
    return f"model:{model_name}" if model_name is not None else f"data:{current_label}"


def _ms(iso: str | None) -> int | None:
    if iso is None:
        return None
    return int(dt.datetime.fromisoformat(iso).timestamp() * 1000)


def store_run(results: MonitorResultStore, report: R, *, subject: str, actor: str) -> R:
    """Store every window of ``report`` and its ``monitor.run`` event in one transaction.

    Args:
        results: The store of monitor results.
        report: The finished run.
        subject: What it is about (:func:`subject_of`).
        actor: Who ran it.

    Returns:
        The report with its ``run_id``.
    """
    run_id = new_event_id()
    rows = [
        MonitorResult(
            result_id=new_event_id(),
            run_id=run_id,
            subject=subject,
            model=report.model,
            window=w,
            start_ms=_ms(w.start),
            end_ms=_ms(w.end),
            created_at=report.created_at,
            alerts=tuple(a for a in report.alerts if a.window == w.index),
        )
        for w in report.windows
    ]
    drifted = [w.index for w in report.windows if w.dataset_drift]
    fired = [a.rule for a in report.alerts if a.status == "fired"]
    event = Event(
        event_id=new_event_id(),
        kind=RUN_EVENT,
        subject=subject,
        actor=actor,
        at=report.created_at,
        reason=f"monitor run: {len(rows)} window(s), {len(drifted)} drifted, "
        f"{len(fired)} alert(s) fired",
        links={"monitor_run": run_id, **({"model": report.model} if report.model else {})},
        data={
            "run_id": run_id,
            "windows": len(rows),
            "drifted_windows": drifted,
            "alerts": fired,
            "suppressed": [a.rule for a in report.alerts if a.status != "fired"],
        },
    )
    results.add(rows, event=event)
    return replace(report, run_id=run_id)


def parse_since(value: str, *, now: int) -> int:
    """``--since``: a duration back from ``now`` (``90min``, ``6h``, ``7d``) or a UTC date or
    time (``2024-03-01``, ``2024-03-01T12:00``), in milliseconds since the epoch.

    Raises:
        InvalidArgumentError: Neither.
    """
    text = value.strip()
    try:
        return now - parse_duration(text, "--since")
    except InvalidArgumentError:
        pass
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidArgumentError(
            f"--since {value!r} is neither a duration (90min, 6h, 7d) nor a date or time "
            "(2024-03-01, 2024-03-01T12:00, UTC when no offset is given)."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def list_results(
    results: MonitorResultStore,
    model: str | None = None,
    *,
    since: int | None = None,
    limit: int | None = 20,
) -> Sequence[MonitorResult]:
    """The stored windows of a model's runs (or of every run), newest run first.

    Args:
        results: The store of monitor results.
        model: A model name (its runs on every version; the results say which version), a
            subject as stored (``data:flights@4``), or None for every run.
        since: Only runs made at or after this time (ms since the epoch).
        limit: At most this many windows.

    Raises:
        InvalidArgumentError: A bad model name, or a ``name@version`` (give the name).
    """
    subject = None
    if model is not None:
        if model.startswith(("model:", "data:")):
            subject = model
        else:
            name, at, _ = model.partition("@")
            if at:
                raise InvalidArgumentError(
                    f"{model!r}: give the model's name ({name!r}); the results of all its "
                    "versions are listed, each with the version it ran on."
                )
            subject = subject_of(check_name(name, noun="model"), "")
    if limit is not None and limit < 1:
        raise InvalidArgumentError(f"limit={limit!r} must be at least 1.")
    return results.list_results(subject=subject, since=since, limit=limit)
