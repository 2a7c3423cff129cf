"""The agent: runs policies' triggers and loop runs, as a long-lived process
(``loopml agent``) or until nothing is runnable (``--once``).

Each tick, for every policy, the agent lists what its triggers saw and claims each
occurrence (:func:`~loopml.automation.triggers.claim`: once, whichever agent claims it), then
takes the lease of every open run that is due and advances it
(:func:`~loopml.automation.machine.advance`), giving the lease back when the run waits or
ends. A heartbeat thread renews the agent's registration and the lease of the run it is
working on, so a long training keeps its run; a killed agent's lease expires and another
agent (or this one restarted) takes the run over where its last stored step left it.

An agent has a name (default ``agent@<host>``): a second agent started under a name whose
agent is alive is refused with the first one's pid, host and last heartbeat; a name whose
agent died (its pid gone on this host, or its heartbeat expired) is taken over.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from loopml.automation.machine import advance
from loopml.automation.steps import Outcome, StepContext
from loopml.automation.triggers import claim, iso, occurrences
from loopml.core.clock import Clock, now_ms
from loopml.core.entities import Event, LoopAgent, LoopPolicyRecord, LoopRun
from loopml.core.entities.automation import OPEN_STATUSES
from loopml.core.errors import AlreadyExistsError, ConflictError, InvalidArgumentError
from loopml.core.ids import new_event_id

if TYPE_CHECKING:
    from loopml.automation.policy import LoopPolicy
    from loopml.store.backend import Backend

_log = logging.getLogger("loopml.automation")

#: Default seconds between ticks (and before a waiting run is looked at again).
DEFAULT_INTERVAL_S = 30.0
#: Default seconds a lease (and an agent's registration) lasts without a heartbeat.
DEFAULT_LEASE_S = 60.0


def default_name() -> str:
    """``agent@<host>``: one agent per machine unless named otherwise."""
    return f"agent@{socket.gethostname()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class TickReport:
    """What one tick did.

    Attributes:
        claimed: Runs claimed (``skipped`` ones included).
        advanced: Runs that stored at least one step, as stored last.
        waiting: Ids of runs that were looked at and wait (for evidence or approval).
        busy: Ids of due runs another agent holds.
    """

    claimed: list[LoopRun] = field(default_factory=list)
    advanced: list[LoopRun] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)

    @property
    def did_something(self) -> bool:
        """Whether a run was claimed or a step stored."""
        return bool(self.claimed or self.advanced)


class Agent:
    """Runs loop policies against one store.

    Args:
        backend: The stores.
        policies: The policies (validated; checked against the store by :meth:`start`).
        name: The agent's name (its leases say it); default :func:`default_name`.
        interval_s: Seconds between ticks, and before a waiting run is looked at again.
        lease_s: Seconds a lease lasts without a heartbeat (renewed every third of it).
        clock: Milliseconds since the epoch (injectable for tests).
        say: Called with a readable line for each claim and each stored step.

    Example:
        >>> with Agent(backend, [load_policy("late.yaml")]) as agent:  # doctest: +SKIP
        ...     agent.run_once()
    """

    def __init__(
        self,
        backend: Backend,
        policies: Sequence[LoopPolicy],
        *,
        name: str | None = None,
        interval_s: float = DEFAULT_INTERVAL_S,
        lease_s: float = DEFAULT_LEASE_S,
        clock: Clock = now_ms,
        say: Callable[[str], None] | None = None,
    ) -> None:
        names = [p.name for p in policies]
        if not policies:
            raise InvalidArgumentError("An agent needs at least one policy (--policy FILE).")
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise InvalidArgumentError(
                f"Policy name {twice[0]!r} is given twice; each policy needs its own name."
            )
        deployments = [p.deployment for p in policies]
        if len(set(deployments)) != len(deployments):
            both = sorted({d for d in deployments if deployments.count(d) > 1})
            raise InvalidArgumentError(
                f"Two policies release to deployment {both[0]!r}; their canaries would take "
                "each other's place. Give each policy its own deployment."
            )
        if interval_s < 0 or lease_s <= 0:
            raise InvalidArgumentError(
                f"interval must be >= 0 s and lease > 0 s. Got {interval_s!r} and {lease_s!r}."
            )
        self.backend = backend
        self.policies = {p.name: p for p in policies}
        self.name = name or default_name()
        self.interval_ms = int(interval_s * 1000)
        self.lease_ms = max(1, int(lease_s * 1000))
        self.clock = clock
        self.say = say or (lambda line: None)
        self.stop = threading.Event()
        self.token = uuid.uuid4().hex
        self._records: dict[str, LoopPolicyRecord] = {}
        self._seen: set[tuple[str, str]] = set()
        self._working: set[str] = set()
        self._heart: threading.Thread | None = None
        self._beats = threading.Event()
        self._started = False
        self.lost_name = False

    def __enter__(self) -> Agent:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Check every policy against the store, register the agent and its policies, and
        start the heartbeat.

        Raises:
            ConflictError: An agent of the same name is running.
            NotFoundError, InvalidArgumentError: A policy names something that does not
                exist (see :func:`~loopml.automation.policy_check.check_policy`).
        """
        from loopml.automation.policy_check import check_policy

        if self._started:
            return
        for policy in self.policies.values():
            check_policy(policy, self.backend)
        self._register()
        now = self.clock()
        for policy in self.policies.values():
            record = LoopPolicyRecord(policy.name, policy.digest, policy.spec, now, now)
            self._records[policy.name] = self.backend.loops.save_policy(record)
        self._started = True
        self._heart = threading.Thread(
            target=self._heartbeat, name="loopml-agent-heartbeat", daemon=True
        )
        self._heart.start()

    def _register(self) -> None:
        loops, now = self.backend.loops, self.clock()
        me = LoopAgent(
            holder=self.name,
            token=self.token,
            host=socket.gethostname(),
            pid=os.getpid(),
            started_at=now,
            seen_at=now,
            expires_at=now + self.lease_ms,
            policies=tuple(self.policies),
        )
        other = loops.get_agent(self.name)
        if other is None:
            loops.put_agent(me)
            return
        gone = other.expires_at < now or (other.host == me.host and not _alive(other.pid))
        if not gone:
            raise ConflictError(
                f"An agent named {self.name!r} is already running: pid {other.pid} on "
                f"{other.host}, started {iso(other.started_at)}, last heartbeat "
                f"{max(0, now - other.seen_at) / 1000:.1f} s ago, policies "
                f"{', '.join(other.policies) or 'none'}. Stop it first (SIGTERM: it ends its "
                "current step), or start this one with another --name."
            )
        loops.put_agent(me, replaces=other.token)
        _log.info(
            "agent %s: took the name over from pid %s on %s (gone)",
            self.name,
            other.pid,
            other.host,
        )

    def close(self) -> None:
        """Stop the heartbeat, give back every lease, and unregister."""
        self.stop.set()
        self._beats.set()
        if self._heart is not None:
            self._heart.join()
            self._heart = None
        if self._started:
            for run_id in list(self._working):
                self.backend.loops.release(run_id, self.name)
            self.backend.loops.remove_agent(self.name, self.token)
            self._started = False

    def _heartbeat(self) -> None:
        period = self.lease_ms / 3000
        while not self._beats.wait(period):
            now = self.clock()
            try:
                alive = self.backend.loops.heartbeat(
                    self.name, self.token, now=now, expires_at=now + self.lease_ms
                )
                if self._working:
                    self.backend.loops.renew(
                        self._working, self.name, now=now, ttl_ms=self.lease_ms
                    )
            except Exception as exc:  # the store may be down for a while: keep beating
                _log.warning("agent %s: heartbeat failed (%s)", self.name, exc)
                continue
            if not alive:
                _log.error(
                    "agent %s: the name was taken over by another agent; stopping", self.name
                )
                self.lost_name = True
                self.stop.set()
                return

    # -- work --------------------------------------------------------------------------------

    def backend_for(self, policy: LoopPolicy) -> Backend:
        """The stores with the policy's actor (``automation:<policy>``) as the user."""
        settings = replace(self.backend.settings, user=policy.actor)
        return replace(self.backend, settings=settings)

    def tick(self, *, exclude: set[str] | frozenset[str] = frozenset()) -> TickReport:
        """Claim what the triggers saw, then advance every due open run (except
        ``exclude``); see the module docstring."""
        self.start()
        report = TickReport()
        for policy in self.policies.values():
            if self.stop.is_set():
                return report
            self._claim(policy, report)
        due = self.backend.loops.list_runs(statuses=OPEN_STATUSES, due_by=self.clock())
        for run in sorted(due, key=lambda r: (r.created_at, r.run_id)):
            if self.stop.is_set():
                break
            if run.policy in self.policies and run.run_id not in exclude:
                self._advance(self.policies[run.policy], run, report)
        return report

    def run_once(self) -> list[TickReport]:
        """Tick until nothing is runnable: no new trigger, and every open run waits (for
        evidence or approval), is held by another agent or has ended. Returns each tick's
        report."""
        reports: list[TickReport] = []
        looked: set[str] = set()
        while not self.stop.is_set():
            report = self.tick(exclude=looked)
            reports.append(report)
            looked.update(report.waiting, report.busy)
            if not report.did_something:
                break
        return reports

    def run_forever(self) -> None:
        """Tick every ``interval_s`` until :attr:`stop` is set (SIGTERM, in the CLI)."""
        while not self.stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # a store down for a while: the next tick tries again
                _log.warning(
                    "agent %s: the tick failed (%s: %s)", self.name, type(exc).__name__, exc
                )
                self.say(f"tick failed, trying again: {type(exc).__name__}: {exc}")
            self.stop.wait(self.interval_ms / 1000 or 0.05)

    def _claim(self, policy: LoopPolicy, report: TickReport) -> None:
        backend = self.backend_for(policy)
        since = self._records[policy.name].first_seen_at
        for found in occurrences(policy, backend, since=since, now=self.clock()):
            if (policy.name, found.key) in self._seen:
                continue
            try:
                run = claim(backend, policy, found, now=self.clock())
            except AlreadyExistsError:
                run = None
            self._seen.add((policy.name, found.key))
            if run is not None:
                report.claimed.append(run)
                verb = "skipped" if run.status == "skipped" else "triggered"
                self.say(f"{policy.name}: run {run.run_id[:12]} {verb} by {found.reason}")

    def _advance(self, policy: LoopPolicy, run: LoopRun, report: TickReport) -> None:
        loops, now = self.backend.loops, self.clock()
        held = loops.acquire(run.run_id, self.name, now=now, ttl_ms=self.lease_ms)
        if held is None:
            report.busy.append(run.run_id)
            return
        if run.lease_holder not in (None, self.name):
            self._taken_over(policy, run, now)
        self._working.add(run.run_id)
        ctx = StepContext(
            backend=self.backend_for(policy),
            policy=policy,
            holder=self.name,
            clock=self.clock,
            interval_ms=self.interval_ms,
        )
        stored: list[LoopRun] = []

        def after(moved: LoopRun, outcome: Outcome) -> None:
            tag = f"{policy.name}: run {moved.run_id[:12]}"
            if outcome.waits:
                report.waiting.append(moved.run_id)
                self.say(f"{tag} waits at {moved.step}: {outcome.reason}")
            else:
                stored.append(moved)
                self.say(f"{tag} {outcome.kind}: {outcome.reason}")

        try:
            last = advance(ctx, loops, held, stop=self.stop, after_step=after)
            if last.is_open and last.next_at > self.clock() and last.run_id not in report.waiting:
                report.waiting.append(last.run_id)
        except ConflictError as exc:  # the lease was lost: the run goes on with its holder
            _log.warning("agent %s: %s", self.name, exc)
            report.busy.append(run.run_id)
        finally:
            self._working.discard(run.run_id)
            loops.release(run.run_id, self.name)
        if stored:
            report.advanced.append(stored[-1])

    def _taken_over(self, policy: LoopPolicy, run: LoopRun, now: int) -> None:
        expired = iso(run.lease_expires_at) if run.lease_expires_at is not None else "?"
        self.backend.events.append(
            Event(
                event_id=new_event_id(),
                kind="loop.taken_over",
                subject=policy.subject,
                actor=policy.actor,
                at=now,
                reason=(
                    f"agent {self.name!r} took loop run {run.run_id[:12]} over from "
                    f"{run.lease_holder!r}, whose lease expired at {expired}; it goes on at "
                    f"step {run.step}"
                ),
                links={"run": run.run_id},
                data={"from": run.lease_holder, "to": self.name, "step": run.step},
            )
        )
        self.say(f"{policy.name}: run {run.run_id[:12]} taken over from {run.lease_holder}")
