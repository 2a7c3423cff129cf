""":class:`EvaluationService`: one call that scores a model version on several datasets, by
slice, with intervals, fairness and costs, against a baseline; stores the result; gates on it.

Nothing here raises for a property of the data: a dataset without the target, labels the
model never saw, a slice with no rows, a metric undefined on the rows (AUC with one class)
each end up in the result as "not computable" with the reason. Errors are raised only for
bad arguments (an unknown model, dataset or metric name, bad resample counts).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from loopml.core.clock import Clock, now_ms
from loopml.core.entities import (
    DatasetEvaluation,
    DatasetVersion,
    Evaluation,
    EvaluationRecord,
    Event,
    GateDecision,
    MetricValue,
    ModelVersion,
)
from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.core.id_prefix import resolve_prefix
from loopml.core.ids import new_event_id
from loopml.core.settings import current_user
from loopml.evaluation import metrics_plan
from loopml.evaluation.costs import measure_costs
from loopml.evaluation.fairness import fairness
from loopml.evaluation.scoring import Scored, curves, encode_labels, score_rows
from loopml.evaluation.slice_metrics import evaluate_slices
from loopml.evaluation.slices import parse_slices
from loopml.registry import CHAMPION, LoadedModel, ModelRegistry
from loopml.store.backend import Backend

CustomMetric = Callable[[Any, Any, Any], float]

#: Rows and shuffles of the importance recorded when an evaluated version has none.
EXPLAIN_ROWS = 500
EXPLAIN_REPEATS = 3

_log = logging.getLogger("loopml.evaluation")


class EvaluationService:
    """Evaluations and gates over one :class:`~loopml.store.backend.Backend`.

    Args:
        backend: The stores.
        clock: Milliseconds since the epoch (injectable for tests).
    """

    def __init__(self, backend: Backend, *, clock: Clock = now_ms) -> None:
        self.backend = backend
        self.registry = ModelRegistry(backend, clock=clock)
        self.datasets = self.registry.datasets
        self._clock = clock

    # -- evaluate ----------------------------------------------------------------------------

    def evaluate(
        self,
        model: str,
        *,
        datasets: Sequence[str | DatasetVersion],
        slices: Sequence[Any] | None = None,
        baseline: str | None = CHAMPION,
        sensitive: Sequence[str] = (),
        metrics: Sequence[str] | None = None,
        custom_metrics: Mapping[str, CustomMetric] | None = None,
        task: str | None = None,
        target: str | None = None,
        resamples: int = 1000,
        confidence: float = 0.95,
        seed: int = 0,
        worst_slices: int = 5,
        min_support: int = 100,
        costs: bool = True,
        explain: bool = True,
    ) -> Evaluation:
        """Evaluate a model version; see :func:`loopml.evaluate`."""
        evaluation, version = self._compute(
            model,
            datasets=datasets,
            slices=slices,
            baseline=baseline,
            sensitive=sensitive,
            metrics=metrics,
            custom_metrics=custom_metrics,
            task=task,
            target=target,
            resamples=resamples,
            confidence=confidence,
            seed=seed,
            worst_slices=worst_slices,
            min_support=min_support,
            costs=costs,
        )
        self._store(evaluation, version)
        if explain:
            explain_if_missing(self.registry, version, evaluation)
        return evaluation

    def record(self, evaluation: Evaluation) -> Evaluation:
        """Store an evaluation computed elsewhere (what a server does with the remote SDK's):
        its version, baseline and datasets must exist here; who records it is its author.

        Raises:
            NotFoundError: The version, the baseline or a dataset does not exist.
            AlreadyExistsError: An evaluation with this id is stored already.
        """
        version = self.registry.get(evaluation.model)
        if evaluation.baseline is not None:
            self.registry.get(evaluation.baseline)
        for dataset in evaluation.datasets:
            self.datasets.get(dataset.dataset)
        stored = replace(
            evaluation,
            model=version.ref,
            created_at=self._clock(),
            created_by=current_user(self.backend.settings),
        )
        self._store(stored, version)
        return stored

    def _compute(
        self,
        model: str,
        *,
        datasets: Sequence[str | DatasetVersion],
        slices: Sequence[Any] | None,
        baseline: str | None,
        sensitive: Sequence[str],
        metrics: Sequence[str] | None,
        custom_metrics: Mapping[str, CustomMetric] | None,
        task: str | None,
        target: str | None,
        resamples: int,
        confidence: float,
        seed: int,
        worst_slices: int,
        min_support: int,
        costs: bool,
    ) -> tuple[Evaluation, ModelVersion]:
        """Everything :meth:`evaluate` does but storing the result."""
        version = self.registry.get(model)
        if not datasets:
            raise InvalidArgumentError(
                f"Evaluating {version.ref} needs at least one dataset: pass datasets=["
                "'credit-holdout@2', ...]."
            )
        task = metrics_plan.resolve_task(task, version)
        names = metrics_plan.resolve_metrics(metrics, task)
        custom = dict(custom_metrics or {})
        metrics_plan.check_custom(custom, names)
        metrics_plan.check_counts(resamples=resamples, confidence=confidence, top=worst_slices)
        specs = parse_slices(slices)
        candidate = self.registry.load(version)
        base_version, notes = self._baseline(version, baseline)
        base = self.registry.load(base_version) if base_version is not None else None
        plan = metrics_plan.Plan(
            task=task,
            names=names,
            k=None if task == "regression" else len(candidate.classes),
            custom=custom,
            resamples=resamples,
            confidence=confidence,
            seed=seed,
        )
        versions = [d if isinstance(d, DatasetVersion) else self.datasets.get(d) for d in datasets]
        target = target or versions[0].schema.target
        results = []
        first_frame: pd.DataFrame | None = None
        for dataset in versions:
            frame = self.datasets.load(dataset.ref)
            if first_frame is None:
                first_frame = frame
            results.append(
                self._evaluate_dataset(
                    dataset,
                    frame,
                    plan=plan,
                    candidate=candidate,
                    base=base,
                    target=target or dataset.schema.target,
                    specs=specs,
                    sensitive=sensitive,
                    worst=worst_slices,
                    min_support=min_support,
                    notes=notes,
                )
            )
        cost = None
        if costs and first_frame is not None:
            inputs = [c for c in candidate.signature.input_names if c in first_frame.columns]
            if len(inputs) == len(candidate.signature.input_names) and len(first_frame):
                cost = measure_costs(
                    candidate, first_frame[inputs], artifact_bytes=version.size_bytes
                )
        evaluation = Evaluation(
            evaluation_id=new_event_id(),
            model=version.ref,
            baseline=None if base_version is None else base_version.ref,
            task=task,
            target=target or "",
            datasets=tuple(results),
            costs=cost,
            created_at=self._clock(),
            created_by=self.registry.actor,
            config={
                "metrics": list(names) + sorted(custom),
                "resamples": resamples,
                "confidence": confidence,
                "seed": seed,
                "slices": [s.to_dict() for s in specs],
                "sensitive": list(sensitive),
                "worst_slices": worst_slices,
                "min_support": min_support,
            },
        )
        return evaluation, version

    def _baseline(
        self, version: ModelVersion, baseline: str | None
    ) -> tuple[ModelVersion | None, list[str]]:
        if baseline is None:
            return None, []
        ref = baseline if "@" in baseline else f"{version.name}@{baseline}"
        try:
            found = self.registry.get(ref)
        except NotFoundError as exc:
            if baseline == CHAMPION:  # the default: a model without a champion yet is fine
                return None, [f"no baseline: {version.name} has no '{CHAMPION}' alias yet"]
            raise InvalidArgumentError(f"The baseline {ref!r} cannot be found: {exc}") from None
        if found.ref == version.ref:
            return None, [f"no baseline: {ref} is the evaluated version itself"]
        return found, []

    def _evaluate_dataset(
        self,
        dataset: DatasetVersion,
        frame: pd.DataFrame,
        *,
        plan: metrics_plan.Plan,
        candidate: LoadedModel,
        base: LoadedModel | None,
        target: str | None,
        specs: Sequence[Any],
        sensitive: Sequence[str],
        worst: int,
        min_support: int,
        notes: Sequence[str],
    ) -> DatasetEvaluation:
        notes = list(notes)
        if target is None or target not in frame.columns:
            why = (
                f"dataset {dataset.ref} has no target column"
                + (f" {target!r}" if target else " (none declared: pass target=)")
                + "; its columns are "
                + ", ".join(map(str, list(frame.columns)[:20]))
            )
            return _empty(dataset.ref, len(frame), plan, why, notes)
        labelled = frame[target].notna().to_numpy()
        if not labelled.all():
            notes.append(f"{int((~labelled).sum())} rows without a label were left out")
            frame = frame[labelled].reset_index(drop=True)
        classes = tuple(candidate.classes)
        if plan.task == "regression":
            y = pd.to_numeric(frame[target], errors="coerce").to_numpy(dtype=float)
            if np.isnan(y).any():
                return _empty(
                    dataset.ref,
                    len(frame),
                    plan,
                    f"target {target!r} of {dataset.ref} is not numeric; a regression needs "
                    "numbers",
                    notes,
                )
        else:
            y, known, unseen = encode_labels(frame[target], classes)
            if unseen:
                notes.append(
                    f"{int((~known).sum())} rows have labels the model never saw "
                    f"({', '.join(map(repr, unseen[:5]))}; it knows {list(classes)}): they "
                    "were left out of every metric"
                )
                frame, y = frame[known].reset_index(drop=True), y[known]
        if len(frame) == 0:
            return _empty(dataset.ref, 0, plan, f"{dataset.ref} has no labelled rows", notes)
        scored = score_rows(candidate, frame, task=plan.task, classes=classes)
        if scored.reason:
            return _empty(dataset.ref, len(frame), plan, scored.reason, notes)
        base_scored: Scored | None = None
        if base is not None:
            base_scored = score_rows(base, frame, task=plan.task, classes=classes)
            if base_scored.reason:
                notes.append(f"no baseline comparison: {base_scored.reason}")
                base_scored = None
        overall, deltas = metrics_plan.estimate(plan, y, scored, base_scored)
        plot = curves(plan.task, y, scored, labels=classes)
        if base_scored is not None:
            plot.update(curves(plan.task, y, base_scored, labels=classes, prefix="baseline_"))
        findings = evaluate_slices(
            frame,
            columns=candidate.signature.input_names,
            specs=specs,
            plan=plan,
            y=y,
            scored=scored,
            base=base_scored,
            overall=overall,
            top=worst,
            min_support=min_support,
        )
        pred_labels = scored.pred if plan.task != "regression" else np.empty(0)
        fair = fairness(frame, sensitive, task=plan.task, y=y, pred=pred_labels)
        return DatasetEvaluation(
            dataset=dataset.ref,
            rows=len(frame),
            metrics=tuple(overall),
            deltas=tuple(deltas),
            slices=findings.declared,
            worst_slices=findings.found,
            fairness=tuple(fair),
            curves=plot,
            notes=tuple(notes),
            searched=findings.searched,
        )

    def _store(self, evaluation: Evaluation, version: ModelVersion) -> None:
        data = orjson.dumps(evaluation.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY)
        digest = self.backend.artifacts.put_bytes(data).digest
        summary = {d.dataset: {m.name: m.value for m in d.metrics[:4]} for d in evaluation.datasets}
        record = EvaluationRecord(
            evaluation_id=evaluation.evaluation_id,
            model=version.ref,
            baseline=evaluation.baseline,
            task=evaluation.task,
            datasets=tuple(d.dataset for d in evaluation.datasets),
            created_at=evaluation.created_at,
            created_by=evaluation.created_by,
            digest=digest,
            summary=summary,
        )
        event = Event(
            event_id=new_event_id(),
            kind="evaluation.created",
            subject=f"model:{version.ref}",
            actor=evaluation.created_by,
            at=evaluation.created_at,
            links={"evaluation": evaluation.evaluation_id}
            | ({"baseline": evaluation.baseline} if evaluation.baseline else {}),
            data={"datasets": list(record.datasets), "summary": summary},
        )
        self.backend.evaluations.add(record, event=event)

    # -- read back ---------------------------------------------------------------------------

    def resolve_id(self, prefix: str) -> str:
        """Expand a unique prefix of an evaluation id (at least 4 hex digits) to the full id;
        see :func:`loopml.core.id_prefix.resolve_prefix`.

        Raises:
            NotFoundError: No evaluation id starts with it.
            InvalidArgumentError: Not hex, too short, or ambiguous (the message lists the ids).
        """
        store = self.backend.evaluations
        return resolve_prefix(
            prefix,
            kind="evaluation",
            listing="loopml evaluations list MODEL",
            candidates=lambda start, limit: store.ids_with_prefix(start, limit=limit),
        )

    def get(self, evaluation_id: str) -> Evaluation:
        """Return a stored evaluation by its id or a unique prefix of it (its document
        verified against its hash)."""
        record = self.backend.evaluations.get(self.resolve_id(evaluation_id))
        return Evaluation.from_dict(orjson.loads(self.backend.artifacts.get_bytes(record.digest)))

    def list(self, model: str) -> list[EvaluationRecord]:
        """Return the evaluations of a model (``name``) or a version (``name@3``), newest
        first."""
        name, _, tail = model.partition("@")
        if tail:
            version = self.registry.get(model)
            return self.backend.evaluations.list_for(version.name, version.version)
        self.registry.versions(name)
        return self.backend.evaluations.list_for(name)

    # -- gate and report ---------------------------------------------------------------------

    def gate(
        self,
        model: str,
        policy: Any,
        *,
        evaluation: Evaluation | str | None = None,
        **evaluate_args: Any,
    ) -> GateDecision:
        """Check a gate policy on an evaluation of ``model`` and record the decision as a
        ``gate.passed`` / ``gate.failed`` event on the version; see :func:`loopml.gate`."""
        from loopml.evaluation.gate import check_gate, load_policy

        rules = load_policy(policy)
        version = self.registry.get(model)
        if evaluation is None:
            evaluation = self.evaluate(version.ref, **evaluate_args)
        elif isinstance(evaluation, str):
            evaluation = self.get(evaluation)
        if evaluation.model != version.ref:
            raise InvalidArgumentError(
                f"The evaluation {evaluation.evaluation_id} is of {evaluation.model}, not "
                f"{version.ref}; gate the version that was evaluated."
            )
        at, actor = self._clock(), current_user(self.backend.settings)
        decision = check_gate(rules, evaluation, at=at, actor=actor)
        failed = [c.rule for c in decision.failures]
        self.backend.events.append(
            Event(
                event_id=new_event_id(),
                kind="gate.passed" if decision.passed else "gate.failed",
                subject=f"model:{version.ref}",
                actor=actor,
                at=at,
                reason=(
                    f"{decision.policy}: all {len(decision.checks)} checks passed"
                    if decision.passed
                    else f"{decision.policy}: {len(failed)} of {len(decision.checks)} checks "
                    f"failed: {'; '.join(failed[:5])}"
                ),
                links={"evaluation": evaluation.evaluation_id},
                data=decision.to_dict(),
            )
        )
        return decision

    def report(
        self,
        evaluation: Evaluation | str,
        path: str | Path,
        *,
        decision: GateDecision | None = None,
    ) -> Path:
        """Write the self-contained HTML report (and ``<path>.json`` beside it)."""
        from loopml.evaluation.report import write_report

        if isinstance(evaluation, str):
            evaluation = self.get(evaluation)
        return write_report(evaluation, path, decision=decision)


def explain_if_missing(registry: Any, version: ModelVersion, evaluation: Evaluation) -> None:
    """Record ``version``'s global importance on the evaluation's first dataset when the
    version has none yet (cheap: :data:`EXPLAIN_ROWS` rows, :data:`EXPLAIN_REPEATS` shuffles;
    seeded by the evaluation's seed), so every evaluated version carries one. An explanation
    that cannot be computed (no labelled rows, say) is logged, never raised: the evaluation
    is stored already."""
    if not evaluation.datasets or evaluation.datasets[0].rows == 0:
        return
    if registry.explanations(version.ref):
        return
    try:
        registry.explain(
            version.ref,
            data=evaluation.datasets[0].dataset,
            target=evaluation.target or None,
            rows=EXPLAIN_ROWS,
            repeats=EXPLAIN_REPEATS,
            seed=int(evaluation.config.get("seed", 0)),
        )
    except InvalidArgumentError as exc:
        _log.warning("No feature importance recorded for %s: %s", version.ref, exc)


def _empty(
    dataset: str, rows: int, plan: metrics_plan.Plan, reason: str, notes: Sequence[str]
) -> DatasetEvaluation:
    names = list(plan.names) + sorted(plan.custom)
    return DatasetEvaluation(
        dataset=dataset,
        rows=rows,
        metrics=tuple(MetricValue(n, None, reason=reason) for n in names),
        notes=(*notes, reason),
    )
