"""Track a run: params, metrics with steps, tags and artifacts (docs/tracking.md)."""

import pandas as pd

import loopml

with loopml.start_run(experiment="quickstart", name="baseline", tags={"team": "risk"}) as run:
    run.log_params({"model": "gbm", "max_depth": 6, "learning_rate": 0.1})
    for epoch in range(20):
        run.log_metric("val_loss", 1.0 / (epoch + 1), step=epoch)  # buffered, no DB round trip
    run.log_metrics({"auc": 0.91, "accuracy": 0.87})
    run.log_dict({"features": ["age", "income"]}, "config.json")
    run.log_artifact(pd.DataFrame({"feature": ["age"], "gain": [0.4]}), name="importance.parquet")

stored = loopml.get_run(run.run_id)
assert stored.status.value == "FINISHED"
assert stored.metrics["val_loss"] == 1.0 / 20  # latest = highest step
print(stored.name, stored.params, stored.metrics)
