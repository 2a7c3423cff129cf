"""The steps before a challenger goes live: ``data``, ``train`` and ``evaluate``.

A step is a function ``(StepContext, LoopRun) -> Outcome``: it acts (idempotently: a step
repeated after a crash finds what its earlier attempt did and does not do it again) and
says what it decided, which the machine (:mod:`loopml.automation.machine`) stores with its
event before the next step starts. The live steps are in :mod:`loopml.automation.live_steps`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.automation.triggers import iso
from loopml.core.entities.automation import LoopStatus

if TYPE_CHECKING:
    from loopml.automation.policy import LoopPolicy
    from loopml.core.entities import DatasetVersion, LoopRun
    from loopml.store.backend import Backend


@dataclass(frozen=True)
class StepContext:
    """What a step works with.

    Attributes:
        backend: The stores, with the policy's actor (``automation:<policy>``) as the user,
            so every service call records it.
        policy: The policy.
        holder: The agent running the step.
        clock: Milliseconds since the epoch.
        interval_ms: How long a waiting run waits before it is looked at again.
    """

    backend: Backend
    policy: LoopPolicy
    holder: str
    clock: Callable[[], int]
    interval_ms: int


@dataclass(frozen=True)
class Outcome:
    """What a step decided.

    Attributes:
        next_step: The step after (``done`` when the run ends).
        status: The run's status after it.
        kind: The ``loop.*`` event that tells it, or None when the step waits (nothing
            decided: the run is looked at again after the interval, no step is stored).
        reason: Why, in words.
        state: What it adds to the run's state.
        detail: Its evidence: the step record's detail and the event's data.
        links: The objects it acted on, by role.
    """

    next_step: str
    status: LoopStatus
    kind: str | None
    reason: str = ""
    state: Mapping[str, Any] = field(default_factory=dict)
    detail: Mapping[str, Any] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)

    @property
    def waits(self) -> bool:
        """Whether nothing was decided (the run waits)."""
        return self.kind is None


def go_on(next_step: str, kind: str, reason: str, **fields: Any) -> Outcome:
    """A step done; the run goes on to ``next_step``."""
    return Outcome(next_step, "running", kind, reason, **fields)


def end(status: LoopStatus, kind: str, reason: str, **fields: Any) -> Outcome:
    """A step that ends the run with ``status``."""
    return Outcome("done", status, kind, reason, **fields)


def wait(step: str, status: LoopStatus, reason: str, **fields: Any) -> Outcome:
    """Nothing decided yet: look again after the interval."""
    return Outcome(step, status, None, reason, **fields)


# -- data -------------------------------------------------------------------------------------


def data_step(ctx: StepContext, run: LoopRun) -> Outcome:
    """Pin the training data: the trigger's new version, the ref's version, or the labeled
    prediction log of the last ``from_log.last`` registered as a dataset version."""
    from loopml.data import DatasetService
    from loopml.data.refs import parse_ref

    spec = ctx.policy.train.data
    if spec is None:
        return go_on(
            "train",
            "loop.data_ready",
            "no training data named: the training reads its own",
            state={"data": None},
        )
    datasets = DatasetService(ctx.backend)
    if spec.ref is not None:
        parsed = parse_ref(spec.ref)
        trigger = run.trigger_data.get("dataset") if run.trigger == "dataset" else None
        if trigger and parse_ref(trigger).name == parsed.name and parsed.version is None:
            version = datasets.get(trigger)
            how = "the version that triggered the run"
        else:
            version = datasets.get(spec.ref)
            how = f"{spec.ref} when the run reached this step"
        return _data_ready(version, f"training data {version.ref} ({version.rows:,} rows): {how}")
    return _from_log(ctx, spec.last_ms or 0, spec.name)


def _data_ready(version: DatasetVersion, reason: str, **extra: Any) -> Outcome:
    return go_on(
        "train",
        "loop.data_ready",
        reason,
        state={"data": version.ref},
        detail={"data": version.ref, "rows": version.rows, **extra},
        links={"data": version.ref},
    )


def _from_log(ctx: StepContext, last_ms: int, name: str | None) -> Outcome:
    from loopml.core.errors import InvalidArgumentError
    from loopml.health.production_data import to_dataset
    from loopml.store.logs import read_log

    model = ctx.policy.model
    settings = ctx.backend.settings
    logged = read_log(
        settings.logs_url, model=model, spool_dirs=(settings.home / "spool",), features=[]
    )
    if logged.num_rows == 0:
        raise InvalidArgumentError(
            f"Policy {ctx.policy.name!r}, field 'train.data.from_log': model {model!r} has no "
            "rows in the prediction log yet. Serve it with the log on, or name a dataset ref."
        )
    newest = int(logged.column("event_at").cast("int64").to_numpy().max())
    start, end_ms = newest + 1 - last_ms, newest + 1
    version = to_dataset(
        ctx.backend,
        model,
        name=name or f"{model}-production",
        start=start,
        end=end_ms,
        description=f"loop policy {ctx.policy.name!r}: labeled traffic of {model}",
    )
    reason = (
        f"training data {version.ref}: {version.rows:,} labeled rows of the prediction log of "
        f"{model} from {iso(start)} to {iso(end_ms)}"
    )
    return _data_ready(version, reason, start=iso(start), end=iso(end_ms))


# -- train ------------------------------------------------------------------------------------


def train_step(ctx: StepContext, run: LoopRun) -> Outcome:
    """Train the challenger (see :mod:`loopml.automation.training`)."""
    from loopml.automation.training import train
    from loopml.registry import ModelRegistry
    from loopml.registry.refs import CHAMPION, parse_model_ref

    data = run.state.get("data")
    trained = train(ctx.backend, ctx.policy, run.run_id, data)
    number = parse_model_ref(trained.ref).version
    champion = ModelRegistry(ctx.backend).aliases(ctx.policy.model).get(CHAMPION)
    detail = {
        "challenger": trained.ref,
        "registered_by": trained.registered_by,
        "pipeline": ctx.policy.train.pipeline,
        "pipeline_run": trained.pipeline_run,
        "params": dict(ctx.policy.train.params),
        "data": data,
        "outputs": trained.outputs,
    }
    state = {"challenger": trained.ref, "challenger_version": number}
    links = {"challenger": trained.ref, "pipeline_run": trained.pipeline_run or ""}
    how = {
        "agent": "registered by the agent",
        "pipeline": "registered by the pipeline",
        "earlier": "registered by an earlier attempt of this run, reused",
    }[trained.registered_by]
    source = f" on {data}" if data else ""
    if number == champion:
        return end(
            "rejected",
            "loop.trained",
            f"the training produced {trained.ref}, which is the champion already ({how}): "
            "nothing to release",
            state=state,
            detail=detail,
            links=links,
        )
    return go_on(
        "evaluate",
        "loop.trained",
        f"trained {trained.ref} with {ctx.policy.train.pipeline}{source} ({how})",
        state=state,
        detail=detail,
        links=links,
    )


# -- evaluate and gate ------------------------------------------------------------------------


def evaluate_step(ctx: StepContext, run: LoopRun) -> Outcome:
    """Evaluate the challenger on the policy's datasets (against the champion) and check the
    gate; a failed gate ends the run ``rejected`` with every check."""
    from loopml.evaluation import EvaluationService, check_gate
    from loopml.evaluation.gate_rules import CostRule

    policy = ctx.policy
    challenger = str(run.state["challenger"])
    service = EvaluationService(ctx.backend, clock=ctx.clock)
    version = service.registry.get(challenger)
    actor = policy.actor
    earlier = [
        r
        for r in ctx.backend.evaluations.list_for(version.name, version.version)
        if r.created_by == actor
    ]
    if earlier:  # an earlier attempt of this step evaluated it: reuse that evaluation
        evaluation = service.get(earlier[0].evaluation_id)
    else:
        refs = [service.datasets.get(ref).ref for ref in policy.evaluate.datasets]
        evaluation = service.evaluate(
            challenger,
            datasets=refs,
            baseline=policy.evaluate.compare_to,
            resamples=policy.evaluate.resamples,
            costs=any(isinstance(r, CostRule) for r in policy.evaluate.gate.rules),
        )
    decision = check_gate(policy.evaluate.gate, evaluation, at=ctx.clock(), actor=actor)
    metrics = {d.dataset: {m.name: m.value for m in d.metrics} for d in evaluation.datasets}
    detail = {
        "evaluation": evaluation.evaluation_id,
        "baseline": evaluation.baseline,
        "datasets": [d.dataset for d in evaluation.datasets],
        "metrics": metrics,
        "gate": decision.to_dict(),
    }
    state = {"evaluation": evaluation.evaluation_id, "champion": evaluation.baseline}
    links = {"evaluation": evaluation.evaluation_id, "champion": evaluation.baseline or ""}
    total = len(decision.checks)
    if decision.passed:
        return go_on(
            "release",
            "loop.gate_passed",
            f"gate {decision.policy!r}: all {total} checks passed on "
            f"{', '.join(d.dataset for d in evaluation.datasets)} (evaluation "
            f"{evaluation.evaluation_id[:12]}"
            + (f", versus {evaluation.baseline})" if evaluation.baseline else ")"),
            state=state,
            detail=detail,
            links=links,
        )
    failed = decision.failures
    return end(
        "rejected",
        "loop.gate_failed",
        f"gate {decision.policy!r}: {len(failed)} of {total} checks failed: "
        + "; ".join(f"{c.rule}: {c.reason}" for c in failed[:5]),
        state=state,
        detail=detail,
        links=links,
    )
