""":class:`RemoteEvaluations`: the stored evaluations and the gates of a ``loopml server``,
with the methods of :class:`~loopml.evaluation.EvaluationService`.

An evaluation is computed here, exactly as embedded (the version's package and the rows come
through the artifact proxy), and stored on the server with the token's user as its author. A
gate is decided on the server (its event's actor is the token's user); the policy is read
here (a YAML file, or a mapping) and sent as data. Reports are written here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopml.client.remote.paths import seg
from loopml.core.clock import now_ms
from loopml.core.entities import Evaluation, EvaluationRecord, GateDecision
from loopml.core.errors import AlreadyExistsError, InvalidArgumentError
from loopml.evaluation import EvaluationService
from loopml.evaluation.service import explain_if_missing
from loopml.registry.refs import CHAMPION, parse_model_ref
from loopml.store.remote import Transport, new_idempotency_key

__all__ = ["RemoteEvaluations"]


def _policy_data(policy: Any) -> dict[str, Any]:
    """The policy as the mapping its YAML file parses to (checked here first)."""
    from loopml.evaluation.policy import _read_file, load_policy

    load_policy(policy)  # every rule checked before anything is sent
    if isinstance(policy, Mapping):
        return dict(policy)
    if isinstance(policy, str | Path):
        data = _read_file(Path(policy))
        if isinstance(data, Mapping):
            return dict(data)
    raise InvalidArgumentError(
        "Through a loopml server a gate policy is sent as data: pass the YAML file's path or "
        f"the mapping it parses to, not a {type(policy).__name__}."
    )


class _Evaluator(EvaluationService):
    """The evaluation of :class:`EvaluationService` over the remote registry and datasets,
    without a store of its own (:meth:`RemoteEvaluations.evaluate` stores on the server)."""

    def __init__(self, models: Any, datasets: Any) -> None:  # no backend: nothing stored here
        self.registry = models
        self.datasets = datasets
        self._clock = now_ms


class RemoteEvaluations:
    """Evaluations and gates of a ``loopml server`` (stands for
    :class:`~loopml.evaluation.EvaluationService`).

    Args:
        transport: The server.
    """

    def __init__(self, transport: Transport, *, models: Any, datasets: Any) -> None:
        self.transport = transport
        self.models = models
        self.datasets = datasets

    def evaluate(
        self,
        model: str,
        *,
        datasets: Any,
        slices: Any = None,
        baseline: str | None = CHAMPION,
        sensitive: Any = (),
        metrics: Any = None,
        custom_metrics: Any = None,
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
        """Evaluate a model version here (its package and the rows downloaded through the
        artifact proxy) and store the result on the server; see :func:`loopml.evaluate`."""
        computed, version = _Evaluator(self.models, self.datasets)._compute(
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
        stored = self.record(computed)
        if explain:
            explain_if_missing(self.models, version, stored)
        return stored

    def record(self, evaluation: Evaluation) -> Evaluation:
        """Store an evaluation computed here on the server (its author: the token's user)."""
        import orjson

        document = orjson.loads(
            orjson.dumps(evaluation.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY)
        )
        try:
            return self.transport.post(
                "/evaluations", Evaluation, document, idempotency_key=new_idempotency_key()
            )
        except AlreadyExistsError:  # a retry of a write whose answer was lost: it is stored
            return self.get(evaluation.evaluation_id)

    def resolve_id(self, prefix: str) -> str:
        """The full id of the evaluation whose id starts with ``prefix``."""
        return self.get(prefix).evaluation_id

    def get(self, evaluation_id: str) -> Evaluation:
        """A stored evaluation by its id or a unique prefix of it."""
        return self.transport.get(f"/evaluations/{seg(evaluation_id)}", Evaluation)

    def list(self, model: str) -> list[EvaluationRecord]:
        """The evaluations of a model (``name``) or a version (``name@3``), newest first."""
        return self.transport.get("/evaluations", list[EvaluationRecord], model=model)

    def gate(
        self,
        model: str,
        policy: Any,
        *,
        evaluation: Evaluation | str | None = None,
        **evaluate_args: Any,
    ) -> GateDecision:
        """Check a gate policy on a stored evaluation of ``model``, on the server (the
        decision is recorded there as a ``gate.passed`` / ``gate.failed`` event); see
        :func:`loopml.gate`."""
        data = _policy_data(policy)
        if evaluation is None:
            evaluation = self.evaluate(model, **evaluate_args)
        ident = evaluation.evaluation_id if isinstance(evaluation, Evaluation) else evaluation
        parsed = parse_model_ref(model)
        selector = str(parsed).partition("@")[2]
        path = f"/models/{seg(parsed.name)}/versions/{seg(selector)}/gate"
        return self.transport.post(path, GateDecision, {"policy": data, "evaluation": ident})

    def report(
        self,
        evaluation: Evaluation | str,
        path: str | Path,
        *,
        decision: GateDecision | None = None,
    ) -> Path:
        """Write the self-contained HTML report (and ``<path>.json`` beside it), here."""
        from loopml.evaluation.report import write_report

        if isinstance(evaluation, str):
            evaluation = self.get(evaluation)
        return write_report(evaluation, path, decision=decision)
