"""Nested runs, a refused value, and restoring a deleted run (docs/tracking.md)."""

import loopml
from loopml.errors import InvalidArgumentError

with loopml.start_run(experiment="cv", name="5-fold") as parent:
    for fold in range(5):
        with loopml.start_run(name=f"fold-{fold}") as child:  # lands in "cv", under parent
            child.log_metric("auc", 0.80 + fold / 100)
    try:
        parent.log_metric("auc", 1.0, step=2**63)  # beyond 64 bits: refused at the call
    except InvalidArgumentError as exc:
        print(exc)
    parent.log_metric("auc", 0.82)

folds = loopml.search_runs("cv", filter=f"parent_run_id = '{parent.run_id}'", output="runs")
assert sorted(r.name for r in folds) == [f"fold-{i}" for i in range(5)]

client = loopml.LoopmlClient()
client.delete_run(folds[0].run_id)  # hidden from searches
assert len(loopml.search_runs("cv", output="runs")) == 5
client.restore_run(folds[0].run_id)  # and back
assert len(loopml.search_runs("cv", output="runs")) == 6
