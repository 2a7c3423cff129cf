"""A policy checked against the store before an agent runs it: the model, the deployment and
its champion, every dataset a trigger, the training data or the evaluation names, and the
training function. Each problem is a clear error naming the policy's field, before anything
runs, never halfway through a loop run.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from loopml.core.errors import InvalidArgumentError, LoopmlError, NotFoundError

if TYPE_CHECKING:
    from loopml.automation.policy import LoopPolicy
    from loopml.store.backend import Backend


def _field(policy: LoopPolicy, field: str, exc: LoopmlError, fix: str) -> NotFoundError:
    return NotFoundError(f"In policy {policy.source}, field {field!r}: {exc} {fix}".strip())


def check_policy(policy: LoopPolicy, backend: Backend) -> None:
    """Check what ``policy`` names against the store and the Python path.

    Raises:
        NotFoundError: A model, version, alias, deployment or dataset that does not exist
            (naming the policy's field and what exists).
        InvalidArgumentError: The deployment serves another model, or the training
            function cannot be imported.
    """
    from loopml.data import DatasetService
    from loopml.registry import ModelRegistry
    from loopml.registry.refs import parse_model_ref
    from loopml.serving.deployments import DeploymentService

    registry = ModelRegistry(backend)
    try:
        registry.versions(policy.model)
    except NotFoundError as exc:
        raise _field(
            policy, "model", exc, "Register its first version (the champion) before the loop."
        ) from None
    try:
        deployment = DeploymentService(registry).get(policy.deployment)
    except NotFoundError as exc:
        raise _field(policy, "deployment", exc, "") from None
    served = parse_model_ref(deployment.champion).name
    if served != policy.model:
        raise InvalidArgumentError(
            f"In policy {policy.source}, field 'deployment': {policy.deployment!r} serves model "
            f"{served!r} (champion {deployment.champion}), not {policy.model!r}. Name a "
            f"deployment of {policy.model!r}, or change 'model'."
        )
    try:
        champion = registry.get(deployment.champion)
    except NotFoundError as exc:
        raise _field(
            policy,
            "deployment",
            exc,
            f"Deployment {policy.deployment!r} names a champion that does not resolve; fix it "
            "with `loopml deploy set`.",
        ) from None
    _check_metric(policy, champion.signature.output.task.value)
    datasets = DatasetService(backend)
    named: list[tuple[str, str]] = [
        (f"triggers[{i}].dataset", f"{t.dataset}@latest")
        for i, t in enumerate(policy.triggers)
        if t.kind == "dataset"
    ]
    if policy.train.data is not None and policy.train.data.ref is not None:
        named.append(("train.data", policy.train.data.ref))
    named += [(f"evaluate.datasets[{i}]", ref) for i, ref in enumerate(policy.evaluate.datasets)]
    for field, ref in named:
        try:
            datasets.get(ref)
        except NotFoundError as exc:
            raise _field(
                policy, field, exc, "Register it first (`loopml data register`)."
            ) from None
    training_function(policy)


def _check_metric(policy: LoopPolicy, task: str) -> None:
    """The live metric must fit the model's task (``roc_auc`` is not for a regressor)."""
    from loopml.stats.metrics import METRICS, default_metrics

    metric = policy.promote.metric
    if metric is None or task not in ("binary", "multiclass", "regression"):
        return
    if task not in METRICS[metric].tasks:
        fitting = ", ".join(default_metrics(task))
        raise InvalidArgumentError(
            f"In policy {policy.source}, field 'promote.metric': {metric!r} does not apply to "
            f"model {policy.model!r}, a {task} model. Name a {task} metric: {fitting}."
        )


def training_function(policy: LoopPolicy) -> Any:
    """Import ``train.pipeline`` (``module:function``) and return it.

    Raises:
        InvalidArgumentError: The module does not import, or has no such callable.
    """
    target = policy.train.pipeline
    module_name, _, name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise InvalidArgumentError(
            f"In policy {policy.source}, field 'train.pipeline': module {module_name!r} does "
            f"not import ({type(exc).__name__}: {exc}). Make it importable by the agent (install "
            "the project, or run the agent from its folder)."
        ) from None
    found: Any = module
    for part in name.split("."):
        found = getattr(found, part, None)
    if found is None or not callable(found):
        known = sorted(n for n in dir(module) if not n.startswith("_"))
        from loopml.core.errors import did_you_mean

        raise InvalidArgumentError(
            f"In policy {policy.source}, field 'train.pipeline': module {module_name!r} has no "
            f"function {name!r}.{did_you_mean(name, known)} Name a @loopml.pipeline or a "
            "training function."
        )
    return found
