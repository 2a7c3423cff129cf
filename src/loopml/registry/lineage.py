"""Lineage of a model version: version -> run -> datasets -> commit.

The datasets are the version's own training and validation data plus every dataset version
its run recorded as an input; each carries its parents, so a split can be followed back to
the data it was cut from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.core.entities import DatasetVersion, ModelVersion, Run
from loopml.core.errors import NotFoundError

if TYPE_CHECKING:
    from loopml.registry.service import ModelRegistry


@dataclass(frozen=True)
class Lineage:
    """Where a model version came from.

    Attributes:
        version: The model version.
        aliases: The aliases pointing at it now.
        run: The run that produced it (None when registered outside a run, or purged).
        datasets: Dataset versions with their role (``train``, ``validation``, or the role
            the run logged them with), by role then ref.
        commit: The git commit of the code (from the version, else the run).
    """

    version: ModelVersion
    aliases: tuple[str, ...]
    run: Run | None
    datasets: tuple[tuple[DatasetVersion, str], ...]
    commit: str | None

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (datasets as refs with role and parents)."""
        return {
            "version": self.version.ref,
            "aliases": list(self.aliases),
            "run": None
            if self.run is None
            else {"run_id": self.run.run_id, "name": self.run.name, "status": self.run.status},
            "datasets": [
                {
                    "ref": dataset.ref,
                    "role": role,
                    "rows": dataset.rows,
                    "content_hash": dataset.content_hash,
                    "parents": list(dataset.parents),
                }
                for dataset, role in self.datasets
            ],
            "commit": self.commit,
        }


def build_lineage(registry: ModelRegistry, version: ModelVersion) -> Lineage:
    """Gather a version's lineage from the stores."""
    run: Run | None = None
    if version.run_id is not None:
        try:
            run = registry.backend.tracking.get_run(version.run_id)
        except NotFoundError:
            run = None
    found: dict[tuple[str, str], tuple[DatasetVersion, str]] = {}
    for ref, role in ((version.training_data, "train"), (version.validation_data, "validation")):
        if ref is not None:
            dataset = registry.datasets.get(ref)
            found[(dataset.ref, role)] = (dataset, role)
    if run is not None:
        for dataset, role in registry.datasets.inputs_of(run.run_id):
            found.setdefault((dataset.ref, role), (dataset, role))
    commit = version.code_commit or (run.tags.get("loopml.git.commit") if run else None)
    aliases = tuple(
        alias
        for alias, number in registry.store.get_aliases(version.name).items()
        if number == version.version
    )
    return Lineage(
        version=version,
        aliases=aliases,
        run=run,
        datasets=tuple(found[key] for key in sorted(found, key=lambda k: (k[1], k[0]))),
        commit=commit,
    )
