"""The step machine: one leased loop run advanced step by step, each step's outcome stored
(with its event) before the next step starts.

``data -> train -> evaluate -> release -> observe -> [approval] -> promote | rollback``

A step's outcome is stored by :meth:`~loopml.store.protocols.LoopStore.advance` only while the
agent still holds the run's lease and the run is still at that step, so a step is stored
once; steps act idempotently (they check before they act), so a step repeated after a crash
(kill -9 between its action and its record) does nothing twice.

A step that fails:

- ``data``, ``train``, ``evaluate``: nothing is live yet; the run ends ``failed`` with the
  error (``loop.failed``);
- ``release``, ``observe``: the challenger may be live; the run goes to ``rollback`` (which
  takes it off the deployment) and ends ``failed``;
- ``approval``, ``promote``, ``rollback``: tried again after the interval (the error is kept
  in the run's state, ``last_error``), since stopping halfway would leave a half-done
  promotion or a canary nobody watches;
- a store that cannot be reached (:class:`~loopml.core.errors.StoreError`) fails nothing: the
  run is tried again when the store answers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from loopml.automation import live_steps, steps
from loopml.automation.loop_events import loop_event
from loopml.automation.steps import Outcome, StepContext
from loopml.core.entities import LoopRun, LoopStep
from loopml.core.errors import StoreError

if TYPE_CHECKING:
    from loopml.store.protocols import LoopStore

_log = logging.getLogger("loopml.automation")

Step = Callable[[StepContext, LoopRun], Outcome]
#: Each step by name, in the order a run meets them.
STEPS: dict[str, Step] = {
    "data": steps.data_step,
    "train": steps.train_step,
    "evaluate": steps.evaluate_step,
    "release": live_steps.release_step,
    "observe": live_steps.observe_step,
    "approval": live_steps.approval_step,
    "promote": live_steps.promote_step,
    "rollback": live_steps.rollback_step,
}
#: Steps whose failure ends the run (nothing is live yet).
ENDS_ON_FAILURE = ("data", "train", "evaluate")
#: Steps whose failure rolls the release back.
ROLLS_BACK_ON_FAILURE = ("release", "observe")


def advance(
    ctx: StepContext,
    store: LoopStore,
    run: LoopRun,
    *,
    stop: threading.Event | None = None,
    after_step: Callable[[LoopRun, Outcome], None] | None = None,
) -> LoopRun:
    """Run ``run``'s steps (the agent holds its lease) until it waits, ends or ``stop`` is
    set; return the run as stored last. ``after_step`` is called with the run and the
    outcome after each outcome is stored (a wait included).

    Raises:
        ConflictError: The lease was lost (another agent took the run over); nothing of the
            step was stored.
    """
    while run.is_open and run.next_at <= ctx.clock() and not (stop is not None and stop.is_set()):
        started = ctx.clock()
        try:
            outcome = STEPS[run.step](ctx, run)
        except StoreError as exc:
            _log.warning(
                "loop run %s, step %s: the store failed (%s); retrying later",
                run.run_id,
                run.step,
                exc,
            )
            return run
        except Exception as exc:  # a step's own conflict (a deployment moved) included
            outcome = _failed(ctx, run, exc)
        run = _store(ctx, store, run, outcome, started)
        if after_step is not None:
            after_step(run, outcome)
        if outcome.waits:
            break
    return run


def _failed(ctx: StepContext, run: LoopRun, exc: Exception) -> Outcome:
    """What a failed step decides (see the module docstring)."""
    error = f"{type(exc).__name__}: {exc}"
    _log.warning("loop run %s, step %s failed: %s", run.run_id, run.step, error)
    detail = {"step": run.step, "error": error}
    if run.step in ENDS_ON_FAILURE:
        return steps.end("failed", "loop.failed", f"step {run.step} failed: {error}", detail=detail)
    if run.step in ROLLS_BACK_ON_FAILURE:
        return steps.go_on(
            "rollback",
            "loop.failed",
            f"step {run.step} failed: {error}; rolling the release back",
            state={"failure": f"step {run.step} failed: {error}"},
            detail=detail,
        )
    return steps.wait(
        run.step,
        run.status,
        f"step {run.step} failed, trying again: {error}",
        state={"last_error": error},
    )


def _store(
    ctx: StepContext, store: LoopStore, run: LoopRun, outcome: Outcome, started: int
) -> LoopRun:
    now = ctx.clock()
    state = {**run.state, **outcome.state}
    if outcome.waits:
        waiting = replace(
            run,
            status=outcome.status,
            state={**state, "waiting": outcome.reason},
            next_at=now + ctx.interval_ms,
            updated_at=now,
        )
        return store.advance(waiting, holder=ctx.holder, now=now, from_step=run.step)
    state.pop("waiting", None)
    state.pop("last_error", None)
    seq = run.steps_done + 1
    moved = replace(
        run,
        status=outcome.status,
        step=outcome.next_step,
        state=state,
        next_at=now,
        updated_at=now,
        steps_done=seq,
    )
    assert outcome.kind is not None
    event = loop_event(
        moved,
        outcome.kind,
        seq=seq,
        reason=outcome.reason,
        at=now,
        data={"step": run.step, "status": outcome.status, **outcome.detail},
        links=outcome.links,
    )
    record = LoopStep(
        run_id=run.run_id,
        seq=seq,
        step=run.step,
        outcome="done" if outcome.status in ("running", "awaiting_approval") else outcome.status,
        holder=ctx.holder,
        started_at=started,
        ended_at=now,
        event_id=event.event_id,
        detail=outcome.detail,
    )
    stored = store.advance(
        moved, holder=ctx.holder, now=now, from_step=run.step, step=record, event=event
    )
    _log.info("loop run %s: %s -> %s (%s)", run.run_id[:12], run.step, stored.step, outcome.reason)
    return stored
