"""Evaluations and gates: a stored evaluation, a model's evaluations, a gate decided on a
stored evaluation, and the gate decisions recorded on a version.

Evaluations are computed where the SDK runs (the model and the rows downloaded through the
artifact proxy), then stored here with the token's user as their author. A gate takes its
policy as data (a JSON object, as the YAML file parses), never as a path on the server.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from loopml.api.rest.access import needs
from loopml.api.rest.once import OnceKey
from loopml.api.rest.params import LINE
from loopml.api.rest.services import Services, services_of
from loopml.core.entities import Evaluation, EvaluationRecord, Event, GateDecision
from loopml.governance import Action

__all__ = ["router"]

router = APIRouter(tags=["evaluations"])
Svc = Annotated[Services, Depends(services_of)]
READ = [Depends(needs(Action.READ))]
GATE_KINDS = ("gate.passed", "gate.failed")


class GateBody(BaseModel):
    """The body of ``POST /models/{name}/versions/{selector}/gate``."""

    policy: dict[str, Any] = Field(description="The gate policy, as its YAML file parses.")
    evaluation: str = Field(
        min_length=4, max_length=32, description="The evaluation id (or a unique prefix)."
    )


@router.get("/evaluations", dependencies=READ)
def list_evaluations(
    services: Svc, model: Annotated[str, Query(min_length=1, max_length=300, pattern=LINE)]
) -> list[EvaluationRecord]:
    """The evaluations of a model (``name``) or a version (``name@3``), newest first."""
    return services.evaluations.list(model)


@router.post("/evaluations", dependencies=[Depends(needs(Action.WRITE))])
def record_evaluation(body: Evaluation, services: Svc, once: OnceKey) -> Evaluation:
    """Store an evaluation the remote SDK computed where the model and the data are: its
    version, baseline and datasets must exist; its author and time become the token's user
    and the server's clock (recorded with an ``evaluation.created`` event). Once per
    ``Idempotency-Key`` (sent again, the answer is the evaluation stored, not a 409)."""
    return once(
        lambda: services.evaluations.record(body),
        lambda event: services.evaluations.get(event.links["evaluation"]),
    )


@router.get("/evaluations/{evaluation_id}", dependencies=READ)
def get_evaluation(evaluation_id: str, services: Svc) -> Evaluation:
    """A stored evaluation, by id or unique prefix."""
    return services.evaluations.get(evaluation_id)


@router.post("/models/{name}/versions/{selector}/gate", dependencies=[Depends(needs(Action.WRITE))])
def gate(name: str, selector: str, body: GateBody, services: Svc) -> GateDecision:
    """Check a gate policy on a stored evaluation of the version; the decision is recorded
    as a ``gate.passed`` / ``gate.failed`` event."""
    return services.evaluations.gate(f"{name}@{selector}", body.policy, evaluation=body.evaluation)


@router.get("/models/{name}/versions/{selector}/gates", dependencies=READ)
def gate_results(name: str, selector: str, services: Svc) -> list[Event]:
    """The gate decisions recorded on a version, oldest first."""
    version = services.models.get(f"{name}@{selector}")
    events = services.backend.events.list_events(subject=f"model:{version.ref}")
    return [e for e in events if e.kind in GATE_KINDS]
