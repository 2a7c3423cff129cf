"""The ``skops`` format end to end on SQLite and PostgreSQL: a pipeline round-trips; types
beyond skops' defaults are declared at registration and trusted by the loader only; a package
holding a malicious type is refused, in a fresh process, before its module is imported or any
of its code runs (and the same package does run its code once trusted, or when pickled)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from loopml.core.errors import InvalidArgumentError, UntrustedTypesError
from loopml.core.settings import Settings, resolve_settings
from loopml.registry import ModelRegistry
from loopml.registry.flavors import detect_flavor, get_flavor
from loopml.registry.loaded import PREDICTORS
from loopml.store.backend import open_backend

TREE = "sklearn.tree._tree.Tree"


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.Series]:
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    frame = X.iloc[:, :6].copy()
    frame["size"] = pd.cut(X["mean area"], [0, 400, 700, 10_000], labels=["s", "m", "l"]).astype(
        str
    )
    return frame, y


def _pipeline(model: object) -> Pipeline:
    prep = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["size"]),
            ("num", StandardScaler(), ["mean radius", "mean texture", "mean smoothness"]),
        ]
    )
    return Pipeline([("prep", prep), ("clf", model)])


@pytest.fixture
def registry(settings: Settings) -> Iterator[ModelRegistry]:
    PREDICTORS.clear()
    yield ModelRegistry(open_backend(settings))
    PREDICTORS.clear()


def test_skops_is_chosen_by_name_never_detected(data: tuple[pd.DataFrame, pd.Series]) -> None:
    X, y = data
    model = _pipeline(LogisticRegression(max_iter=2000)).fit(X, y)
    assert detect_flavor(model).name == "sklearn"
    flavor = get_flavor("skops")
    assert (flavor.name, flavor.extra, flavor.uses_pickle, flavor.detected) == (
        "skops",
        "skops",
        False,
        False,
    )
    assert flavor.detect(model)


def test_pipeline_round_trips(
    registry: ModelRegistry, data: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = data
    model = _pipeline(LogisticRegression(max_iter=2000)).fit(X, y)
    version = registry.register(model, "cancer", input_example=X.head(), flavor="skops")
    assert version.flavor == "skops"
    manifest = registry.manifest(version)
    assert [f.path for f in manifest.files] == ["model.skops"]
    assert manifest.details["format"] == "skops"
    assert manifest.details["untrusted_types"] == []
    loaded = registry.load("cancer@1")
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X).to_numpy(), model.predict_proba(X))


def test_types_beyond_the_defaults_are_declared_by_the_registrant_and_trusted_by_the_loader(
    registry: ModelRegistry,
    data: tuple[pd.DataFrame, pd.Series],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    X, y = data
    model = _pipeline(RandomForestClassifier(n_estimators=10, random_state=0)).fit(X, y)
    with pytest.raises(
        InvalidArgumentError,
        match=r"Model 'forest' was not registered: .* not declared: \['sklearn\.tree\._tree\.Tree'\]"
        r"\. If they are yours and you trust them, pass "
        r"trusted_types=\['sklearn\.tree\._tree\.Tree'\] to register",
    ):
        registry.register(model, "forest", input_example=X.head(), flavor="skops")
    assert registry.list_models() == []

    registry.register(model, "forest", input_example=X.head(), flavor="skops", trusted_types=[TREE])
    assert registry.manifest("forest@1").details["untrusted_types"] == [TREE]

    # The loader does not take the manifest's word for it.
    with pytest.raises(
        UntrustedTypesError,
        match=r"^Model forest@1 is refused: its skops payload names types this loader does not "
        r"trust: \['sklearn\.tree\._tree\.Tree'\]\. Nothing of it was imported or run\..*"
        r"load with trusted_types=\['sklearn\.tree\._tree\.Tree'\] or set "
        r"LOOPML_TRUSTED_TYPES=sklearn\.tree\._tree\.Tree\.$",
    ) as info:
        registry.load("forest@1")
    assert info.value.types == (TREE,)

    trusted = registry.load("forest@1", trusted_types=[TREE])
    np.testing.assert_array_equal(trusted.predict(X), model.predict(X))
    # Loading again without the trust checks again (the cache is keyed by what is trusted).
    with pytest.raises(UntrustedTypesError, match="sklearn.tree._tree.Tree"):
        registry.load("forest@1")

    # LOOPML_TRUSTED_TYPES: what `loopml serve` and other loaders without code trust.
    monkeypatch.setenv("LOOPML_TRUSTED_TYPES", f"numpy.dtype, {TREE}")
    store = registry.backend.settings
    env_settings = resolve_settings(
        {"home": store.home, "db_url": store.db_url, "artifacts_url": store.artifacts_url}
    )
    assert env_settings.sources["trusted_types"] == "environment"
    from_env = ModelRegistry(open_backend(env_settings))
    np.testing.assert_array_equal(from_env.load("forest@1").predict(X), model.predict(X))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"trusted_types": TREE},
            r"The 'trusted_types' parameter of register must be a list of qualified type names",
        ),
        (
            {"trusted_types": [TREE]},
            r"'trusted_types' parameter of register applies to formats that check types before "
            r"loading \(flavor='skops'\); the 'sklearn' flavor pickles the model",
        ),
        ({"tags": ["a"]}, r"The 'tags' parameter of register must be a mapping"),
        ({"description": 3}, r"The 'description' parameter of register must be a string"),
    ],
)
def test_bad_options_are_refused(
    registry: ModelRegistry,
    data: tuple[pd.DataFrame, pd.Series],
    kwargs: dict[str, object],
    message: str,
) -> None:
    X, y = data
    model = _pipeline(LogisticRegression(max_iter=2000)).fit(X, y)
    with pytest.raises(InvalidArgumentError, match=message):
        registry.register(model, "cancer", input_example=X.head(), **kwargs)  # type: ignore[arg-type]


def test_a_function_skops_cannot_find_again_is_refused_at_registration(
    registry: ModelRegistry, data: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, y = data
    X = X.drop(columns="size")

    def double(values: np.ndarray) -> np.ndarray:
        return values * 2

    model = Pipeline(
        [("double", FunctionTransformer(double)), ("clf", LogisticRegression(max_iter=5000))]
    ).fit(X, y)
    with pytest.raises(
        InvalidArgumentError,
        match=r"cannot be saved with skops: it holds \['tests\.registry\.test_skops\..*double'\], "
        r"defined in a script or inside a function",
    ):
        registry.register(model, "doubled", input_example=X.head(), flavor="skops")


EVIL = '''
import os
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

if os.environ.get("EVIL_MARKER"):
    Path(os.environ["EVIL_MARKER"] + ".imported").write_text("module code ran")


class Evil(ClassifierMixin, BaseEstimator):
    """Predicts 0; building it from a file runs code (as a crafted payload would)."""

    def fit(self, X, y):
        self.classes_ = np.array([0, 1])
        return self

    def predict(self, X):
        return np.zeros(len(X), dtype=np.int64)

    def __setstate__(self, state):
        if os.environ.get("EVIL_MARKER"):
            Path(os.environ["EVIL_MARKER"] + ".setstate").write_text("__setstate__ ran")
        self.__dict__.update(state)
'''

LOADER = """
import json, sys
import loopml
from loopml.core.errors import UntrustedTypesError

ref, trust = sys.argv[1], json.loads(sys.argv[2])
try:
    model = loopml.models.load(ref, trusted_types=trust)
except UntrustedTypesError as exc:
    print(json.dumps({"refused": list(exc.types), "evil_imported": "evil_model" in sys.modules}))
else:
    print(json.dumps({"loaded": model.predict([{"x": 1.0}]).tolist()}))
"""


def test_a_malicious_type_is_refused_before_any_of_its_code_runs(
    registry: ModelRegistry, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "evil_model.py").write_text(textwrap.dedent(EVIL))
    monkeypatch.syspath_prepend(str(code))
    import evil_model  # the registrant's own code, importable where they register

    try:
        frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0]})
        model = evil_model.Evil().fit(frame, [0, 1, 0, 1])
        registry.register(
            model,
            "evil",
            input_example=frame,
            flavor="skops",
            trusted_types=["evil_model.Evil"],  # the registrant vouches for it
        )
        registry.register(model, "evil-pickled", input_example=frame)  # the sklearn flavor
    finally:
        sys.modules.pop("evil_model", None)
    assert registry.manifest("evil@1").details["untrusted_types"] == ["evil_model.Evil"]

    marker = tmp_path / "marker"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(code), *sys.path]),
        "EVIL_MARKER": str(marker),
        "LOOPML_HOME": str(settings.home),
        "LOOPML_DB_URL": settings.db_url,
        "LOOPML_ARTIFACTS_URL": settings.artifacts_url,
        "LOOPML_CAPTURE_ENV": "false",
    }
    env.pop("LOOPML_TRUSTED_TYPES", None)

    def load(ref: str, trust: list[str]) -> dict[str, object]:
        done = subprocess.run(
            [sys.executable, "-c", LOADER, ref, json.dumps(trust)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    # A loader that did not trust the type: refused, and nothing of it ran or was imported.
    assert load("evil@1", []) == {"refused": ["evil_model.Evil"], "evil_imported": False}
    assert not marker.with_suffix(".imported").exists()
    assert not marker.with_suffix(".setstate").exists()

    # The markers do catch the code when it runs: a loader that trusts the type runs it ...
    assert load("evil@1", ["evil_model.Evil"]) == {"loaded": [0]}
    assert marker.with_suffix(".imported").read_text() == "module code ran"
    assert marker.with_suffix(".setstate").read_text() == "__setstate__ ran"
    for suffix in (".imported", ".setstate"):
        marker.with_suffix(suffix).unlink()
    # ... and so does any load of the pickled copy, whatever the loader trusts.
    assert load("evil-pickled@1", []) == {"loaded": [0]}
    assert marker.with_suffix(".setstate").exists()
