"""Delayed labels: score rows now, log their ground truth when it arrives (docs/monitoring.md)."""

import subprocess
import sys

import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import loopml

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X = X.iloc[:, :5]
model = LogisticRegression(max_iter=1000).fit(X, y)
version = loopml.models.register(model, "cancer", input_example=X.head())

# Score a file as the server would: every row is logged with its prediction id.
X.tail(100).to_parquet("rows.parquet")
subprocess.run(
    [
        sys.executable,
        "-m",
        "loopml",
        "predict",
        version.ref,
        "rows.parquet",
        "-o",
        "scored.parquet",
    ],
    check=True,
)
scored = pd.read_parquet("scored.parquet")

# Weeks later, the ground truth arrives for some rows (and a few labels are wrong).
ids = [*scored["prediction_id"][:60], "not-a-row"]
labels = [*y.tail(100)[:59], "1", 0]  # "1" is not the class 1
summary = loopml.monitoring.log_labels(version.ref, ids, labels)
print(summary.to_dict())
assert (summary.matched, summary.unknown, summary.bad_type) == (59, 1, 1)
assert summary.stored == 60

# The same from a file, with the CLI (last label wins: these 10 replace stored ones).
pd.DataFrame({"row": ids[:10], "truth": y.tail(100)[:10]}).to_csv("labels.csv", index=False)
cli = [sys.executable, "-m", "loopml", "labels", "log", "labels.csv", "--model", version.ref]
cli += ["--id-column", "row", "--label-column", "truth", "--json"]
out = subprocess.run(cli, check=True, capture_output=True, text=True).stdout
assert '"duplicates": 10' in out
