"""Creating writes applied once per ``Idempotency-Key``: what makes a retry safe.

A client whose answer is lost (a dropped connection, a server killed after its commit) sends
the same request again with the same key, and must get the original answer: no second run or
version, no error for a write that happened. Every change the services make is written with
its audit event in one transaction, so the event is the record of the key: inside
:meth:`Once.__call__` the events the write makes get ids derived from the caller, the route
and the key (:func:`loopml.core.ids.derived_event_ids`). Before writing, the route looks the
first of those ids up: found, the request was applied, and the route answers from it (the
object the event names, read now) without writing. Two copies racing both write; the chain's
lock orders them, the second finds the id taken and rolls back whole, and it too answers from
the first's event. The keys are the audit log's own ids, so they are never pruned: a retry
is answered once however late it comes.

Writes that make no event are idempotent by their nature and need no key: params (the same
value again is accepted), tags, an artifact index, labels, an experiment (get or create); a
dataset version (the same rows return their version). Metric points have no event either:
their batches keep their keys in ``metric_batches`` (see :mod:`loopml.store.sql.metric_log`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Header, Request

from loopml.api.rest.access import principal_of
from loopml.api.rest.services import Services, services_of
from loopml.core.entities import Event
from loopml.core.ids import derived_event_ids, derived_id

__all__ = ["Once", "OnceKey", "subject_id"]

T = TypeVar("T")


@dataclass(frozen=True)
class Once:
    """One request's key: call it with the write and how to answer from its event.

    Attributes:
        services: The server's services.
        seed: What the event ids derive from (caller, method, path and key), or None for a
            request without a key (then the write simply runs).
    """

    services: Services
    seed: str | None

    def __call__(self, write: Callable[[], T], replay: Callable[[Event], T]) -> T:
        """Run ``write`` once for this key; when it ran before (or runs concurrently and
        commits first), return ``replay`` of the first event it made instead."""
        if self.seed is None:
            return write()
        first = derived_id(self.seed)
        events = self.services.backend.events
        applied = events.get_event(first)
        if applied is not None:
            return replay(applied)
        try:
            with derived_event_ids(self.seed):
                return write()
        except Exception:
            applied = events.get_event(first)  # a concurrent copy committed first?
            if applied is None:
                raise
            return replay(applied)


def _once(
    request: Request,
    services: Annotated[Services, Depends(services_of)],
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=64,
            description="A fresh key per write (the SDK sends a UUID), sent again unchanged "
            "with each retry: the write is applied once and the retry gets its answer.",
        ),
    ] = None,
) -> Once:
    if idempotency_key is None:
        return Once(services, None)
    user = principal_of(request).user
    seed = "\x00".join((user, request.method, request.url.path, idempotency_key))
    return Once(services, seed)


#: The route parameter of a creating write (the key read from ``Idempotency-Key``).
OnceKey = Annotated[Once, Depends(_once)]


def subject_id(event: Event, kind: str) -> str:
    """The name in an event's subject (``run:<id>`` with ``kind`` ``run`` gives the id)."""
    return event.subject.removeprefix(f"{kind}:")
