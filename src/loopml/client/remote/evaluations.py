""":class:`RemoteEvaluations`: the stored evaluations and the gates of a ``loopml server``,
with the methods of :class:`~loopml.evaluation.EvaluationService`.

A gate is decided on the server (its event's actor is the token's user) on a stored
evaluation; the policy is read here (a YAML file, or a mapping) and sent as data. Reports
are written here from the evaluation the server returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopml.client.remote.paths import seg, store_only
from loopml.core.entities import DatasetVersion, Evaluation, EvaluationRecord, GateDecision
from loopml.core.errors import InvalidArgumentError
from loopml.registry.refs import CHAMPION, parse_model_ref
from loopml.store.remote import Transport

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


class RemoteEvaluations:
    """Evaluations and gates of a ``loopml server`` (stands for
    :class:`~loopml.evaluation.EvaluationService`).

    Args:
        transport: The server.
    """

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

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
    ) -> Evaluation:
        """Not through a server yet: evaluations run where the store is."""
        raise store_only("EvaluationService.evaluate", "evaluations are not computed remotely yet")

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
        if evaluation is None or evaluate_args:
            raise store_only(
                "EvaluationService.gate without evaluation=",
                "pass the id of a stored evaluation (evaluation='<id>')",
            )
        data = _policy_data(policy)
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
        import orjson

        from loopml.evaluation.report import render_html, report_json

        if isinstance(evaluation, str):
            evaluation = self.get(evaluation)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_html(evaluation, decision=decision), encoding="utf-8")
        target.with_suffix(".json").write_bytes(
            orjson.dumps(report_json(evaluation, decision=decision), option=orjson.OPT_INDENT_2)
        )
        return target


_ = DatasetVersion  # the embedded signature's datasets: Sequence[str | DatasetVersion]
