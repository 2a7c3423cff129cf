"""Steps that read and write the registries, run by the driver (workers have no metadata
store): :data:`read_dataset`, :data:`register_dataset` and :data:`register_model`.

They are what links a pipeline run to the dataset and model versions it read and wrote,
through the existing lineage: the step's child run (and the pipeline run) records each
dataset version read as an input (``DatasetService.log_input``), a registered dataset
version names the step run as its ``run_id``, and a registered model version is registered
from the step run (its lineage: version -> run -> datasets).

- ``read_dataset`` resolves its ref every run (never a cache hit: a new ``@latest`` is
  seen); its output is the version's own Parquet blob, so later steps' keys follow the
  data's content hash.
- ``register_dataset`` runs every time too: the dataset service returns the existing
  version for rows it already holds, so a re-run registers nothing new.
- ``register_model`` is cached like any step (key: the model's, the example's and the
  training data's content), so a re-run or a resumed run registers no second version.

Outside a pipeline each is the plain call on the default store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.core.entities import DatasetVersion
from loopml.core.errors import InvalidArgumentError
from loopml.core.ids import RunId
from loopml.pipelines.cache import KEY_VERSION
from loopml.pipelines.graph import Handle, Inputs, Node
from loopml.pipelines.step_function import Step
from loopml.pipelines.values import StoredValue, load_value, store_value
from loopml.store.backend import Backend

if TYPE_CHECKING:
    from loopml.data import DatasetService
    from loopml.tracking import TrackingService

#: Rows of an input example a registration checks the model on.
EXAMPLE_ROWS = 20
#: Tags naming what a driver step read or wrote (``dataset:iris@1``).
TAG_READ = "loopml.step.read"
TAG_WROTE = "loopml.step.wrote"


@dataclass
class DriverContext:
    """What a driver step works with.

    Attributes:
        backend: The driver's stores.
        tracking: Its tracking service.
        datasets: Its dataset service.
        pipeline_run: The pipeline run.
        step_run: The step's child run.
        versions: Dataset versions read or registered in this pipeline run, by the digest
            of their Parquet blob (what a handle to them holds).
        tags: Tags the step adds to its run (what it read and wrote).
    """

    backend: Backend
    tracking: TrackingService
    datasets: DatasetService
    pipeline_run: RunId
    step_run: RunId
    versions: dict[str, DatasetVersion]
    tags: dict[str, str] = field(default_factory=dict)


class DriverStep(Step):
    """A step the driver runs itself, between the executor's steps."""

    in_driver = True

    def code_identity(self) -> str:
        """Driver steps are loopml's code: their identity is their name and the key version."""
        return f"loopml.pipelines.{self.name}:{KEY_VERSION}"

    def execute(
        self, ctx: DriverContext, params: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> tuple[StoredValue, ...]:
        """Run the step; ``inputs`` hold stored values. Returns its outputs."""
        raise NotImplementedError


def _dataset_handle(
    step: str, key: str, value: Handle | tuple[Handle, ...], nodes: Mapping[str, Node]
) -> None:
    if isinstance(value, Handle) and isinstance(
        nodes[value.node].step, _ReadDataset | _RegisterDataset
    ):
        return
    raise InvalidArgumentError(
        f"The {key!r} of step {step!r} must be a dataset version: the output of "
        "read_dataset(...) or register_dataset(...) in this pipeline, or a reference "
        "such as 'credit@3'. Got another step's output; register it first with "
        "register_dataset(frame, name)."
    )


# -- read_dataset -------------------------------------------------------------------------


def _read_dataset(ref: str) -> Any:
    """Read a dataset version's rows as a DataFrame (``name``, ``name@3``, ``name@latest``)."""
    from loopml.core.settings import resolve_settings
    from loopml.data import DatasetService
    from loopml.store.backend import open_backend

    return DatasetService(open_backend(resolve_settings())).load(ref)


class _ReadDataset(DriverStep):
    def __init__(self) -> None:
        super().__init__(_read_dataset, name="read_dataset", cache=False)

    def check_call(
        self, node: str, params: Mapping[str, Any], inputs: Inputs, nodes: Mapping[str, Node]
    ) -> None:
        from loopml.data.refs import parse_ref

        if not inputs:
            parse_ref(params["ref"])
            return
        raise InvalidArgumentError(
            f"Step {node!r} reads a dataset by reference ('credit@3'), not a step's output."
        )

    def execute(
        self, ctx: DriverContext, params: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> tuple[StoredValue, ...]:
        version = ctx.datasets.get(params["ref"])
        for run_id in (ctx.step_run, ctx.pipeline_run):
            ctx.datasets.log_input(run_id, version, "input")
        ctx.versions[version.artifact_digest] = version
        ctx.tags[TAG_READ] = f"dataset:{version.ref}"
        stored = StoredValue("dataframe", version.artifact_digest, version.size_bytes, "dataset")
        return (stored,)


# -- register_dataset ---------------------------------------------------------------------


def _register_dataset(
    frame: Any, name: str, *, target: str | None = None, description: str = ""
) -> DatasetVersion:
    """Register ``frame`` as the next version of dataset ``name`` (or return the version
    that holds the same rows)."""
    from loopml.core.settings import resolve_settings
    from loopml.data import DatasetService
    from loopml.store.backend import open_backend

    service = DatasetService(open_backend(resolve_settings()))
    return service.register(name, frame, target=target, description=description)


class _RegisterDataset(DriverStep):
    def __init__(self) -> None:
        super().__init__(_register_dataset, name="register_dataset", cache=False)

    def check_call(
        self, node: str, params: Mapping[str, Any], inputs: Inputs, nodes: Mapping[str, Node]
    ) -> None:
        from loopml.data.refs import check_name

        check_name(params.get("name"))
        if not isinstance(inputs.get("frame"), Handle):
            raise InvalidArgumentError(
                f"The 'frame' of step {node!r} must be the output of a step (a DataFrame)."
            )

    def execute(
        self, ctx: DriverContext, params: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> tuple[StoredValue, ...]:
        frame = load_value(ctx.backend.artifacts, inputs["frame"])
        version = ctx.datasets.register(
            params["name"],
            frame,
            target=params.get("target"),
            description=params.get("description", ""),
            run_id=ctx.step_run,
        )
        ctx.versions[version.artifact_digest] = version
        ctx.tags[TAG_WROTE] = f"dataset:{version.ref}"
        stored = StoredValue("dataframe", version.artifact_digest, version.size_bytes, "dataset")
        return (stored,)


# -- register_model -----------------------------------------------------------------------


def _register_model(
    model: Any,
    name: str,
    *,
    input_example: Any = None,
    training_data: Any = None,
    description: str = "",
) -> Any:
    """Register ``model`` as the next version of ``name`` (see loopml.models.register)."""
    from loopml.core.settings import resolve_settings
    from loopml.registry import ModelRegistry
    from loopml.store.backend import open_backend

    registry = ModelRegistry(open_backend(resolve_settings()))
    return registry.register(
        model,
        name,
        input_example=input_example,
        training_data=training_data,
        description=description,
    )


class _RegisterModel(DriverStep):
    def __init__(self) -> None:
        super().__init__(_register_model, name="register_model", cache=True)

    def check_call(
        self, node: str, params: Mapping[str, Any], inputs: Inputs, nodes: Mapping[str, Node]
    ) -> None:
        from loopml.registry.refs import check_model_name

        check_model_name(params.get("name"))
        if not isinstance(inputs.get("model"), Handle):
            raise InvalidArgumentError(
                f"The 'model' of step {node!r} must be the output of the step that fits it."
            )
        if "training_data" in inputs:
            _dataset_handle(node, "training_data", inputs["training_data"], nodes)

    def execute(
        self, ctx: DriverContext, params: Mapping[str, Any], inputs: Mapping[str, Any]
    ) -> tuple[StoredValue, ...]:
        from loopml.registry import ModelRegistry

        artifacts = ctx.backend.artifacts
        model = load_value(artifacts, inputs["model"])
        example = None
        if "input_example" in inputs:
            example = load_value(artifacts, inputs["input_example"])
            example = example.head(EXAMPLE_ROWS) if hasattr(example, "head") else example
        training: DatasetVersion | str | None = params.get("training_data")
        if "training_data" in inputs:
            training = ctx.versions[inputs["training_data"].digest]
        version = ModelRegistry(ctx.backend).register(
            model,
            params["name"],
            input_example=example,
            training_data=training,
            description=params.get("description", ""),
            run_id=ctx.step_run,
        )
        ctx.tags[TAG_WROTE] = f"model:{version.ref}"
        written = {"model": version.name, "version": version.version, "ref": version.ref}
        return (store_value(artifacts, written, what="model version"),)


#: ``read_dataset(ref)``: a dataset version's rows, as a DataFrame, for the next steps.
read_dataset: Step = _ReadDataset()
#: ``register_dataset(frame, name, *, target=None, description="")``: a step's DataFrame
#: registered as a dataset version; its output is that version's rows.
register_dataset: Step = _RegisterDataset()
#: ``register_model(model, name, *, input_example=None, training_data=None,
#: description="")``: a step's fitted model registered as a model version; its output is
#: ``{"model", "version", "ref"}``.
register_model: Step = _RegisterModel()
