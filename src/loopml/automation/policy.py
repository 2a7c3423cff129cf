"""Loop policies: what follows a trigger, as YAML validated on load (:func:`load_policy`).

A policy names the model it keeps retraining and the deployment it releases to, the triggers
that start a loop run, and each step's settings::

    name: late-flights
    model: late
    deployment: late-prod
    triggers:
      - schedule: "0 3 * * 1"          # cron, UTC
      - dataset: flights               # a new version of this dataset
      - alert: {rule: accuracy-fell}   # a monitor.alert on model:late
    train:
      pipeline: my_project.training:train   # a @loopml.pipeline, or a function
      params: {C: 1.0}
      executor: inprocess
      data: {from_log: {last: 30d}}         # or a dataset ref: flights@latest
    evaluate:
      datasets: [flights-holdout@latest]
      gate: gate.yaml                       # relative to this file, or inline
      compare_to: champion
    release: {mode: canary, share: 20}      # or {mode: shadow}
    promote: {min_labeled: 1000, min_duration: 1h, metric: accuracy, margin: 0.0}
    rollback: {metric_drop: 0.01, max_error_rate: 0.05, max_fallback_rate: 0.05}  # canary
    approval: none                          # or required

Every field is checked here (each error names the field's path, the bad value and the fix;
an unknown field gets "Did you mean ...?"); what needs the store (the model, the datasets and
the deployment exist, the pipeline imports) is checked by
:func:`loopml.automation.policy_check.check_policy` before an agent runs it. The full field
reference is docs/loop.md.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
import yaml

from loopml.automation.policy_fields import Section, duration_ms, sequence
from loopml.automation.policy_specs import (
    DataSpec,
    EvaluateSpec,
    PromoteSpec,
    ReleaseSpec,
    RollbackSpec,
    TrainSpec,
    Trigger,
)
from loopml.core.errors import InvalidArgumentError
from loopml.evaluation.policy import load_policy as load_gate
from loopml.stats.metrics import METRICS

#: The executors a pipeline may run on.
EXECUTORS = ("inprocess", "process", "ray")
#: The live comparison's metrics: every metric of ``compare_live`` (``loopml.stats.metrics``);
#: whether it fits the model's task is checked against the store (policy_check.py).
LIVE_METRICS = tuple(METRICS)
#: The ways a challenger goes live.
RELEASE_MODES = ("canary", "shadow")
#: Whether a person approves before a promotion.
APPROVALS = ("none", "required")

_TOP = (
    "name",
    "model",
    "deployment",
    "triggers",
    "train",
    "evaluate",
    "release",
    "promote",
    "rollback",
    "approval",
)
_TRIGGER_KINDS = ("schedule", "dataset", "alert")


@dataclass(frozen=True)
class LoopPolicy:
    """A validated policy.

    Attributes:
        name: The policy's name (events: ``loop:<name>``, actor ``automation:<name>``).
        model: The registered model the loop retrains.
        deployment: The deployment the challenger is released to.
        triggers: What starts a loop run.
        train: How the challenger is trained.
        evaluate: How it is evaluated and gated offline.
        release: How it goes live.
        promote: What promotes it.
        rollback: What rolls it back.
        approval: ``none`` or ``required`` (a person approves before the promotion).
        source: Where it was read from (a file, or ``<inline>``).
        spec: The policy as data (the gate inlined), JSON-ready.
    """

    name: str
    model: str
    deployment: str
    triggers: tuple[Trigger, ...]
    train: TrainSpec
    evaluate: EvaluateSpec
    release: ReleaseSpec
    promote: PromoteSpec
    rollback: RollbackSpec
    approval: Literal["none", "required"]
    source: str
    spec: Mapping[str, Any]

    @property
    def actor(self) -> str:
        """Who the agent acts as for this policy: ``automation:<name>``."""
        return f"automation:{self.name}"

    @property
    def subject(self) -> str:
        """The subject of its ``loop.*`` events: ``loop:<name>``."""
        return f"loop:{self.name}"

    @property
    def digest(self) -> str:
        """SHA-256 of :attr:`spec` (a changed policy has another)."""
        return hashlib.sha256(orjson.dumps(self.spec, option=orjson.OPT_SORT_KEYS)).hexdigest()


def load_policy(source: str | Path | Mapping[str, Any], *, base: Path | None = None) -> LoopPolicy:
    """Read and validate a loop policy.

    Args:
        source: A YAML file's path, or the parsed mapping.
        base: Where a gate file named in a mapping is found (default: the working folder; a
            file's own folder for a file).

    Returns:
        The validated :class:`LoopPolicy`.

    Raises:
        InvalidArgumentError: The file is missing or not YAML, or a field is unknown, missing
            or bad (the message names its path, the value and the fix).

    Example:
        >>> policy = load_policy("late.yaml")  # doctest: +SKIP
        >>> policy.release.mode, policy.approval  # doctest: +SKIP
        ('canary', 'none')
    """
    if isinstance(source, Mapping):
        where, data, folder = "policy <inline>", source, base or Path.cwd()
    else:
        path = Path(source)
        where, folder = f"policy {str(path)!r}", base or path.resolve().parent
        if not path.is_file():
            raise InvalidArgumentError(
                f"The policy file {str(path)!r} does not exist. Give the path of a YAML "
                "policy (see docs/loop.md for an example)."
            )
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise InvalidArgumentError(
                f"The {where} is not valid YAML ({exc}). Fix the line it names."
            ) from None
    top = Section(where, "", data, _TOP, required=_TOP[:7])
    from loopml.core.refs import check_name

    name = _named(top, "name", lambda v: check_name(v, noun="policy"))
    model = _named(top, "model", lambda v: check_name(v, noun="model"))
    deployment = _named(top, "deployment", lambda v: check_name(v, noun="deployment"))
    triggers = tuple(
        _trigger(top, i, item)
        for i, item in enumerate(sequence(top, "triggers", example="[{dataset: flights}]"))
    )
    train, train_spec = _train(
        top.section(
            "train", ("pipeline", "params", "executor", "data", "data_param"), ("pipeline",)
        )
    )
    evaluate, evaluate_spec = _evaluate(
        top.section(
            "evaluate", ("datasets", "gate", "compare_to", "resamples"), ("datasets", "gate")
        ),
        folder,
    )
    release = _release(top.section("release", ("mode", "share"), ("mode",)))
    promote = _promote(
        top.section("promote", ("min_labeled", "min_duration", "metric", "margin", "timeout"))
    )
    rollback = _rollback(
        top.section(
            "rollback",
            (
                "metric_drop",
                "max_error_rate",
                "max_fallback_rate",
                "max_guardrail_rate",
                "rate_margin",
            ),
        ),
        release,
    )
    approval = top.choice("approval", APPROVALS, default="none")
    spec = {
        **{k: v for k, v in dict(data).items() if k not in ("train", "evaluate")},
        "train": train_spec,
        "evaluate": evaluate_spec,
        "approval": approval,
    }
    return LoopPolicy(
        name=name,
        model=model,
        deployment=deployment,
        triggers=triggers,
        train=train,
        evaluate=evaluate,
        release=release,
        promote=promote,
        rollback=rollback,
        approval=approval,  # type: ignore[arg-type]
        source=where.removeprefix("policy "),
        spec=orjson.loads(orjson.dumps(spec, default=str)),
    )


def _named(section: Section, key: str, check: Any) -> str:
    value = section.get(key)
    try:
        return str(check(value))
    except InvalidArgumentError as exc:
        section.fail(key, value, "is not a valid name", str(exc).split(": ", 1)[-1].rstrip("."))


def _trigger(top: Section, index: int, item: object) -> Trigger:
    path = f"triggers[{index}]"
    one = Section(top.where, path, item, _TRIGGER_KINDS)
    given = [k for k in _TRIGGER_KINDS if one.has(k)]
    if len(given) != 1:
        one.fail(
            None,
            item,
            "must name exactly one of schedule, dataset and alert",
            "write one trigger per list item, e.g. - dataset: flights",
        )
    kind = given[0]
    if kind == "schedule":
        expression = one.text("schedule", example="'0 3 * * 1' (Mondays at 03:00 UTC)")
        _check_cron(one, expression)
        return Trigger("schedule", schedule=expression)
    if kind == "dataset":
        dataset = _named(one, "dataset", _dataset_name)
        return Trigger("dataset", dataset=dataset)
    alert = one.get("alert")
    if alert is None or alert == {}:
        return Trigger("alert")
    rule = Section(top.where, f"{path}.alert", alert, ("rule",)).text(
        "rule", example="accuracy-fell"
    )
    return Trigger("alert", rule=rule)


def _dataset_name(value: object) -> str:
    from loopml.data.refs import check_name

    return check_name(value)


def _check_cron(section: Section, expression: str) -> None:
    import datetime as dt

    from cronsim import CronSim, CronSimError

    try:
        CronSim(expression, dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    except CronSimError as exc:
        section.fail(
            "schedule",
            expression,
            f"is not a cron expression ({exc})",
            "write five fields: minute hour day-of-month month day-of-week, e.g. '0 3 * * 1'",
        )


def _train(section: Section) -> tuple[TrainSpec, dict[str, Any]]:
    pipeline = section.text("pipeline", example="my_project.training:train")
    module, _, function = pipeline.partition(":")
    if not module or not function or not all(p.isidentifier() for p in module.split(".")):
        section.fail(
            "pipeline",
            pipeline,
            "must name a function as module:function",
            "write e.g. my_project.training:train (the module importable by the agent)",
        )
    params = section.mapping("params")
    try:
        orjson.dumps(params)
    except TypeError as exc:
        section.fail(
            "params", params, f"must hold JSON values only ({exc})", "use numbers, text, lists"
        )
    executor = section.choice("executor", EXECUTORS, default="inprocess")
    data_param = section.text("data_param", default="data")
    data = None
    if section.has("data"):
        data = _data(section)
    spec = {
        "pipeline": pipeline,
        "params": params,
        "executor": executor,
        "data": section.get("data") if data is not None else None,
        "data_param": data_param,
    }
    return TrainSpec(pipeline, params, executor, data, data_param), spec


def _data(section: Section) -> DataSpec:
    value = section.get("data")
    if isinstance(value, str):
        from loopml.data.refs import parse_ref

        try:
            parse_ref(value)
        except InvalidArgumentError as exc:
            section.fail("data", value, "is not a dataset ref", str(exc))
        return DataSpec(ref=value)
    outer = section.section("data", ("from_log",), ("from_log",))
    log = outer.section("from_log", ("last", "name"), ("last",))
    last = log.duration("last")
    name = _named(log, "name", _dataset_name) if log.has("name") else None
    return DataSpec(last_ms=last, name=name)


def _evaluate(section: Section, folder: Path) -> tuple[EvaluateSpec, dict[str, Any]]:
    from loopml.data.refs import parse_ref

    datasets = []
    for i, ref in enumerate(sequence(section, "datasets", example="[flights-holdout@latest]")):
        try:
            parse_ref(ref)
        except InvalidArgumentError as exc:
            section.fail(f"datasets[{i}]", ref, "is not a dataset ref", str(exc))
        datasets.append(str(ref))
    raw = section.get("gate")
    gate_data: Any = raw
    if isinstance(raw, str):
        path = Path(raw) if Path(raw).is_absolute() else folder / raw
        if not path.is_file():
            section.fail(
                "gate",
                raw,
                f"names no file (looked for {path})",
                "give the gate policy file's path relative to the policy file, or the gate "
                "inline as {name: ..., rules: [...]}",
            )
        gate_source: Any = path
        try:
            gate_data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError:
            gate_data = None  # load_gate names the YAML error
    elif isinstance(raw, Mapping):
        gate_source = raw
    else:
        section.fail("gate", raw, "must be a file name or a mapping", "see docs/loop.md")
    try:
        gate = load_gate(gate_source)
    except InvalidArgumentError as exc:
        section.fail("gate", raw, f"is not a valid gate policy ({exc})", "fix the rule it names")
    compare = section.get("compare_to")
    compare_to: str | None = "champion"
    if compare is None or compare == "none":
        compare_to = None
    elif isinstance(compare, str):
        from loopml.registry.refs import check_alias

        try:
            compare_to = check_alias(compare)
        except InvalidArgumentError as exc:
            section.fail("compare_to", compare, "is not an alias", str(exc))
    resamples = int(section.number("resamples", low=50, high=100_000, default=1000, integer=True))
    spec = {
        "datasets": datasets,
        "gate": gate_data,
        "compare_to": compare_to,
        "resamples": resamples,
    }
    return EvaluateSpec(tuple(datasets), gate, compare_to, resamples), spec


def _release(section: Section) -> ReleaseSpec:
    mode = section.choice("mode", RELEASE_MODES)
    if mode == "shadow":
        if section.has("share"):
            section.fail(
                "share", section.get("share"), "is for a canary only", "remove it for a shadow"
            )
        return ReleaseSpec("shadow")
    share = section.number("share", low=0, high=100, low_open=True)
    return ReleaseSpec("canary", share)


def _promote(section: Section) -> PromoteSpec:
    metric = None
    if section.has("metric"):
        metric = section.choice("metric", LIVE_METRICS)
    return PromoteSpec(
        min_labeled=int(section.number("min_labeled", low=1, default=1000, integer=True)),
        min_duration_ms=section.duration("min_duration"),
        metric=metric,
        margin=section.number("margin", low=0, default=0.0),
        timeout_ms=section.duration("timeout"),
    )


def _rollback(section: Section, release: ReleaseSpec) -> RollbackSpec:
    bounds = ("max_error_rate", "max_fallback_rate", "max_guardrail_rate")
    if release.mode == "shadow":
        for key in bounds:
            if section.has(key):
                section.fail(
                    key,
                    section.get(key),
                    "cannot bound a shadow (its failures are not logged: its answers are "
                    "never served)",
                    "remove it, or release the challenger as a canary (release.mode: canary)",
                )
    return RollbackSpec(
        metric_drop=section.number("metric_drop", low=0, default=0.01),
        max_error_rate=section.optional_number("max_error_rate", low=0, high=1),
        max_fallback_rate=section.optional_number("max_fallback_rate", low=0, high=1),
        max_guardrail_rate=section.optional_number("max_guardrail_rate", low=0, high=1),
        rate_margin=section.number("rate_margin", low=0, high=1, default=0.01),
    )


__all__ = [
    "DataSpec",
    "EvaluateSpec",
    "LoopPolicy",
    "PromoteSpec",
    "ReleaseSpec",
    "RollbackSpec",
    "TrainSpec",
    "Trigger",
    "duration_ms",
    "load_policy",
]
