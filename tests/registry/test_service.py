"""The model registry service end to end, with real models trained on real data, on SQLite and
PostgreSQL: registration, signatures, aliases, approvals, rollback, lineage, safe loading."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from loopml.core.entities import ApprovalStatus, ModelVersion, TaskKind
from loopml.core.errors import (
    ApprovalRequiredError,
    ArtifactIntegrityError,
    ConflictError,
    InvalidArgumentError,
    ModelExportError,
    NotFittedError,
    NotFoundError,
)
from loopml.core.settings import Settings
from loopml.registry import ModelRegistry, PythonModel
from loopml.registry.loaded import PREDICTORS
from loopml.store.backend import open_backend


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Breast cancer (scikit-learn's bundled copy) with a categorical column and a target."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    data = X.iloc[:, :8].copy()
    data["size"] = pd.cut(X["mean area"], [0, 400, 700, 10_000], labels=["s", "m", "l"]).astype(str)
    data["target"] = y
    return data


@pytest.fixture(scope="module")
def features(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns="target")


def _pipeline(c: float = 1.0) -> Pipeline:
    numeric = [
        "mean radius",
        "mean texture",
        "mean perimeter",
        "mean area",
        "mean smoothness",
        "mean compactness",
        "mean concavity",
        "mean concave points",
    ]
    prep = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["size"]),
            ("num", StandardScaler(), numeric),
        ]
    )
    return Pipeline([("prep", prep), ("clf", LogisticRegression(C=c, max_iter=2000))])


@pytest.fixture(scope="module")
def models(frame: pd.DataFrame) -> dict[str, Pipeline]:
    X, y = frame.drop(columns="target"), frame["target"]
    return {
        "a": _pipeline(1.0).fit(X, y),
        "b": _pipeline(0.1).fit(X, y),
        "c": _pipeline(0.01).fit(X, y),
    }


@pytest.fixture
def registry(settings: Settings) -> Iterator[ModelRegistry]:
    PREDICTORS.clear()
    yield ModelRegistry(open_backend(settings))
    PREDICTORS.clear()


def _register(
    registry: ModelRegistry, model: Any, features: pd.DataFrame, **kw: Any
) -> ModelVersion:
    return registry.register(model, "credit-default", input_example=features.head(), **kw)


def _approved(registry: ModelRegistry, version: ModelVersion) -> ModelVersion:
    return registry.approve(version.ref, comment="ok")


# -- registration and loading ------------------------------------------------------------------


def test_register_and_load_round_trip(
    registry: ModelRegistry, models: dict[str, Pipeline], features: pd.DataFrame
) -> None:
    version = _register(registry, models["a"], features, description="baseline", tags={"team": 1})
    assert (version.ref, version.flavor, version.approval) == (
        "credit-default@1",
        "sklearn",
        ApprovalStatus.PENDING,
    )
    assert version.tags == {"team": "1"}
    out = version.signature.output
    assert (out.task, out.classes, out.has_proba) == (TaskKind.BINARY, (0, 1), True)
    assert version.signature.input_names == tuple(features.columns)
    loaded = registry.load("credit-default@1")
    np.testing.assert_array_equal(loaded.predict(features), models["a"].predict(features))
    proba = loaded.predict_proba(features)
    assert list(proba.columns) == [0, 1]
    np.testing.assert_array_equal(proba.to_numpy(), models["a"].predict_proba(features))
    # dict records and a single record work too, extra columns are dropped
    records = features.head(3).assign(unused=1).to_dict(orient="records")
    np.testing.assert_array_equal(loaded.predict(records), models["a"].predict(features.head(3)))
    assert loaded.predict(records[0]).shape == (1,)
    events = registry.backend.events.list_events(kind="model.registered")
    assert [e.subject for e in events] == ["model:credit-default@1"]


def test_loading_is_cached_per_process(
    registry: ModelRegistry,
    models: dict[str, Pipeline],
    features: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _register(registry, models["a"], features)
    reads: list[str] = []
    original = registry.backend.artifacts.open

    def counting(digest: str) -> Any:
        reads.append(digest)
        return original(digest)

    monkeypatch.setattr(registry.backend.artifacts, "open", counting)
    manifests: list[str] = []
    get_bytes = registry.backend.artifacts.get_bytes

    def counting_bytes(digest: str) -> bytes:
        manifests.append(digest)
        return get_bytes(digest)

    monkeypatch.setattr(registry.backend.artifacts, "get_bytes", counting_bytes)
    first = registry.load("credit-default@1")
    second = registry.load("credit-default@latest")
    assert first.raw is second.raw and first.manifest == second.manifest
    assert len(reads) == 1  # one payload file, read once
    assert len(manifests) == 1  # the second load reads nothing from the artifact store


def test_signature_enforcement_names_the_column(
    registry: ModelRegistry, models: dict[str, Pipeline], features: pd.DataFrame
) -> None:
    _register(registry, models["a"], features)
    loaded = registry.load("credit-default@1")
    with pytest.raises(InvalidArgumentError, match="mean radius"):
        loaded.predict(features.drop(columns="mean radius"))
    with pytest.raises(InvalidArgumentError, match="'abc'"):
        loaded.predict(features.head(2).assign(**{"mean texture": ["abc", "1.0"]}))
    strict = registry.load("credit-default@1", extra="error")
    with pytest.raises(InvalidArgumentError, match="unused"):
        strict.predict(features.head(2).assign(unused=1))


def test_signature_from_the_training_dataset(
    registry: ModelRegistry,
    models: dict[str, Pipeline],
    frame: pd.DataFrame,
    features: pd.DataFrame,
) -> None:
    train = registry.datasets.register("credit", frame, target="target")
    version = registry.register(models["a"], "credit-default", training_data=train.ref)
    size = dict(zip(version.signature.input_names, version.signature.inputs, strict=True))["size"]
    assert set(size.categories or ()) == {"s", "m", "l"}
    assert "target" not in version.signature.input_names
    assert version.training_data == "credit@1"
    loaded = registry.load(version.ref, unseen="error")
    with pytest.raises(InvalidArgumentError, match="'xl'"):
        loaded.predict(features.head(1).assign(size="xl"))
    assert registry.load(version.ref).predict(features.head(1).assign(size="xl")).shape == (1,)


# -- bad input leaves nothing behind ---------------------------------------------------------------


def test_bad_registrations_are_refused_and_leave_no_version(
    registry: ModelRegistry, models: dict[str, Pipeline], features: pd.DataFrame
) -> None:
    with pytest.raises(NotFittedError, match="not fitted"):
        _register(registry, _pipeline(), features)
    with pytest.raises(InvalidArgumentError, match="fails on its input example"):
        registry.register(
            models["a"], "credit-default", input_example=features.head().drop(columns="size")
        )
    with pytest.raises(InvalidArgumentError, match="Model name 'credit default!' is not valid"):
        registry.register(models["a"], "credit default!", input_example=features.head())
    with pytest.raises(InvalidArgumentError, match="pass input_example= .* or training_data="):
        registry.register(models["a"], "credit-default")
    with pytest.raises(NotFoundError, match="No dataset named 'credit'"):
        _register(registry, models["a"], features, training_data="credit@1")
    with pytest.raises(InvalidArgumentError, match="no model flavor supports it"):
        registry.register(object(), "credit-default", input_example=features.head())
    with pytest.raises(NotFoundError, match="No model named 'credit-default'"):
        registry.versions("credit-default")
    assert registry.backend.events.list_events() == []


def test_a_model_that_does_not_survive_saving_is_refused(
    registry: ModelRegistry, features: pd.DataFrame
) -> None:
    class Forgetful(PythonModel):
        def __init__(self) -> None:
            self.calls = 0

        def __getstate__(self) -> dict[str, Any]:
            return {"calls": 0}

        def __setstate__(self, state: dict[str, Any]) -> None:
            self.calls = 1000  # loaded copies behave differently

        def predict(self, frame: pd.DataFrame) -> Any:
            return np.full(len(frame), self.calls, dtype=float)

    with pytest.raises(ModelExportError, match="predicts differently"):
        registry.register(Forgetful(), "forgetful", input_example=features.head())
    with pytest.raises(NotFoundError, match="No model named 'forgetful'"):
        registry.versions("forgetful")


# -- tampering --------------------------------------------------------------------------------


def _blob_path(registry: ModelRegistry, digest: str) -> Path:
    root = Path(registry.backend.settings.artifacts_url)
    found = [p for p in root.rglob(f"*{digest[2:]}*") if p.is_file()]
    assert len(found) == 1, found
    return found[0]


def test_a_tampered_package_file_is_refused_naming_it(
    registry: ModelRegistry, models: dict[str, Pipeline], features: pd.DataFrame
) -> None:
    version = _register(registry, models["a"], features)
    manifest = registry.manifest(version.ref)
    (payload,) = manifest.files
    blob = _blob_path(registry, payload.digest)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError, match=r"its file 'model\.pkl' does not match"):
        registry.load(version.ref)


def test_a_changed_cache_is_refilled_from_the_store(
    registry: ModelRegistry, models: dict[str, Pipeline], features: pd.DataFrame
) -> None:
    version = _register(registry, models["a"], features)
    registry.load(version.ref)
    PREDICTORS.clear()
    cached = next(registry.cache_dir.rglob("model.pkl"))
    cached.write_bytes(b"not a pickle")  # a process would unpickle this if it trusted the cache
    loaded = registry.load(version.ref)
    np.testing.assert_array_equal(loaded.predict(features), models["a"].predict(features))


def test_a_missing_blob_is_named(
    registry: ModelRegistry, models: dict[str, Pipeline], features: pd.DataFrame
) -> None:
    version = _register(registry, models["a"], features)
    (payload,) = registry.manifest(version.ref).files
    _blob_path(registry, payload.digest).unlink()
    shutil.rmtree(registry.cache_dir, ignore_errors=True)
    with pytest.raises(NotFoundError, match=r"its file 'model\.pkl' .* is missing"):
        registry.load(version.ref)


# -- aliases, approvals, rollback ---------------------------------------------------------------


def test_champion_takes_approved_versions_only(
    registry: ModelRegistry, models: dict[str, Pipeline], features: pd.DataFrame
) -> None:
    version = _register(registry, models["a"], features)
    with pytest.raises(ApprovalRequiredError, match="it is pending"):
        registry.set_alias("credit-default", "champion", 1)
    registry.set_alias("credit-default", "challenger", 1, reason="shadow first")  # any alias
    _approved(registry, version)
    move = registry.set_alias("credit-default", "champion", 1, reason="first release")
    assert (move.from_version, move.to_version, move.reason) == (None, 1, "first release")
    assert registry.get("credit-default@champion").version == 1
    assert registry.aliases("credit-default") == {"challenger": 1, "champion": 1}


def test_unapproved_champion_when_configured(
    settings: Settings, models: dict[str, Pipeline], features: pd.DataFrame
) -> None:
    allowed = dataclasses.replace(settings, allow_unapproved_champion=True)
    registry = ModelRegistry(open_backend(allowed, cached=False))
    _register(registry, models["a"], features)
    assert registry.set_alias("credit-default", "champion", 1).to_version == 1
    registry.backend.close()


def test_alias_errors(
    registry: ModelRegistry, models: dict[str, Pipeline], features: pd.DataFrame
) -> None:
    _register(registry, models["a"], features)
    with pytest.raises(NotFoundError, match=r"has no version 9; it has version 1"):
        registry.set_alias("credit-default", "challenger", 9)
    with pytest.raises(InvalidArgumentError, match="'latest' is reserved"):
        registry.set_alias("credit-default", "latest", 1)
    with pytest.raises(InvalidArgumentError, match="Alias 'Champion!' is not valid"):
        registry.set_alias("credit-default", "Champion!", 1)
    registry.set_alias("credit-default", "challenger", 1)
    with pytest.raises(NotFoundError, match="no alias 'champion'.*challenger -> 1"):
        registry.get("credit-default@champion")
    with pytest.raises(NotFoundError, match="Did you mean 'credit-default'"):
        registry.get("credit-defualt@champion")
    with pytest.raises(InvalidArgumentError, match="not 'name@version'"):
        registry.get("credit-default@Bad!")


def test_names_aliases_and_refs_are_checked_whole(
    registry: ModelRegistry, models: dict[str, Pipeline], features: pd.DataFrame
) -> None:
    """A trailing newline is not part of a name or an alias (``$`` matched before it), and
    numbers beyond a version column are refused before they reach the database."""
    with pytest.raises(InvalidArgumentError, match=r"Model name 'credit\\n' is not valid"):
        registry.register(models["a"], "credit\n", input_example=features.head())
    _register(registry, models["a"], features)  # pending: champion must refuse it
    with pytest.raises(InvalidArgumentError, match=r"Alias 'champion\\n' is not valid"):
        registry.set_alias("credit-default", "champion\n", 1)
    assert registry.aliases("credit-default") == {}
    with pytest.raises(InvalidArgumentError, match=r"has version 99999999999999999999: versions"):
        registry.get("credit-default@99999999999999999999")
    with pytest.raises(InvalidArgumentError, match=r"whole number from 1 to 2147483647. Got 1180"):
        registry.set_alias("credit-default", "challenger", 2**70)
    with pytest.raises(InvalidArgumentError, match=r"Dataset reference 'credit@²' has a bad"):
        registry.datasets.get("credit@²")
    with pytest.raises(InvalidArgumentError, match=r"Dataset name 'credit\\n' is not valid"):
        registry.datasets.register("credit\n", features.head())


def test_the_champion_cannot_be_rejected_until_it_is_moved(
    registry: ModelRegistry, models: dict[str, Pipeline], features: pd.DataFrame
) -> None:
    for key in ("a", "b"):
        _approved(registry, _register(registry, models[key], features))
    registry.set_alias("credit-default", "champion", 1)
    registry.set_alias("credit-default", "champion", 2)
    with pytest.raises(ConflictError, match=r"Cannot reject credit-default@2: it is .*Move champ"):
        registry.reject("credit-default@champion", comment="drifted")
    assert registry.get("credit-default@2").approval is ApprovalStatus.APPROVED
    registry.rollback("credit-default", reason="drifted")
    rejected = registry.reject("credit-default@2", comment="drifted")
    assert rejected.approval is ApprovalStatus.REJECTED
    with pytest.raises(ApprovalRequiredError, match="it is rejected"):
        registry.set_alias("credit-default", "champion", 2)
    kinds = [e.kind for e in registry.backend.events.list_events(subject="model:credit-default@2")]
    assert kinds == ["model.registered", "model.approved", "model.rejected"]


def test_a_bare_name_is_the_latest_and_says_so_when_it_is_not_approved(
    registry: ModelRegistry,
    models: dict[str, Pipeline],
    features: pd.DataFrame,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import warnings

    from loopml.core.errors import UnapprovedVersionWarning

    first = _approved(registry, _register(registry, models["a"], features))
    _register(registry, models["b"], features)  # pending, no champion yet: nothing to say
    with warnings.catch_warnings(), caplog.at_level("INFO", logger="loopml.registry"):
        warnings.simplefilter("error")
        assert registry.get("credit-default").version == 2
    assert caplog.messages == ["'credit-default' resolved to credit-default@2, its latest version."]
    registry.set_alias("credit-default", "champion", first.version)
    message = (
        r"'credit-default' resolved to credit-default@2, its latest version, which is pending "
        r"while credit-default@champion is version 1\. Name the version you mean: "
        r"'credit-default@champion' for the approved one, or 'credit-default@latest'"
    )
    with pytest.warns(UnapprovedVersionWarning, match=message):
        loaded = registry.load("credit-default")
    assert loaded.version.version == 2  # the documented meaning is kept: the latest
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # named on purpose: no warning
        assert registry.load("credit-default@latest").version.version == 2
        assert registry.load("credit-default@champion").version.version == 1
        registry.approve("credit-default", comment="reviewed")  # resolves without warning
        assert registry.get("credit-default").version == 2  # approved now


def test_alias_history_and_rollback_walk_back(
    registry: ModelRegistry, models: dict[str, Pipeline], features: pd.DataFrame
) -> None:
    for key in ("a", "b", "c"):
        _approved(registry, _register(registry, models[key], features))
    for number in (1, 2, 3):
        registry.set_alias("credit-default", "champion", number, reason=f"release {number}")
    with pytest.raises(InvalidArgumentError, match="needs a reason"):
        registry.rollback("credit-default", reason=" ")
    back = registry.rollback("credit-default", reason="canary errors")
    assert (back.from_version, back.to_version, back.rollback) == (3, 2, True)
    assert registry.rollback("credit-default", reason="still bad").to_version == 1
    with pytest.raises(ConflictError, match="no earlier version"):
        registry.rollback("credit-default", reason="again")
    registry.set_alias("credit-default", "champion", 3, reason="fixed")
    assert registry.rollback("credit-default", reason="not fixed").to_version == 1
    history = registry.alias_history("credit-default", "champion")
    assert [(m.from_version, m.to_version, m.rollback) for m in history] == [
        (None, 1, False),
        (1, 2, False),
        (2, 3, False),
        (3, 2, True),
        (2, 1, True),
        (1, 3, False),
        (3, 1, True),
    ]
    assert [m.reason for m in history][3] == "canary errors"
    assert {m.actor for m in history} == {registry.actor}
    with pytest.raises(ConflictError, match="no 'challenger' alias to roll back"):
        registry.rollback("credit-default", reason="x", alias="challenger")


def test_remove_alias_is_an_event(
    registry: ModelRegistry, models: dict[str, Pipeline], features: pd.DataFrame
) -> None:
    _register(registry, models["a"], features)
    registry.set_alias("credit-default", "challenger", 1)
    move = registry.remove_alias("credit-default", "challenger", reason="retired")
    assert (move.from_version, move.to_version) == (1, None)
    assert registry.aliases("credit-default") == {}
    with pytest.raises(NotFoundError, match="has no alias 'challenger'"):
        registry.remove_alias("credit-default", "challenger")


def test_reviews(
    registry: ModelRegistry, models: dict[str, Pipeline], features: pd.DataFrame
) -> None:
    _register(registry, models["a"], features)
    with pytest.raises(InvalidArgumentError, match="needs a comment"):
        registry.reject("credit-default@1", comment="")
    rejected = registry.reject("credit-default@1", comment="leaks the label")
    assert (rejected.approval, rejected.review_comment) == (
        ApprovalStatus.REJECTED,
        "leaks the label",
    )
    with pytest.raises(InvalidArgumentError, match="was rejected by .*'leaks the label'"):
        registry.approve("credit-default@1")
    approved = registry.approve("credit-default@1", comment="leak removed upstream")
    assert approved.approval is ApprovalStatus.APPROVED
    kinds = [e.kind for e in registry.backend.events.list_events(subject="model:credit-default@1")]
    assert kinds == ["model.registered", "model.rejected", "model.approved"]


# -- lineage --------------------------------------------------------------------------------


def test_lineage_both_ways(
    registry: ModelRegistry,
    models: dict[str, Pipeline],
    frame: pd.DataFrame,
    features: pd.DataFrame,
) -> None:
    from loopml.tracking import TrackingService

    tracking = TrackingService(registry.backend)
    run = tracking.create_run(experiment="credit", capture=False)
    source = registry.datasets.register("credit", frame, target="target")
    parts = registry.datasets.split(source.ref, fractions={"train": 0.8, "valid": 0.2})
    train, valid = parts["train"], parts["valid"]
    version = registry.register(
        models["a"],
        "credit-default",
        input_example=features.head(),
        training_data=train.ref,
        validation_data=valid.ref,
        run_id=run.run_id,
        code_commit="0123456789abcdef0123456789abcdef01234567",
    )
    tracking.end_run(run.run_id)
    _approved(registry, version)
    registry.set_alias("credit-default", "champion", 1)
    line = registry.lineage("credit-default@champion")
    assert line.version.ref == "credit-default@1"
    assert line.aliases == ("champion",)
    assert line.run is not None and line.run.run_id == run.run_id
    assert [(d.ref, role) for d, role in line.datasets] == [
        (train.ref, "train"),
        (valid.ref, "validation"),
    ]
    assert line.datasets[0][0].parents == (source.ref,)
    assert line.commit == "0123456789abcdef0123456789abcdef01234567"
    assert line.to_dict()["run"]["run_id"] == run.run_id
    assert [(v.ref, role) for v, role in registry.models_from_dataset(train.ref)] == [
        ("credit-default@1", "train")
    ]
    # the run records the datasets as its inputs too
    assert {(d.ref, role) for d, role in registry.datasets.inputs_of(run.run_id)} == {
        (train.ref, "train"),
        (valid.ref, "validation"),
    }


# -- ONNX export ------------------------------------------------------------------------------


def test_onnx_export_is_checked_and_loadable(
    registry: ModelRegistry, models: dict[str, Pipeline], features: pd.DataFrame
) -> None:
    _register(registry, models["a"], features)
    with pytest.raises(InvalidArgumentError, match="needs held-out rows"):
        registry.export_onnx("credit-default@1")
    with pytest.raises(NotFoundError, match="has no ONNX export"):
        registry.load("credit-default@1", runtime="onnx")
    assert registry.load("credit-default@1", runtime="auto").runtime == "native"
    with pytest.raises(InvalidArgumentError, match="'native', 'onnx' or 'auto'"):
        registry.load("credit-default@1", runtime="fast")  # type: ignore[arg-type]
    version = registry.export_onnx("credit-default@1", holdout=features.tail(200))
    assert registry.load("credit-default@1", runtime="auto").runtime == "onnx"
    export = version.export("onnx")
    assert export is not None and export.check["passed"] is True
    assert export.check["rows"] == 200 and export.check["max_abs_diff"] <= 1e-5
    onnx_model = registry.load("credit-default@1", runtime="onnx")
    np.testing.assert_array_equal(onnx_model.predict(features), models["a"].predict(features))
    np.testing.assert_allclose(
        onnx_model.predict_proba(features).to_numpy(),
        models["a"].predict_proba(features),
        atol=1e-5,
    )
    assert [e.kind for e in registry.backend.events.list_events(kind="model.exported")] == [
        "model.exported"
    ]


# -- every flavor through the registry ----------------------------------------------------------


class _Threshold(PythonModel):
    """A hand-written rule with an artifact (the threshold file)."""

    classes = (0, 1)

    def __init__(self, path: Path) -> None:
        self.artifacts = {"threshold": path}
        self.threshold = 0.0

    def load(self, artifacts: Any) -> None:
        self.threshold = float(Path(artifacts["threshold"]).read_text())

    def predict(self, frame: pd.DataFrame) -> Any:
        return (frame["mean radius"] > self.threshold).astype("int64").to_numpy()


def _flavor_models(frame: pd.DataFrame, tmp_path: Path) -> dict[str, tuple[Any, pd.DataFrame]]:
    import lightgbm
    import xgboost
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier

    numeric = frame.drop(columns=["target", "size"])
    y = frame["target"]
    labels = y.map({0: "malignant", 1: "benign"})
    threshold = tmp_path / "threshold.txt"
    threshold.write_text("14.5")
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(numeric.to_numpy(), y)
    return {
        "xgboost": (xgboost.XGBClassifier(n_estimators=20, max_depth=3).fit(numeric, y), numeric),
        "lightgbm": (
            lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(numeric, labels),
            numeric,
        ),
        "lightgbm-regressor": (
            lightgbm.LGBMRegressor(n_estimators=20, verbose=-1).fit(numeric, numeric["mean area"]),
            numeric,
        ),
        "generic": (_Threshold(threshold), numeric),
        "onnx": (to_onnx(forest, numeric.to_numpy()[:1].astype("float32")), numeric),
    }


@pytest.mark.parametrize("kind", ["xgboost", "lightgbm", "lightgbm-regressor", "generic", "onnx"])
def test_every_flavor_round_trips_through_the_registry(
    registry: ModelRegistry, frame: pd.DataFrame, kind: str, tmp_path: Path
) -> None:
    model, X = _flavor_models(frame, tmp_path)[kind]
    version = registry.register(model, f"flavor-{kind}", input_example=X.head())
    assert version.flavor == kind.split("-", maxsplit=1)[0]
    PREDICTORS.clear()
    shutil.rmtree(registry.cache_dir, ignore_errors=True)
    loaded = registry.load(version.ref)
    if kind == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(model.SerializeToString())
        (name,) = [i.name for i in session.get_inputs()]
        expected = session.run(None, {name: X.to_numpy().astype("float32")})[0]
    elif kind == "generic":
        model.load({"threshold": tmp_path / "threshold.txt"})
        expected = model.predict(X)
    else:
        expected = model.predict(X)
    np.testing.assert_array_equal(loaded.predict(X), expected)
    if kind in ("xgboost", "lightgbm"):
        np.testing.assert_array_equal(loaded.predict_proba(X).to_numpy(), model.predict_proba(X))
        assert loaded.classes == tuple(model.classes_.tolist())


def test_packages_on_any_fsspec_store(
    settings: Settings, models: dict[str, Pipeline], features: pd.DataFrame
) -> None:
    import uuid

    import fsspec

    name = f"loopml-registry-{uuid.uuid4().hex}"
    remote = dataclasses.replace(settings, artifacts_url=f"memory://{name}")
    registry = ModelRegistry(open_backend(remote, cached=False))
    try:
        version = _register(registry, models["a"], features)
        PREDICTORS.clear()
        loaded = registry.load(version.ref)
        np.testing.assert_array_equal(loaded.predict(features), models["a"].predict(features))
        assert fsspec.filesystem("memory").find(f"/{name}")  # the package lives there
    finally:
        registry.backend.close()
        fs = fsspec.filesystem("memory")
        if fs.exists(f"/{name}"):
            fs.rm(f"/{name}", recursive=True)


def test_a_pipeline_with_script_defined_steps_loads_in_another_process(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import numpy as np
            from sklearn.base import BaseEstimator, TransformerMixin
            from sklearn.datasets import load_breast_cancer
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import FunctionTransformer

            import loopml

            class Clip(BaseEstimator, TransformerMixin):  # defined in __main__
                def fit(self, X, y=None):
                    self.high_ = np.percentile(X, 99, axis=0)
                    return self

                def transform(self, X):
                    return np.minimum(np.asarray(X), self.high_)

            X, y = load_breast_cancer(return_X_y=True, as_frame=True)
            model = make_pipeline(
                Clip(), FunctionTransformer(lambda a: np.log1p(a)), LogisticRegression(max_iter=3000)
            ).fit(X, y)
            loopml.models.register(model, "clipped", input_example=X.head())
            np.save("expected.npy", model.predict_proba(X))
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["LOOPML_CAPTURE_ENV"] = "false"
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    from loopml.client import LoopmlClient

    PREDICTORS.clear()
    client = LoopmlClient(home=tmp_path / ".loopml")
    X, _ = load_breast_cancer(return_X_y=True, as_frame=True)
    proba = client.models.load("clipped@1").predict_proba(X)
    np.testing.assert_array_equal(proba.to_numpy(), np.load(tmp_path / "expected.npy"))


def test_concurrent_loads_of_one_version_read_it_once(
    registry: ModelRegistry,
    models: dict[str, Pipeline],
    features: pd.DataFrame,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    loaders = 4
    _register(registry, models["a"], features)
    arrived = threading.Condition()
    inside: list[int] = []
    get_or_load = PREDICTORS.get_or_load

    def counting(key: tuple[str, str], load: Any) -> Any:
        with arrived:
            inside.append(threading.get_ident())
            arrived.notify_all()
        return get_or_load(key, load)

    reads: list[str] = []
    original = registry.backend.artifacts.open

    def held(digest: str) -> Any:
        reads.append(digest)
        with arrived:  # the first read goes on once every loader is in the cache
            assert arrived.wait_for(lambda: len(inside) == loaders, timeout=60)
        return original(digest)

    monkeypatch.setattr(PREDICTORS, "get_or_load", counting)
    monkeypatch.setattr(registry.backend.artifacts, "open", held)
    loaded: list[Any] = []
    threads = [
        threading.Thread(target=lambda: loaded.append(registry.load("credit-default@1").raw))
        for _ in range(loaders)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(reads) == 1 and len(loaded) == loaders
    assert all(raw is loaded[0] for raw in loaded)
