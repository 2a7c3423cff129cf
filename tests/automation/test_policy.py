"""Loop policies: the documented example loads; each bad field is named with its path, the
value and the fix (unknown fields with "Did you mean"); what a policy names is checked
against the store (on both backends) before an agent runs anything."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from loopml.automation import Agent, check_policy, load_policy
from loopml.core.errors import InvalidArgumentError, NotFoundError
from tests.automation.conftest import World, policy

EXAMPLE = Path(__file__).resolve().parents[2] / "docs_src" / "loop_policy.yaml"


def test_the_documented_example_loads() -> None:
    found = load_policy(EXAMPLE)
    assert (found.name, found.model, found.deployment) == ("late-flights", "late", "late-prod")
    assert [t.describe() for t in found.triggers] == [
        "schedule '0 3 * * 1' (UTC)",
        "a new version of dataset 'flights'",
        "alert 'accuracy-fell'",
    ]
    assert found.train.pipeline == "my_project.training:train"
    assert found.train.executor == "process" and found.train.params == {"max_iter": 500}
    assert found.train.data is not None and found.train.data.last_ms == 30 * 86_400_000
    assert found.evaluate.gate.name == "credit-default-release"  # docs_src/gate_policy.yaml
    assert (found.release.mode, found.release.share) == ("canary", 20.0)
    assert found.promote.min_duration_ms == 6 * 3_600_000 and found.promote.timeout_ms
    assert found.rollback.max_guardrail_rate == 0.1 and found.approval == "none"
    assert found.actor == "automation:late-flights" and found.subject == "loop:late-flights"
    again = load_policy(EXAMPLE)
    assert again.digest == found.digest and len(found.digest) == 64
    assert found.spec["evaluate"]["gate"]["name"] == "credit-default-release"  # inlined


def _set(path: str, value: Any) -> dict[str, Any]:
    spec = policy()
    where: Any = spec
    keys = path.split(".")
    for key in keys[:-1]:
        where = where[int(key)] if isinstance(where, list) else where[key]
    if value is _DELETE:
        del where[keys[-1]]
    elif isinstance(where, list):
        where[int(keys[-1])] = value
    else:
        where[keys[-1]] = value
    return spec


_DELETE = object()

BAD = [
    (
        "nmae",
        "x",
        r"field 'nmae' is not a policy field; the top level has name, .* Did you mean 'name'\?",
    ),
    ("model", _DELETE, r"field 'model' is missing; it is required \(the registered model"),
    ("model", "bad name", r"field 'model' is 'bad name': it is not a valid name"),
    ("triggers", [], r"field 'triggers' is \[\]: it must be a non-empty list"),
    (
        "triggers.0",
        {"datset": "x"},
        r"field 'triggers\[0\].datset' is not a policy field.*Did you mean 'dataset'\?",
    ),
    (
        "triggers.0",
        {"dataset": "a", "schedule": "* * * * *"},
        r"triggers\[0\]' .* must name exactly one",
    ),
    (
        "triggers.0",
        {"schedule": "61 * * * *"},
        r"triggers\[0\].schedule' is '61 \* \* \* \*': it is not a cron expression",
    ),
    (
        "triggers.0",
        {"alert": {"rules": "x"}},
        r"triggers\[0\].alert.rules' is not a policy field.*Did you mean 'rule'\?",
    ),
    (
        "train.pipeline",
        "train",
        r"'train.pipeline' is 'train': it must name a function as module:function",
    ),
    (
        "train.executor",
        "gpu",
        r"'train.executor' is 'gpu': it must be one of inprocess, process, ray",
    ),
    ("train.params", [1], r"'train.params' is \[1\]: it must be a mapping"),
    ("train.data", "cancer@@2", r"'train.data' is 'cancer@@2': it is not a dataset ref"),
    (
        "train.data",
        {"from_log": {"last": "a month"}},
        r"'train.data.from_log.last' is 'a month': it must be a duration",
    ),
    ("train.data", {"from_log": {}}, r"'train.data.from_log.last' is missing"),
    (
        "evaluate.datasets",
        "holdout",
        r"'evaluate.datasets' is 'holdout': it must be a non-empty list",
    ),
    ("evaluate.gate", "missing.yaml", r"'evaluate.gate' is 'missing.yaml': it names no file"),
    (
        "evaluate.gate",
        {"name": "g", "rules": [{"metric": "acuracy", "min": 1}]},
        r"'evaluate.gate' .* not a valid gate policy .*Did you mean 'accuracy'\?",
    ),
    (
        "evaluate.compare_to",
        "Champion!",
        r"'evaluate.compare_to' is 'Champion!': it is not an alias",
    ),
    (
        "evaluate.resamples",
        10,
        r"'evaluate.resamples' is 10: it must be a whole number in \[50, 100000\]",
    ),
    (
        "release.mode",
        "canery",
        r"'release.mode' is 'canery': it must be one of canary, shadow.*Did you mean 'canary'\?",
    ),
    ("release.share", 0, r"'release.share' is 0: it must be a number in \(0, 100\]"),
    ("release.share", 101, r"'release.share' is 101"),
    ("release", {"mode": "shadow", "share": 5}, r"'release.share' is 5: it is for a canary only"),
    (
        "promote.min_labeled",
        0.5,
        r"'promote.min_labeled' is 0.5: it must be a whole number in \[1, inf\)",
    ),
    (
        "promote.metric",
        "acuracy",
        r"'promote.metric' is 'acuracy': it must be one of accuracy, balanced_accuracy, .*"
        r"\(Did you mean 'accuracy'\?\)",
    ),
    (
        "promote.min_duration",
        "6 hours",
        r"'promote.min_duration' is '6 hours': it must be a duration",
    ),
    ("promote.margni", 0.1, r"'promote.margni' is not a policy field.*Did you mean 'margin'\?"),
    (
        "rollback.max_error_rate",
        1.5,
        r"'rollback.max_error_rate' is 1.5: it must be a number in \[0, 1\]",
    ),
    (
        "rollback.metric_drop",
        -1,
        r"'rollback.metric_drop' is -1: it must be a number in \[0, inf\)",
    ),
    (
        "rollback.rate_margin",
        2,
        r"'rollback.rate_margin' is 2: it must be a number in \[0, 1\]",
    ),
    (  # the tests' policy bounds the error rate: a shadow's is not measured
        "release",
        {"mode": "shadow"},
        r"'rollback.max_error_rate' is 0.2: it cannot bound a shadow \(its failures are not "
        r"logged.*Fix: remove it, or release the challenger as a canary",
    ),
    ("approval", "yes", r"'approval' is 'yes': it must be one of none, required"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD, ids=[b[0] for b in BAD])
def test_each_bad_field_is_named_with_its_value_and_fix(
    path: str, value: Any, message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=r"^In policy <inline>, .*" + message):
        load_policy(_set(path, value if value is _DELETE else copy.deepcopy(value)))


def test_files_that_are_not_policies(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="does not exist. Give the path of a YAML"):
        load_policy(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    with pytest.raises(InvalidArgumentError, match="broken.yaml' is not valid YAML"):
        load_policy(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- name: x\n")
    with pytest.raises(
        InvalidArgumentError, match="field '\\(the policy\\)' is .* must be a mapping"
    ):
        load_policy(listed)


MISSING = [
    ({"model": "cancr"}, NotFoundError, r"field 'model': .*Register its first version"),
    (
        {"deployment": "prd"},
        NotFoundError,
        r"field 'deployment': There is no deployment 'prd'.*Did you mean 'prod'\?",
    ),
    (
        {"triggers": [{"dataset": "cancr"}]},
        NotFoundError,
        r"field 'triggers\[0\].dataset': .*Register it first",
    ),
    ({"train": {"data": "cancer@9"}}, NotFoundError, r"field 'train.data': .*cancer"),
    ({"evaluate": {"datasets": ["holdout"]}}, NotFoundError, r"field 'evaluate.datasets\[0\]'"),
    (
        {"promote": {"metric": "rmse"}},
        InvalidArgumentError,
        r"field 'promote.metric': 'rmse' does not apply to model 'cancer', a binary model\. "
        r"Name a binary metric: accuracy, ",
    ),
    (
        {"train": {"pipeline": "no_such_module:train"}},
        InvalidArgumentError,
        r"module 'no_such_module' does not import \(ModuleNotFoundError",
    ),
    (
        {"train": {"pipeline": "tests.automation.training:fitt"}},
        InvalidArgumentError,
        r"has no function 'fitt'. Did you mean 'fit'\?",
    ),
]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # checks above the store
@pytest.mark.parametrize(("changes", "error", "message"), MISSING, ids=range(len(MISSING)))
def test_what_a_policy_names_must_exist_before_anything_runs(
    world: World, changes: dict[str, Any], error: type[Exception], message: str
) -> None:
    spec = load_policy(policy(**changes))
    with pytest.raises(error, match=message):
        check_policy(spec, world.backend)
    with pytest.raises(error, match=message), Agent(world.backend, [spec], name="x"):
        pass
    assert world.backend.loops.list_policies() == []
    assert world.backend.loops.get_agent("x") is None


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_deployment_of_another_model_is_refused(world: World) -> None:
    from tests.automation.training import FEATURES, weak

    other = world.registry.register(
        weak(world.frame.iloc[:150]), "other", input_example=world.frame[FEATURES].head()
    )
    world.registry.approve(other.ref, comment="ok")
    world.deployments.create("other-prod", champion=other.ref)
    spec = load_policy(policy(deployment="other-prod"))
    with pytest.raises(
        InvalidArgumentError, match="'other-prod' serves model 'other' .*not 'cancer'"
    ):
        check_policy(spec, world.backend)


def test_docs_show_the_example_policy_as_it_is() -> None:
    page = (EXAMPLE.parents[1] / "docs" / "loop.md").read_text(encoding="utf-8")
    block = page.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert block == EXAMPLE.read_text(encoding="utf-8")
