"""Experiments: list, get, create."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from loopml.api.rest.access import needs
from loopml.api.rest.services import Services, services_of
from loopml.core.entities import Experiment
from loopml.governance import Action

__all__ = ["router"]

router = APIRouter(tags=["experiments"])
Svc = Annotated[Services, Depends(services_of)]


class NewExperiment(BaseModel):
    """The body of ``POST /experiments``."""

    name: str = Field(min_length=1, max_length=250, description="The experiment's name.")


@router.get("/experiments", dependencies=[Depends(needs(Action.READ))])
def list_experiments(services: Svc) -> list[Experiment]:
    """Every experiment, by name."""
    return services.tracking.experiments.list()


@router.get("/experiments/{name_or_id}", dependencies=[Depends(needs(Action.READ))])
def get_experiment(name_or_id: str, services: Svc) -> Experiment:
    """One experiment, by name or id."""
    return services.tracking.experiments.get(name_or_id)


@router.post("/experiments", dependencies=[Depends(needs(Action.WRITE))])
def create_experiment(body: NewExperiment, services: Svc) -> Experiment:
    """The experiment named ``name``, created if there is none (safe to repeat)."""
    return services.tracking.experiments.get_or_create(body.name)
