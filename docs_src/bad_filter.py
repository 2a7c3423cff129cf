"""A filter that does not parse gets an error pointing at the token (docs/tracking.md)."""

import loopml
from loopml.core.errors import FilterSyntaxError

with loopml.start_run(experiment="errors-demo") as run:
    run.log_metric("auc", 0.9)

try:
    loopml.search_runs("errors-demo", filter="metrics.auc > 0.8 and metric.loss < 1")
except FilterSyntaxError as exc:
    print(exc)
    assert "Did you mean 'metrics'" in str(exc)
else:
    raise AssertionError("the filter should not parse")
