"""The train step's work: run the policy's training, and register what it produced once.

The target of ``train.pipeline`` is either a ``@loopml.pipeline`` (run with
``.run(executor=..., settings=..., **params)``; its outputs and its run id are read off the
:class:`~loopml.pipelines.PipelineRun`) or a plain function called with the params.
:func:`run_training` is the one place that tells them apart.

What it returns decides what the challenger is:

- a registered version: ``register_model``'s output (``{"model", "version", "ref"}``), a
  :class:`~loopml.core.entities.ModelVersion` or a ``name@N`` ref, alone or under the key
  ``model`` of a returned mapping. A pipeline's ``register_model`` step is cached on the
  model's content, so a loop run repeated after a crash registers no second version;
- anything else (alone or under ``model``) is a fitted model, which the agent registers as
  the next version of the policy's model, tagged with the loop run (``loopml.loop_run``).
  Before training, a version with that tag is looked for: a run repeated after a crash
  reuses it and trains nothing again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.core.entities import ModelVersion
from loopml.core.errors import InvalidArgumentError

if TYPE_CHECKING:
    from loopml.automation.policy import LoopPolicy
    from loopml.core.settings import Settings
    from loopml.store.backend import Backend

#: The tag naming the loop run that registered a version.
LOOP_RUN_TAG = "loopml.loop_run"


@dataclass(frozen=True)
class Trained:
    """What the train step produced.

    Attributes:
        ref: The challenger (``late@5``).
        registered_by: ``agent`` (registered here), ``pipeline`` (by the training), or
            ``earlier`` (found from an earlier attempt of the same loop run).
        pipeline_run: The pipeline's run id, when the target was a pipeline.
        outputs: The training's other outputs that are JSON numbers or text (metrics).
    """

    ref: str
    registered_by: str
    pipeline_run: str | None = None
    outputs: dict[str, Any] = field(default_factory=dict)


def run_training(
    function: Any, *, params: Mapping[str, Any], executor: str, settings: Settings
) -> tuple[Any, str | None]:
    """Run a pipeline (``.run``) or call a function; return its outputs and the pipeline run
    id (None for a function)."""
    runner = getattr(function, "run", None)
    if callable(runner) and callable(getattr(function, "trace", None)):  # a @loopml.pipeline
        result = runner(executor=executor, settings=settings, **params)
        return result.outputs, str(result.run_id)
    return function(**params), None


def earlier_version(backend: Backend, policy: LoopPolicy, run_id: str) -> ModelVersion | None:
    """The version an earlier attempt of loop run ``run_id`` registered, if any."""
    for version in reversed(backend.models.list_versions(policy.model)):
        if version.tags.get(LOOP_RUN_TAG) == run_id:
            return version
    return None


def train(backend: Backend, policy: LoopPolicy, run_id: str, data_ref: str | None) -> Trained:
    """Train a challenger for loop run ``run_id`` (see the module docstring).

    Raises:
        InvalidArgumentError: The training returned a version of another model, or nothing.
        LoopmlError: The training or the registration failed (the cause is kept).
    """
    from loopml.automation.policy_check import training_function
    from loopml.registry import ModelRegistry

    found = earlier_version(backend, policy, run_id)
    if found is not None:
        return Trained(found.ref, "earlier")
    params = dict(policy.train.params)
    if data_ref is not None:
        params[policy.train.data_param] = data_ref
    function = training_function(policy)
    outputs, pipeline_run = run_training(
        function, params=params, executor=policy.train.executor, settings=backend.settings
    )
    extra = _scalars(outputs)
    model = outputs["model"] if isinstance(outputs, Mapping) and "model" in outputs else outputs
    ref = version_ref(model)
    registry = ModelRegistry(backend)
    if ref is not None:
        version = registry.get(ref)
        if version.name != policy.model:
            raise InvalidArgumentError(
                f"Policy {policy.name!r}: the training {policy.train.pipeline} registered "
                f"{version.ref}, a version of {version.name!r}, but the policy's model is "
                f"{policy.model!r}. Register the model under {policy.model!r}."
            )
        return Trained(version.ref, "pipeline", pipeline_run, extra)
    if model is None:
        raise InvalidArgumentError(
            f"Policy {policy.name!r}: the training {policy.train.pipeline} returned nothing. "
            "Return the fitted model (the agent registers it), or the output of "
            "register_model(...)."
        )
    version = registry.register(
        model,
        policy.model,
        training_data=data_ref,
        description=f"trained by loop run {run_id[:12]} of policy {policy.name!r}",
        tags={LOOP_RUN_TAG: run_id, "loopml.policy": policy.name},
    )
    return Trained(version.ref, "agent", pipeline_run, extra)


def version_ref(value: Any) -> str | None:
    """The ``name@N`` a training output names, or None when it names no version."""
    from loopml.registry.refs import parse_model_ref

    if isinstance(value, ModelVersion):
        return value.ref
    if isinstance(value, Mapping) and {"model", "version", "ref"} <= set(value):
        return str(value["ref"])
    if isinstance(value, str):
        parsed = parse_model_ref(value)
        if parsed.version is not None:
            return f"{parsed.name}@{parsed.version}"
    return None


def _scalars(outputs: Any) -> dict[str, Any]:
    if not isinstance(outputs, Mapping):
        return {}
    return {
        str(k): v
        for k, v in outputs.items()
        if k != "model" and isinstance(v, int | float | str) and not isinstance(v, bool)
    }
