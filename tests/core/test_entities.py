"""Entities round-trip through JSON (NaN and infinities included); the error tree is as drawn."""

from __future__ import annotations

import json
import math

import pytest

from loopml.core import errors
from loopml.core.entities import ArtifactEntry, Experiment, MetricPoint, Run, RunStatus
from loopml.core.ids import ExperimentId, RunId, is_hex_id, new_run_id


def _through_json(data: dict[str, object]) -> dict[str, object]:
    text = json.dumps(data, allow_nan=False)  # strict JSON: no bare NaN tokens
    loaded: dict[str, object] = json.loads(text)
    return loaded


def test_run_round_trips_with_non_finite_metrics() -> None:
    run = Run(
        run_id=new_run_id(),
        experiment_id=ExperimentId("e" * 32),
        name="r",
        status=RunStatus.FAILED,
        start_time=1,
        end_time=5,
        parent_run_id=RunId("a" * 32),
        error="boom",
        params={"p": "1"},
        metrics={"ok": 0.5, "up": math.inf, "down": -math.inf},
        tags={"t": "v"},
    )
    back = Run.from_dict(_through_json(run.to_dict()))
    assert back == run and back.duration_ms == 4
    nan_run = Run(
        run_id=new_run_id(),
        experiment_id=ExperimentId("e" * 32),
        name="n",
        status=RunStatus.RUNNING,
        start_time=1,
        metrics={"m": math.nan},
    )
    assert math.isnan(Run.from_dict(_through_json(nan_run.to_dict())).metrics["m"])
    assert nan_run.duration_ms is None and not nan_run.status.is_terminal


def test_other_entities_round_trip() -> None:
    exp = Experiment(ExperimentId("e" * 32), "churn", 10, "desc", False)
    assert Experiment.from_dict(_through_json(exp.to_dict())) == exp
    point = MetricPoint("loss", -math.inf, 3, 99)
    assert MetricPoint.from_dict(_through_json(point.to_dict())) == point
    entry = ArtifactEntry("plots/roc.png", "f" * 64, 12)
    assert ArtifactEntry.from_dict(_through_json(entry.to_dict())) == entry


def test_entities_are_frozen() -> None:
    exp = Experiment(ExperimentId("e" * 32), "churn", 10)
    with pytest.raises(AttributeError):
        exp.name = "other"  # type: ignore[misc]


def test_error_tree_matches_its_diagram() -> None:
    assert issubclass(errors.InvalidArgumentError, ValueError)
    assert issubclass(errors.FilterSyntaxError, errors.InvalidArgumentError)
    assert issubclass(errors.NotFoundError, LookupError)
    assert issubclass(errors.NotFittedError, ValueError | AttributeError)  # type: ignore[arg-type]
    assert issubclass(errors.PermissionDeniedError, PermissionError)
    assert issubclass(errors.SchemaVersionError, errors.StoreError)
    for name in (
        "AlreadyExistsError",
        "ConflictError",
        "ArtifactIntegrityError",
        "GateFailedError",
        "StoreError",
    ):
        assert issubclass(getattr(errors, name), errors.LoopmlError)


def test_filter_syntax_error_points_at_the_position() -> None:
    exc = errors.FilterSyntaxError("Bad token.", text="a > > b", position=4)
    assert str(exc).splitlines() == ["Bad token.", "  a > > b", "      ^"]
    assert (exc.text, exc.position) == ("a > > b", 4)


def test_did_you_mean() -> None:
    assert (
        errors.did_you_mean("champoin", ["champion", "challenger"]) == " Did you mean 'champion'?"
    )
    assert errors.did_you_mean("zzz", ["champion"]) == ""


def test_ids() -> None:
    assert is_hex_id(new_run_id())
    assert not is_hex_id("A" * 32) and not is_hex_id("a" * 31)
