"""A model card from the store: train, evaluate with slices and a sensitive column, gate,
approve, then write the card as Markdown and HTML (docs/registry.md, "Model cards")."""

from pathlib import Path

from sklearn.compose import make_column_transformer
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import loopml

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
frame = X.iloc[:, :6].copy()
frame["size"] = (frame["mean radius"] > 14).map({True: "large", False: "small"})
frame["malignant"] = 1 - y
data = loopml.datasets.register("tumours", frame, target="malignant")
parts = loopml.datasets.split(data.ref, fractions={"train": 0.7, "valid": 0.3})
train = loopml.datasets.load(parts["train"].ref)
features, label = train.drop(columns="malignant"), train["malignant"]
numeric = [c for c in features.columns if c != "size"]
model = make_pipeline(
    make_column_transformer((StandardScaler(), numeric), (OneHotEncoder(), ["size"])),
    LogisticRegression(max_iter=2000),
)
with loopml.start_run(experiment="tumours") as run:
    version = run.log_model(
        model.fit(features, label),
        "tumours-clf",
        input_example=features.head(),
        training_data=parts["train"],
        validation_data=parts["valid"],
        description="Ranks biopsies for a second read; not a diagnosis.",
    )
evaluation = loopml.evaluate(
    version.ref,
    datasets=[parts["valid"].ref],
    baseline=None,
    slices=[{"column": "mean radius", "bins": [0, 12, 15, 40]}],
    sensitive=["size"],
    resamples=200,
    costs=False,
)
loopml.gate(version.ref, {"name": "release", "rules": [{"metric": "auc", "min": 0.9}]},
            evaluation=evaluation)  # fmt: skip
loopml.models.approve(version.ref, comment="slices reviewed")

card = loopml.models.card("tumours-clf@1")  # the data structure; an alias works too
assert card.version.description.startswith("Ranks biopsies")
assert card.evaluations[0].evaluation_id == evaluation.evaluation_id
assert [r.comment for r in card.reviews] == ["slices reviewed"]
assert card.gates[0].passed
assert "permutation" in {e.method for e in card.explanations}  # recorded by the evaluation
for item in card.limitations:  # derived from the store: slices that do worse, unseen data
    print(f"{item.kind}: {item.text}")

Path("card.md").write_text(loopml.models.card("tumours-clf@1", format="md"))
Path("card.html").write_text(loopml.models.card("tumours-clf@1", format="html"))
assert "## Limitations" in Path("card.md").read_text()
