"""Model formats: a scikit-learn model in skops' format, loaded only with the types the loader
trusts, and a HistGradientBoosting pipeline exported to ONNX (docs/registry.md)."""

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import loopml
from loopml.errors import UntrustedTypesError

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
features = X.iloc[:, :8].copy()
features["size"] = pd.cut(X["mean area"], [0, 400, 700, 5000], labels=["s", "m", "l"]).astype(str)
x_train, x_test, y_train, y_test = train_test_split(features, y, random_state=0)
numeric = [c for c in features.columns if c != "size"]


def pipeline(model: object, numbers: object) -> Pipeline:
    encode = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    prep = ColumnTransformer([("cat", encode, ["size"]), ("num", numbers, numeric)])
    return Pipeline([("prep", prep), ("model", model)])


# skops: no pickle. A random forest holds sklearn.tree._tree.Tree, which skops does not trust by
# default: the registrant declares it, and each loader decides for itself.
TREE = "sklearn.tree._tree.Tree"
forest = pipeline(RandomForestClassifier(n_estimators=50, random_state=0), StandardScaler())
forest.fit(x_train, y_train)
version = loopml.models.register(
    forest, "cancer-forest", input_example=x_test.head(), flavor="skops", trusted_types=[TREE]
)
assert loopml.models.manifest(version.ref).details["untrusted_types"] == [TREE]
try:
    loopml.models.load(version.ref)  # this loader trusts nothing beyond skops' defaults
except UntrustedTypesError as error:
    assert error.types == (TREE,)  # refused before anything was built
else:
    raise AssertionError("an untrusted type was loaded")
model = loopml.models.load(version.ref, trusted_types=[TREE])  # or LOOPML_TRUSTED_TYPES
assert (model.predict(x_test) == forest.predict(x_test)).all()

# ONNX: a HistGradientBoosting pipeline, accepted only if it predicts like the original.
boosting = pipeline(HistGradientBoostingClassifier(max_iter=50, random_state=0), "passthrough")
boosting.fit(x_train, y_train)
version = loopml.models.register(boosting, "cancer-boosting", input_example=x_test.head())
version = loopml.models.export_onnx(version.ref, holdout=x_test)
check = version.export("onnx").check
assert check["passed"] and check["max_abs_diff"] <= 1e-5
fast = loopml.models.load(version.ref, runtime="onnx")
np.testing.assert_allclose(
    fast.predict_proba(x_test).to_numpy(), boosting.predict_proba(x_test), atol=1e-5
)
print(f"{version.ref}: ONNX copy matches on {check['rows']} held-out rows")
