"""Entities round-trip through JSON (NaN and infinities included); the error tree is as drawn."""

from __future__ import annotations

import json
import math

import pytest

from loopml.core import errors
from loopml.core.entities import (
    AliasMove,
    ApiToken,
    ApprovalStatus,
    ArtifactEntry,
    ArtifactUpload,
    AuditEntry,
    AuditProblem,
    AuditReport,
    ColumnRole,
    ColumnSchema,
    Event,
    Experiment,
    MetricPoint,
    ModelExport,
    ModelManifest,
    ModelOutput,
    ModelSignature,
    ModelVersion,
    PackageFile,
    Principal,
    RegisteredModel,
    Role,
    Run,
    RunStatus,
    TaskKind,
)
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
    upload = ArtifactUpload(f"{'f' * 64}-12", "f" * 64, 12, 5, stored=False)
    assert ArtifactUpload.from_dict(_through_json(upload.to_dict())) == upload


def test_access_and_audit_entities_round_trip() -> None:
    token = ApiToken("a" * 32, "ada", Role.APPROVER, 1, "root", expires_at=9, note="ci")
    assert ApiToken.from_dict(_through_json(token.to_dict())) == token
    assert token.to_dict()["role"] == "approver" and token.state(8) == "active"
    assert token.state(9) == "expired"
    who = Principal("ada", Role.VIEWER, "a" * 32)
    assert Principal.from_dict(_through_json(who.to_dict())) == who
    event = Event("e" * 32, "run.created", "run:1", "ada", 5, client="loopml-cli/0", address="x")
    chained = AuditEntry(seq=3, event=event, prev_hash="0" * 64, hash="1" * 64)
    assert AuditEntry.from_dict(_through_json(chained.to_dict())) == chained
    problem = AuditProblem(3, "e" * 32, "run.created", "edited", "its hash ...")
    report = AuditReport(False, 2, True, 2, "1" * 64, problem)
    assert AuditReport.from_dict(_through_json(report.to_dict())) == report


def test_registry_entities_round_trip() -> None:
    signature = ModelSignature(
        inputs=(
            ColumnSchema("age", "int64", ColumnRole.NUMERIC, nullable=False),
            ColumnSchema("city", "string", ColumnRole.CATEGORICAL, True, ("paris",), True),
        ),
        output=ModelOutput(TaskKind.MULTICLASS, "string", ("a", "b", "c"), has_proba=True),
    )
    manifest = ModelManifest(
        flavor="sklearn",
        loopml_version="0.1.0",
        python_version="3.11.7",
        libraries={"scikit-learn": "1.9.1"},
        requirements=("numpy==2.4.6",),
        signature=signature,
        files=(PackageFile("model.pkl", "a" * 64, 10), PackageFile("extra/x.txt", "b" * 64, 2)),
        details={"estimator": "sklearn.pipeline.Pipeline"},
    )
    assert ModelManifest.from_dict(_through_json(manifest.to_dict())) == manifest
    assert manifest.size_bytes == 12
    export = ModelExport("onnx", "c" * 64, 5, "ada", {"rows": 10, "max_abs_diff": 1e-7})
    version = ModelVersion(
        name="credit-default",
        version=3,
        flavor="sklearn",
        manifest_digest="d" * 64,
        signature=signature,
        size_bytes=12,
        created_at=1,
        created_by="ada",
        run_id=RunId("e" * 32),
        training_data="credit@3",
        validation_data="credit@4",
        code_commit="f" * 40,
        tags={"team": "risk"},
        approval=ApprovalStatus.REJECTED,
        reviewer="grace",
        review_comment="leak",
        reviewed_at=2,
        exports=(export,),
    )
    assert ModelVersion.from_dict(_through_json(version.to_dict())) == version
    assert version.ref == "credit-default@3" and version.export("onnx") == export
    assert version.export("pmml") is None
    model = RegisteredModel("credit-default", 1, 3, 3, {"champion": 2})
    assert RegisteredModel.from_dict(_through_json(model.to_dict())) == model
    move = AliasMove("credit-default", "champion", 2, None, "ada", 9, "retired", False, "9" * 32)
    assert AliasMove.from_dict(_through_json(move.to_dict())) == move
    assert TaskKind.BINARY.is_classification and not TaskKind.REGRESSION.is_classification


def test_entities_are_frozen() -> None:
    exp = Experiment(ExperimentId("e" * 32), "churn", 10)
    with pytest.raises(AttributeError, match="cannot assign to field 'name'"):
        exp.name = "other"  # type: ignore[misc]


def test_error_tree_matches_its_diagram() -> None:
    assert issubclass(errors.InvalidArgumentError, ValueError)
    assert issubclass(errors.FilterSyntaxError, errors.InvalidArgumentError)
    assert issubclass(errors.NotFoundError, LookupError)
    assert issubclass(errors.NotFittedError, ValueError | AttributeError)  # type: ignore[arg-type]
    assert issubclass(errors.PermissionDeniedError, PermissionError)
    assert issubclass(errors.SchemaVersionError, errors.StoreError)
    assert issubclass(errors.ApprovalRequiredError, errors.ConflictError)
    for name in (
        "AlreadyExistsError",
        "ConflictError",
        "ArtifactIntegrityError",
        "GateFailedError",
        "StoreError",
        "ModelExportError",
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
