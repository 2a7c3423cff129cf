"""Search runs with a filter and an order, as a DataFrame or as Run objects (docs/tracking.md)."""

import loopml

for depth in (2, 4, 6, 8):
    with loopml.start_run(experiment="search-demo", tags={"team": "risk"}) as run:
        run.log_param("max_depth", depth)
        run.log_metric("auc", 0.75 + depth / 50)

frame = loopml.search_runs(
    "search-demo",
    filter="metrics.auc > 0.8 and params.max_depth != '8' and tags.team = 'risk'",
    order_by=["metrics.auc desc"],
    limit=10,
)
print(frame[["name", "params.max_depth", "metrics.auc"]])
assert list(frame["params.max_depth"]) == ["6", "4"]

best = loopml.search_runs("search-demo", order_by=["metrics.auc desc"], limit=1, output="runs")[0]
assert best.params["max_depth"] == "8"
