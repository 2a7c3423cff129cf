"""Deployment entities: what a model server serves, as a record in the store that moves.

A :class:`Deployment` names its routes (the champion ref, a canary ref with its share of the
traffic, shadow refs), the fallback, the guardrails and the runtime. It is the only thing
besides aliases that moves: every change (created, changed, deleted) is one transaction with
its event, and bumps :attr:`Deployment.version`, so ``loopml deploy history`` is the event list
and a server that follows the record (``loopml serve --deployment NAME``) knows when to swap.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loopml.core.jsonable import Jsonable

#: The fields of a deployment that say what is served (the rest is bookkeeping).
ROUTE_FIELDS = ("champion", "canary", "shadows", "fallback", "guardrails", "runtime")


class Keep(enum.Enum):
    """The value of a field that a change leaves as it is."""

    KEEP = "keep"


#: Leave this field as it is (the default of every field of ``loopml.deployments.set``).
KEEP = Keep.KEEP


@dataclass(frozen=True)
class CanaryRoute(Jsonable):
    """A canary and its share of the traffic.

    Attributes:
        ref: ``name@alias`` (followed) or ``name@version``.
        share: Percent of the requests it answers, in [0, 100]. At 0 the ref may name an
            alias that does not exist yet.
    """

    ref: str
    share: float


@dataclass(frozen=True)
class Deployment(Jsonable):
    """One deployment record.

    Attributes:
        name: The deployment's name (letters, digits, ``_ - .``).
        champion: The ref that answers the requests the canary does not (``m@champion``).
        canary: The canary and its share, or None.
        shadows: Refs that see every request after the answer (logged only).
        fallback: ``previous``, a ref, ``value:JSON``, ``python:module:function``, or None
            (see :mod:`loopml.serving.fallbacks`).
        guardrails: Input and output rules as data (the YAML of ``loopml serve
            --guardrails``, parsed), or None.
        runtime: ``auto``, ``native`` or ``onnx``.
        version: 1 at creation, one more at each change (numbering goes on after a delete).
        created_at: When the deployment was created (ms since the epoch).
        created_by: Who created it.
        updated_at: When this version was written.
        updated_by: Who wrote it.
    """

    name: str
    champion: str
    canary: CanaryRoute | None = None
    shadows: tuple[str, ...] = ()
    fallback: str | None = "previous"
    guardrails: Mapping[str, Any] | None = None
    runtime: str = "auto"
    version: int = 0
    created_at: int = 0
    created_by: str = ""
    updated_at: int = 0
    updated_by: str = ""

    def routes(self) -> dict[str, Any]:
        """The fields that say what is served, JSON-ready (what an event's before/after
        holds)."""
        data = self.to_dict()
        return {key: data[key] for key in ROUTE_FIELDS}
