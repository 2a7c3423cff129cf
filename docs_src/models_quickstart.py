"""Register two real models, review, promote, roll back, load safely (docs/registry.md)."""

import warnings

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import loopml
from loopml.core.errors import ConflictError, InvalidArgumentError, UnapprovedVersionWarning

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
frame = X.iloc[:, :10].copy()
frame["size"] = pd.cut(X["mean area"], [0, 400, 700, 5000], labels=["s", "m", "l"]).astype(str)
frame["malignant"] = 1 - y
data = loopml.datasets.register("cancer", frame, target="malignant")
parts = loopml.datasets.split(data.ref, fractions={"train": 0.8, "valid": 0.2})
train = loopml.datasets.load(parts["train"].ref)
features, label = train.drop(columns="malignant"), train["malignant"]

numeric = [c for c in features.columns if c != "size"]
prep = ColumnTransformer(
    [("cat", OneHotEncoder(handle_unknown="ignore"), ["size"]), ("num", StandardScaler(), numeric)]
)
with loopml.start_run(experiment="cancer") as run:
    logistic = Pipeline([("prep", prep), ("clf", LogisticRegression(max_iter=2000))])
    v1 = run.log_model(
        logistic.fit(features, label),
        "cancer-clf",
        input_example=features.head(),
        training_data=parts["train"],
        validation_data=parts["valid"],
    )
    forest = RandomForestClassifier(n_estimators=50, random_state=0).fit(features[numeric], label)
    v2 = run.log_model(
        forest,
        "cancer-clf",
        training_data=parts["train"].ref,
        input_example=features[numeric].head(),
    )
assert (v1.ref, v2.ref) == ("cancer-clf@1", "cancer-clf@2")
assert v1.signature.output.classes == (0, 1) and v1.training_data == parts["train"].ref

# champion takes approved versions only; every move is an event with who, when and why
loopml.models.approve(v1.ref, comment="AUC 0.99 on the validation split")
loopml.models.set_alias("cancer-clf", "champion", 1, reason="first release")
loopml.models.approve(v2.ref, comment="forest beats logistic")
loopml.models.set_alias("cancer-clf", "champion", 2, reason="better recall")
back = loopml.models.rollback("cancer-clf", reason="recall dropped on the canary")
assert (back.from_version, back.to_version) == (2, 1)
print([(m.from_version, m.to_version, m.reason) for m in loopml.models.alias_history("cancer-clf")])

# the champion cannot be rejected: move it first (here it is @1 again)
try:
    loopml.models.reject("cancer-clf@1", comment="recall dropped")
except ConflictError as exc:
    print(exc)  # Cannot reject cancer-clf@1: it is cancer-clf@champion ... Move champion first
loopml.models.reject("cancer-clf@2", comment="recall dropped on the canary")

# a bare name is the latest version; unapproved while a champion exists, it says so
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    assert loopml.models.get("cancer-clf").ref == "cancer-clf@2"
assert [w.category for w in caught] == [UnapprovedVersionWarning]
print(caught[0].message)  # ... name 'cancer-clf@champion', or 'cancer-clf@latest' on purpose

# load: hashes checked before unpickling, signature enforced, cached per process
model = loopml.models.load("cancer-clf@champion")
valid = loopml.datasets.load(parts["valid"].ref).drop(columns="malignant")
proba = model.predict_proba(valid)  # DataFrame, one column per class
assert list(proba.columns) == [0, 1] and len(proba) == len(valid)
one = model.predict({**valid.iloc[0].to_dict(), "unused": 1})  # a single record works too
assert one.shape == (1,)
try:
    model.predict(valid.drop(columns="mean radius"))
except InvalidArgumentError as exc:
    print(exc)  # names the missing column

# lineage both ways, and an ONNX copy accepted only if it predicts the same
line = loopml.models.lineage("cancer-clf@champion")
assert [role for _, role in line.datasets] == ["train", "validation"]
assert [v.ref for v, _ in loopml.models.models_from_dataset(parts["train"].ref)] == [
    "cancer-clf@1",
    "cancer-clf@2",
]
exported = loopml.models.export_onnx("cancer-clf@1")  # checked on the validation split
fast = loopml.models.load("cancer-clf@1", runtime="onnx")
assert (fast.predict(valid) == model.predict(valid)).all()
print(exported.export("onnx").check)
