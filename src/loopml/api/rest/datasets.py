"""Datasets: versions, schema and profile, diff, splits, lineage (the runs that used a
version, the models trained on it), and registration of uploaded Parquet.

A client registers rows by writing them as Parquet, uploading the file through the artifact
proxy, then posting its digest here: the server reads the blob (verified against its digest;
a missing blob is 404 naming it) and registers it through
:class:`~loopml.data.DatasetService`, which computes the schema and profile itself, so the
version is what the embedded SDK would have made of the same rows. The same rows registered
again return the existing version; concurrent registrations of one name get distinct numbers
(the store assigns them under the name's lock).
"""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from loopml.api.rest.access import needs
from loopml.api.rest.params import LINE, TEXT
from loopml.api.rest.services import Services, services_of
from loopml.core.entities import (
    DatasetDiff,
    DatasetProfile,
    DatasetSchema,
    DatasetVersion,
    ModelVersion,
)
from loopml.core.errors import InvalidArgumentError
from loopml.core.ids import RunId
from loopml.governance import Action

__all__ = ["router"]

router = APIRouter(tags=["datasets"])
Svc = Annotated[Services, Depends(services_of)]
READ = [Depends(needs(Action.READ))]
WRITE = [Depends(needs(Action.WRITE))]
#: ``name@<selector>``: a version number or ``latest``.
Selector = Annotated[str, Field(min_length=1, max_length=32)]
Ref = Annotated[str, Query(min_length=1, max_length=300, pattern=LINE)]
_DIGEST = r"^[0-9a-f]{64}$"


class UploadedDataset(BaseModel):
    """The body of ``POST /datasets/{name}/versions``: an uploaded Parquet file by digest."""

    digest: str = Field(pattern=_DIGEST, description="SHA-256 of the uploaded Parquet file.")
    target: str | None = Field(default=None, max_length=250)
    timestamp: str | None = Field(default=None, max_length=250)
    key: str | None = Field(default=None, max_length=250)
    description: str = Field(default="", max_length=10_000, pattern=TEXT)
    run_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    parents: list[Annotated[str, Field(max_length=300)]] = Field(default=[], max_length=100)
    split: str | None = Field(default=None, max_length=64)
    max_categories: int = Field(default=50, ge=0, le=100_000)


class SplitBody(BaseModel):
    """The body of a split, run on the server (see :meth:`DatasetService.split`)."""

    method: str = Field(default="random", max_length=16)
    fractions: dict[Annotated[str, Field(max_length=64)], float] | None = Field(
        default=None, max_length=32
    )
    seed: int = Field(default=0, ge=0, le=2**32 - 1)
    column: str | None = Field(default=None, max_length=250)
    cutoff: str | float | int | None = Field(default=None)
    names: tuple[
        Annotated[str, Field(min_length=1, max_length=64)],
        Annotated[str, Field(min_length=1, max_length=64)],
    ] = ("train", "test")
    run_id: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")


class InputBody(BaseModel):
    """The body of ``POST /runs/{run_id}/inputs``: a run used a dataset version."""

    ref: str = Field(min_length=1, max_length=300)
    role: str = Field(default="train", min_length=1, max_length=64)


@router.get("/datasets", dependencies=READ)
def list_datasets(services: Svc) -> list[DatasetVersion]:
    """The latest version of every dataset."""
    return services.datasets.latest_versions()


@router.get("/datasets/diff", dependencies=READ)
def diff(old: Ref, new: Ref, services: Svc) -> DatasetDiff:
    """Schema changes, row counts and, with a shared key, rows added, removed and changed."""
    return services.datasets.diff(old, new)


@router.get("/datasets/{name}/versions", dependencies=READ)
def list_versions(name: str, services: Svc) -> list[DatasetVersion]:
    """Every version of a dataset, oldest first."""
    return services.datasets.versions(name)


@router.get("/datasets/{name}/versions/{selector}", dependencies=READ)
def get_version(name: str, selector: Selector, services: Svc) -> DatasetVersion:
    """One version: ``/versions/3`` or ``/versions/latest``."""
    return services.datasets.get(f"{name}@{selector}")


@router.get("/datasets/{name}/versions/{selector}/schema", dependencies=READ)
def get_schema(name: str, selector: Selector, services: Svc) -> DatasetSchema:
    """A version's schema (columns, types, roles)."""
    return services.datasets.get(f"{name}@{selector}").schema


@router.get("/datasets/{name}/versions/{selector}/profile", dependencies=READ)
def get_profile(name: str, selector: Selector, services: Svc) -> DatasetProfile:
    """A version's reference profile."""
    return services.datasets.get(f"{name}@{selector}").profile


@router.get("/datasets/{name}/versions/{selector}/runs", dependencies=READ)
def runs_using(name: str, selector: Selector, services: Svc) -> list[tuple[str, str]]:
    """The runs that used a version, with their roles."""
    return [(str(run), role) for run, role in services.datasets.runs_using(f"{name}@{selector}")]


@router.get("/datasets/{name}/versions/{selector}/models", dependencies=READ)
def models_using(name: str, selector: Selector, services: Svc) -> list[tuple[ModelVersion, str]]:
    """The model versions trained or validated on a version, with their roles."""
    return services.models.models_from_dataset(f"{name}@{selector}")


@router.post("/datasets/{name}/versions", dependencies=WRITE)
def register_uploaded(name: str, body: UploadedDataset, services: Svc) -> DatasetVersion:
    """Register an uploaded Parquet file as the next version of ``name`` (or return the
    version already holding the same rows)."""
    import pyarrow.parquet as pq

    data = services.backend.artifacts.get_bytes(body.digest)  # verified; NotFoundError if absent
    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as exc:  # pyarrow's own errors: the blob is not a Parquet file
        raise InvalidArgumentError(
            f"Dataset {name!r} was not registered: blob {body.digest[:12]} is not a Parquet "
            f"file ({type(exc).__name__}: {exc}). Upload the rows as Parquet first."
        ) from None
    return services.datasets.register(
        name,
        table,
        target=body.target,
        timestamp=body.timestamp,
        key=body.key,
        description=body.description,
        run_id=None if body.run_id is None else RunId(body.run_id),
        parents=tuple(body.parents),
        split=body.split,
        max_categories=body.max_categories,
    )


@router.post("/datasets/{name}/versions/{selector}/split", dependencies=WRITE)
def split(
    name: str, selector: Selector, body: SplitBody, services: Svc
) -> dict[str, DatasetVersion]:
    """Split a version into new versions ``<name>-<split>`` (registered on the server)."""
    return services.datasets.split(
        f"{name}@{selector}",
        method=body.method,  # type: ignore[arg-type]  # the service checks it and names it
        fractions=body.fractions,
        seed=body.seed,
        column=body.column,
        cutoff=body.cutoff,
        names=body.names,
        run_id=None if body.run_id is None else RunId(body.run_id),
    )


@router.get("/runs/{run_id}/inputs", dependencies=READ)
def inputs_of(run_id: str, services: Svc) -> list[tuple[DatasetVersion, str]]:
    """The dataset versions a run used, with their roles."""
    return services.datasets.inputs_of(RunId(run_id))


@router.post("/runs/{run_id}/inputs", dependencies=WRITE)
def log_input(run_id: str, body: InputBody, services: Svc) -> None:
    """Record that a run used a dataset version in a role."""
    services.datasets.log_input(RunId(run_id), body.ref, body.role)
