"""``loopml.loops``: the closed loop from Python: run policies until nothing is runnable, and
read what the agent did (runs, steps, the timeline of decisions).

:func:`run_once` is ``loopml agent --policy FILE --once``: it claims what the policies'
triggers saw and advances every open run (train, gate, release, observe, approve, promote or
roll back) until each waits for evidence or approval or has ended. The readers are ``loopml
loop list|history|status``. All of them act on the active client's store (``LOOPML_HOME``,
``LOOPML_DB_URL``, ...), as the other SDK modules do; the service behind them is
:mod:`loopml.automation`.

Example:
    >>> import loopml
    >>> runs = loopml.loops.run_once("late-loop.yaml")  # doctest: +SKIP
    >>> [(r.status, r.step) for r in runs]  # doctest: +SKIP
    [('running', 'observe')]
    >>> for entry in loopml.loops.history("late-flights"):  # doctest: +SKIP
    ...     print(entry.title, entry.reason)
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.client.fluent import _get_client
from loopml.core.entities import LoopPolicyRecord, LoopRun, LoopStep

if TYPE_CHECKING:
    from loopml.automation import LoopPolicy, TimelineEntry

__all__ = [
    "LoopPolicyRecord",
    "LoopRun",
    "LoopStep",
    "history",
    "list_policies",
    "list_runs",
    "run_once",
    "status",
    "steps",
]


def run_once(
    policies: str | Path | Mapping[str, Any] | LoopPolicy | Sequence[Any],
    *,
    name: str | None = None,
    interval_s: float = 0.0,
    say: Callable[[str], None] | None = None,
) -> list[LoopRun]:
    """Run loop policies until nothing is runnable (``loopml agent --once``).

    Each policy is loaded and checked against the store before anything runs. Then the agent
    ticks: it claims each new occurrence of a trigger (a dataset version, an alert, a
    scheduled instant since the policy first ran), and advances every open run of the
    policies one stored step after the other, until every run waits (for live evidence or an
    approval), is held by another agent, or has ended. Call it again when labels or an
    approval have come.

    Args:
        policies: A policy or a list of them: a YAML file's path, the policy as a mapping
            (a gate file it names is found from the working folder), or a
            :class:`~loopml.automation.LoopPolicy`.
        name: The agent's name (its leases and steps say it); default
            ``sdk-<pid>@<host>``, so a ``loopml agent`` running on this machine is not in
            the way (two agents on one store never act twice on one trigger).
        interval_s: Seconds before a waiting run is looked at again (0: at every call).
        say: Called with a readable line for each claim and each stored step.

    Returns:
        The runs this call claimed, advanced or looked at, as stored now, oldest first.

    Raises:
        InvalidArgumentError: A policy file is missing or a field is bad (the message names
            it, the value and the fix).
        NotFoundError: A policy names a model, deployment or dataset that does not exist.
        ConflictError: An agent of the same ``name`` is running.

    Example:
        >>> runs = loopml.loops.run_once(["late.yaml", "fraud.yaml"])  # doctest: +SKIP
    """
    from loopml.automation import Agent

    loaded = [_load(p) for p in _as_list(policies)]
    backend = _get_client().backend
    agent_name = name or f"sdk-{os.getpid()}@{socket.gethostname()}"
    with Agent(backend, loaded, name=agent_name, interval_s=interval_s, say=say) as agent:
        reports = agent.run_once()
    touched = {
        run_id: None
        for report in reports
        for run_id in (
            *(r.run_id for r in (*report.claimed, *report.advanced)),
            *report.waiting,
            *report.busy,
        )
    }
    runs = [backend.loops.get_run(run_id) for run_id in touched]
    return sorted(runs, key=lambda r: (r.created_at, r.run_id))


def _as_list(policies: Any) -> list[Any]:
    from loopml.automation import LoopPolicy

    if isinstance(policies, str | Path | Mapping | LoopPolicy):
        return [policies]
    return list(policies)


def _load(source: Any) -> LoopPolicy:
    from loopml.automation import LoopPolicy, load_policy
    from loopml.core.errors import InvalidArgumentError

    if isinstance(source, LoopPolicy):
        return source
    if isinstance(source, str | Path | Mapping):
        return load_policy(source)
    raise InvalidArgumentError(
        f"A policy must be a YAML file's path, a mapping or a LoopPolicy. Got "
        f"{type(source).__name__} {source!r} instead."
    )


def list_policies() -> list[LoopPolicyRecord]:
    """Every policy an agent has run, by name (as the agent last loaded it)."""
    return _get_client().loops.policies()


def list_runs(*, policy: str | None = None, limit: int | None = 50) -> list[LoopRun]:
    """Loop runs, newest first.

    Args:
        policy: Only this policy's runs.
        limit: At most this many (None: all).

    Raises:
        NotFoundError: No agent ever ran ``policy`` (naming those that exist).
    """
    return _get_client().loops.runs(policy=policy, limit=limit)


def status(name_or_run: str) -> LoopRun:
    """One loop run, as stored now: where it is (``status``, ``step``), what it produced and
    what it waits for (``state``: the challenger, the latest live evidence, ...).

    Args:
        name_or_run: A policy's name (its newest run), or a run's id (or a unique prefix of
            at least 4 digits).

    Raises:
        NotFoundError: No such policy or run, or the policy has no run yet.

    Example:
        >>> run = loopml.loops.status("late-flights")  # doctest: +SKIP
        >>> run.status, run.state["evidence"]["reason"]  # doctest: +SKIP
        ('running', 'Wait on late@7 (canary): 312 of 1,000 labeled rows on canary')
    """
    return _get_client().loops.find(name_or_run)


def steps(name_or_run: str) -> list[LoopStep]:
    """The stored steps of a run (as :func:`status` finds it), in order, each with its
    outcome, its agent and what it produced."""
    service = _get_client().loops
    return service.store.steps(service.find(name_or_run).run_id)


def history(policy: str, *, run: str | None = None) -> list[TimelineEntry]:
    """A policy's timeline, oldest first: every decision (``loop.*`` event) with its reason
    and its evidence as short lines (``loopml loop history``).

    Args:
        policy: The policy's name.
        run: Only this run (id or prefix).

    Raises:
        NotFoundError: No agent ever ran ``policy`` (naming those that exist).
    """
    return _get_client().loops.history(policy, run=run)
