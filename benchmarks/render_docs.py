"""Write the benchmark figures into docs/benchmarks.md and README.md from the result files.

Every figure the docs quote sits between marker comments, ``<!-- figures:NAME -->`` and
``<!-- /figures -->``, and is rendered here from ``benchmarks/results/NAME.json`` (``NAME`` may
end in ``.quick`` for a ``--quick`` run's file); the README's block (``figures:readme``) reads
several files. Each block ends with the result file it came from, the run's date, commit,
machine, load average and library versions. ``tests/docs/test_figures.py`` checks that
rendering again gives the same text, so a figure cannot drift from its result file.

Usage: python benchmarks/render_docs.py [--check]   (after ``make bench``)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
DOCS = (
    ROOT / "docs" / "benchmarks.md",
    ROOT / "README.md",
    ROOT / "docs" / "monitoring.md",
    ROOT / "docs" / "serving.md",
    ROOT / "docs" / "pipelines.md",
    ROOT / "docs" / "ui.md",
)
BLOCK = re.compile(r"(<!-- figures:([\w.]+) -->\n)(.*?)(<!-- /figures -->)", re.DOTALL)

#: The libraries named under each stage's figures (all are recorded in the result file).
STAGE_LIBRARIES = {
    "tracking": ("mlflow", "sqlalchemy", "psycopg", "pandas", "numpy"),
    "server": ("mlflow", "fastapi", "uvicorn", "sqlalchemy", "orjson"),
    "data": ("duckdb", "pyarrow", "pandas", "numpy"),
    "registry": ("mlflow", "scikit-learn", "onnxruntime", "skl2onnx", "pandas", "numpy"),
    "evaluation": ("scikit-learn", "numpy"),
    "monitoring": ("numpy", "scikit-learn", "duckdb", "pandas"),
    "live": ("numpy",),
    "serving": ("mlflow", "scikit-learn", "onnxruntime", "uvicorn", "httptools", "uvloop"),
    "pipelines": ("ray", "scikit-learn", "pandas", "pyarrow"),
    "ui": ("fastapi", "uvicorn", "sqlalchemy"),
    "ui_deployments": ("duckdb", "pyarrow", "pandas"),
}
NAMES = {
    "mlflow": "MLflow",
    "scikit-learn": "scikit-learn",
    "sqlalchemy": "SQLAlchemy",
    "ray": "Ray",
}


def load(name: str) -> dict[str, Any]:
    """The result file ``results/<name>.json``."""
    path = RESULTS / f"{name}.json"
    if not path.exists():
        raise SystemExit(f"{path} does not exist: run `python benchmarks/{name}.py` first")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


# -- numbers -----------------------------------------------------------------------------------


def num(value: float) -> str:
    """A figure to about three significant digits, with thousands separators."""
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def ratio(c: dict[str, Any]) -> str:
    if c["ratio"] is None:
        return "-"
    return f"{c['ratio']:,.0f}x" if c["ratio"] >= 100 else f"{c['ratio']:.1f}x"


def target(c: dict[str, Any]) -> str:
    if c["target_ratio"] is None:
        return "-"
    verdict = {True: "met", False: "**missed**", None: "-"}[c["passed"]]
    if c["target_ratio"] < 1:  # a limit: loopml at most 1 / target times slower
        return f">= {c['target_ratio']:.2f}x (within {1 / c['target_ratio']:g}x): {verdict}"
    return f">= {c['target_ratio']:g}x: {verdict}"


def cell(text: str) -> str:
    return text.strip().replace("|", "\\|")


# -- pieces ------------------------------------------------------------------------------------


def source(name: str, data: dict[str, Any]) -> str:
    """The line naming the result file and the run behind a block."""
    m = data["machine"]
    stage = data["stage"] if data["stage"] in STAGE_LIBRARIES else data["stage"].split("_")[0]
    libs = ", ".join(
        f"{NAMES.get(lib, lib)} {m['versions'][lib]}"
        for lib in STAGE_LIBRARIES.get(stage, ())
        if m["versions"].get(lib)
    )
    extra = f", {data['wrk']}" if data.get("wrk") else ""
    size = "`--quick` sizes" if data["quick"] else "full size"
    before = m["load_average_before"][0]
    after = m["load_average_after"][0]
    commit = (m["commit"] or "unknown")[:12]
    return (
        f"Source: `benchmarks/results/{name}.json` ({size}), run {m['when']} at commit "
        f"{commit}, {m['cores']} cores ({m['cpu']}), load average {before:.1f} at the start "
        f"and {after:.1f} at the end; Python {m['python']}, {libs}{extra}."
    )


def comparisons_table(
    data: dict[str, Any],
    peer: str,
    skip: Callable[[str], bool] | None = None,
    fmt: Callable[[float], str] = num,
) -> str:
    rows = [
        f"| scenario | loopml | {peer} | ratio | target | note |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for c in data["comparisons"]:
        if skip is not None and skip(c["scenario"]):
            continue
        theirs = "-" if c["peer"] is None else f"{fmt(c['peer'])} {c['unit']} ({c['peer_name']})"
        rows.append(
            f"| {cell(c['scenario'])} | {fmt(c['loopml'])} {c['unit']} | {cell(theirs)} | "
            f"{ratio(c)} | {target(c)} | {cell(c['note']) or '-'} |"
        )
    return "\n".join(rows)


def find(data: dict[str, Any], start: str) -> dict[str, Any]:
    """The comparison whose scenario starts with ``start``."""
    for c in data["comparisons"]:
        if c["scenario"].startswith(start):
            return dict(c)
    raise KeyError(f"no scenario starting with {start!r} in {data['stage']}")


# -- blocks ------------------------------------------------------------------------------------


def generic(name: str, peer: str) -> Callable[[], str]:
    def render() -> str:
        data = load(name)
        return comparisons_table(data, peer) + "\n\n" + source(name, data)

    return render


def registry(name: str) -> str:
    data = load(name)
    onnx = data["onnx"]
    lines = [comparisons_table(data, "MLflow")]
    if onnx.get("exported"):
        lines.append(
            f'The ONNX copy (`export_onnx` + `load(runtime="onnx")`): 1 row '
            f"{num(onnx['predict_1_row_ms'])} ms, 1,000 rows {num(onnx['predict_1000_rows_ms'])} "
            f"ms; largest probability difference from the pipeline {onnx['max_abs_diff']:.2g}."
        )
    lines.append(
        f"The model: {data['model']['pickled_mb']:.1f} MB pickled, fitted in "
        f"{data['model']['fit_s']:.0f} s."
    )
    lines.append(source(name, data))
    return "\n\n".join(lines)


def serving(name: str) -> str:
    data = load(name)
    default = data["default_runtime"]
    tables = [
        comparisons_table(data, "MLflow", skip=lambda s: s.startswith("[--runtime native]")),
    ]
    if default == "onnx":
        native = comparisons_table(
            data, "MLflow", skip=lambda s: not s.startswith("[--runtime native]")
        )
        tables.append(native)
    lim = data["in_process_1_row_median_ms"]
    parts = [
        f"`Pipeline.predict` {num(lim['pipeline_predict_ms'])} ms (with `predict_proba` "
        f"{num(lim['pipeline_predict_and_proba_ms'])} ms)",
        f"loopml's signature check {num(lim['signature_prepare_ms'])} ms",
    ]
    for runtime in ("onnx", "native"):
        if f"service_predict_{runtime}_nobatch_ms" in lim:
            parts.append(
                f"{runtime}: the model {num(lim[f'served_run_{runtime}_ms'])} ms, "
                f"`InferenceService.predict` {num(lim[f'service_predict_{runtime}_nobatch_ms'])} "
                f"ms, the ASGI app {num(lim[f'asgi_app_{runtime}_nobatch_ms'])} ms"
            )
    parts.append(f"HTTP floor (`GET /v2/health/live`) {num(data['http_health_floor_p50_ms'])} ms")
    rss = data["server_rss_around_concurrency"]
    memory = ", ".join(f"{n} {v['before_mb']} -> {v['after_mb']} MB" for n, v in rss.items())
    tables.append("In process, median of one row (`--max-batch 1`): " + "; ".join(parts) + ".")
    tables.append(f"Servers' memory (RSS) before and after the concurrent scenarios: {memory}.")
    tables.append(source(name, data))
    return "\n\n".join(tables)


def ablations(name: str) -> str:
    data = load(name)
    rows = [
        "| speed-up | with it | without it | ratio | note |",
        "| --- | --- | --- | --- | --- |",
    ]
    for c in data["comparisons"]:
        rows.append(
            f"| {cell(c['scenario'])} | {num(c['loopml'])} {c['unit']} | "
            f"{num(c['peer'])} {c['unit']} | {ratio(c)} | {cell(c['note']) or '-'} |"
        )
    return "\n".join(rows) + "\n\n" + source(name, data)


def soak(name: str) -> str:
    data = load(name)
    s, rounds = data["summary"], data["rounds"]
    series = ", ".join(f"{r['rss_mb']}" for r in rounds)
    sizes = data["sizes"]
    return (
        f"{sizes['clients']} connections for {sizes['seconds']:g} s on the default server "
        f"({data['default_runtime']} runtime), {s['requests']:,} requests answered at "
        f"{num(s['rps_min'])}-{num(s['rps_max'])} req/s per {sizes['round_s']:g} s round. "
        f"Its memory (RSS, MB) before the first request and after each round: {series}. "
        f"Start {s['rss_start_mb']} MB, peak {s['rss_peak_mb']} MB, end {s['rss_end_mb']} MB."
        "\n\n" + source(name, data)
    )


def readme(suffix: str = "") -> str:
    """The README's summary: a few figures from each stage's result file."""
    tr, da, rg = load("tracking" + suffix), load("data" + suffix), load("registry" + suffix)
    ev, sv = load("evaluation" + suffix), load("serving" + suffix)
    single = find(tr, "5,000 single log_metric")
    search = find(tr, "search_runs -> DataFrame")
    prof, mem = da["comparisons"][0], da["comparisons"][1]
    reg, warm = find(rg, "register"), find(rg, "warm load")
    hit = find(rg, "loopml predictor cache hit")
    one = find(rg, "predict 1 row")
    boot = ev["comparisons"][0]
    head = "[default (--runtime auto: the checked ONNX export)] 1-row requests"
    seq = find(sv, f"{head}, sequential, ")
    p99 = find(sv, f"{head}, sequential: p99")
    conc = find(sv, f"{head}, 32 connections (wrk), ")
    cp99 = find(sv, f"{head}, 32 connections (wrk): p99")
    native = find(sv, "[--runtime native] 1-row requests, 32 connections (wrk), ")
    pl = load("pipelines" + suffix)
    on_ray = find(pl, "4-step pipeline, two independent branches: wall time on Ray")
    cached = find(pl, "the same pipeline re-run")
    fixed = find(pl, "loopml's cost per step, four steps passing small numbers (every")
    started = sv["machine"]["load_average_before"][0]
    stages = (
        "tracking",
        "data",
        "registry",
        "evaluation",
        "serving",
        "monitoring",
        "pipelines",
        "server",
        "ui",
    )
    files = ", ".join(f"`{n}{suffix}.json`" for n in stages)
    return "\n".join(
        [
            f"- `benchmarks/tracking.py`, against MLflow on its SQLite backend: "
            f"{single['scenario']} {ratio(single)} faster; {search['scenario']} "
            f"{ratio(search)} faster ({num(search['loopml'])} ms).",
            f"- `benchmarks/data.py`: {prof['scenario']} in {num(prof['loopml'])} s "
            f"({ratio(prof)} pandas), peak memory rise {num(mem['loopml'])} MB.",
            f"- `benchmarks/registry.py`, against MLflow's `log_model` and pyfunc: registered "
            f"{ratio(reg)} faster; loaded again in the same process (both reading the model) "
            f"in {num(warm['loopml'] * 1000)} ms vs {num(warm['peer'] * 1000)} ms, and "
            f"{num(hit['loopml'])} ms from loopml's predictor cache; predicting one row costs "
            f"{num(one['loopml'])} ms vs {num(one['peer'])} ms.",
            f"- `benchmarks/evaluation.py`: {boot['scenario']} in {num(boot['loopml'])} s, "
            f"{ratio(boot)} a loop of scikit-learn calls.",
            f"- `benchmarks/serving.py`, against `mlflow models serve` with the same pipeline, "
            f"serving its checked ONNX export (the default once exported): "
            f"{ratio(seq)} MLflow's throughput one request at a time with a {ratio(p99)} lower "
            f"p99; {ratio(conc)} with 32 connections from wrk (p99 {ratio(cp99)} lower); "
            f"serving the pickled pipeline itself, {ratio(native)} under the same load.",
            f"- `benchmarks/pipelines.py`: a 4-step pipeline with two independent branches "
            f"{ratio(on_ray)} faster on a local Ray than in-process; re-run from the cache in "
            f"{num(cached['loopml'])} s; loopml's own cost {num(fixed['loopml'])} ms a step.",
            monitoring_summary(load("monitoring" + suffix)),
            server_summary(load("server" + suffix), load("ui" + suffix)),
            "",
            f"From {files} in `benchmarks/results/`, on a shared machine with "
            f"{sv['machine']['cores']} cores (load average {started:.1f} when the serving run "
            "started).",
        ]
    )


def server_summary(server: dict[str, Any], ui: dict[str, Any]) -> str:
    """The README's line on the team server and the web UI."""
    single = find(server, "single log_metric calls through the server")
    search = find(server, "search_runs through the server -> top 100")
    load32 = find(server, "32 concurrent clients")
    page = find(ui, "runs page in chromium, 10,000 runs: first page")
    return (
        f"- `benchmarks/server.py`, against `mlflow server` (SQLite) over HTTP: log_metric "
        f"through the server {ratio(single)} MLflow's rate; search_runs over 10,000 runs "
        f"{num(search['loopml'])} ms ({ratio(search)} faster); with 32 concurrent clients "
        f"logging and searching, p99 {num(load32['loopml'])} ms. `benchmarks/ui.py`: the runs "
        f"page of 10,000 runs loads in headless Chromium in {num(page['loopml'])} ms."
    )


def monitoring_summary(data: dict[str, Any]) -> str:
    """The README's line on the monitoring benchmark."""

    def having(*texts: str) -> dict[str, Any]:
        return next(c for c in data["comparisons"] if all(t in c["scenario"] for t in texts))

    fast = having("the preset's checks (a test per column)")
    memory = having("the preset's checks, the reference registered", "peak memory")
    both = having("the preset's checks, both frames", "peak memory")
    bare = having("bare NumPy/SciPy")
    cbpe = having("label-free estimate")
    auc = having("estimated ROC AUC")
    drift = data["drift"]
    exact = drift["exactly_planted"]
    flags = (
        "both flagging exactly the 5 planted columns"
        if exact["loopml"] and exact["evidently"]
        else f"flagged: loopml {drift['flagged']['loopml']}, Evidently "
        f"{drift['flagged']['evidently']}"
    )
    verdict = {True: "met", False: "missed", None: "-"}
    slower = 1 / bare["ratio"] if bare["ratio"] else 0.0
    speed = (
        f"{ratio(cbpe)} its speed"
        if cbpe["ratio"] is not None and cbpe["ratio"] >= 1
        else f"in {num(cbpe['loopml'])} s to NannyML's {num(cbpe['peer'])} s"
    )
    return (
        f"- `benchmarks/monitoring.py`, against Evidently's data drift preset on "
        f"{drift['rows']:,} + {drift['rows']:,} rows x 25 columns: {ratio(fast)} faster "
        f"({num(fast['loopml'])} s vs {num(fast['peer'])} s), {ratio(memory)} less peak memory "
        f"with the reference registered as a dataset version (the target of three times "
        f"{verdict[memory['passed']]}; {ratio(both)} with both frames in memory on both sides, "
        f"target {verdict[both['passed']]}), {flags}; {slower:.1f}x the time of the same "
        f"tests on bare NumPy arrays. Label-free estimates against NannyML's CBPE: mean "
        f"absolute error in ROC AUC {auc['loopml']:.4f} vs {auc['peer']:.4f}, {speed}."
    )


def monitoring_window(name: str) -> str:
    """One window's checks, step by step (no peer: the Evidently comparison is another
    script)."""
    data = load(name)
    rows = ["| step | seconds |", "| --- | --- |"]
    rows += [f"| {cell(c['scenario'])} | {num(c['loopml'])} |" for c in data["comparisons"]]
    facts = (
        f"Reference {data['reference_rows']:,} rows (stored profile "
        f"{data['stored_profile_mb']} MB), window {data['window_rows']:,} rows; drifted: "
        f"{', '.join(data['drifted']) or 'none'}; domain classifier AUC {data['domain_auc']}."
    )
    return "\n".join(rows) + "\n\n" + facts + "\n\n" + source(name, data)


def monitoring_census(name: str) -> str:
    """Realized and label-free performance per year on the census data, and the estimate's
    noise over repeated samples."""
    data = load(name)

    def metric(m: dict[str, Any]) -> str:
        if m["value"] is None:
            return "-"
        return f"{m['value']:.3f} ({m['low']:.3f}-{m['high']:.3f})"

    rows = [
        "| year | rows | labeled | ROC AUC realized | ROC AUC estimated | accuracy realized "
        "| accuracy estimated | drifted features (largest statistic) | domain AUC |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for y in data["years"]:
        name_, test, statistic = y["largest_drift"]
        rows.append(
            f"| {y['year']} | {y['rows']:,} | {y['label_coverage']:.0%} "
            f"| {metric(y['realized']['roc_auc'])} | {metric(y['estimated']['roc_auc'])} "
            f"| {metric(y['realized']['accuracy'])} | {metric(y['estimated']['accuracy'])} "
            f"| {', '.join(y['drifted']) or 'none'} ({name_}, {test} {statistic:.3f}) "
            f"| {y['domain_auc']:.3f} |"
        )
    n = data["noise"]
    facts = (
        f"Model trained on {data['train_rows']:,} rows of 2015; estimate calibrated on "
        f"{data['calibration']}. Over {n['samples']} samples of {data['per_year']:,} rows "
        f"({n['seeds']} per year), the estimate was within {n['max_gap']['roc_auc']:.4f} of "
        f"the realized ROC AUC and {n['max_gap']['accuracy']:.4f} of the realized accuracy "
        f"(95th percentile {n['p95_gap']['roc_auc']:.4f} and {n['p95_gap']['accuracy']:.4f}); "
        f"the realized value fell outside the estimate's 95% interval {n['outside_interval']} "
        f"times of {n['checked']}, by at most {n['max_outside']:.4f}."
    )
    return "\n".join(rows) + "\n\n" + facts + "\n\n" + source(name, data)


def small(value: float) -> str:
    """As :func:`num`, with two significant digits below 0.01 (errors of estimates)."""
    return f"{value:.2g}" if 0 < abs(value) < 0.01 else num(value)


def _verdict(found: dict[str, Any] | None) -> str:
    if not found:
        return "-"
    flag = "**drifted**" if found["drifted"] else "quiet"
    return f"{found['statistic']:.3f} {flag}"


def monitoring(name: str) -> str:
    """loopml.monitor vs Evidently and the bare NumPy limit (data drift), and vs NannyML's CBPE
    (label-free estimate): the comparisons, the columns each flagged, the estimates per
    window."""
    data = load(name)
    drift, est = data["drift"], data["estimate"]
    planted = drift["planted"]
    flagged = {c for found in drift["flagged"].values() for c in found}
    shown = [c for c in drift["columns"] if c in planted or c in flagged]
    rows = [
        "| column | planted shift | loopml | Evidently | bare NumPy/SciPy |",
        "| --- | --- | --- | --- | --- |",
    ]
    for column in shown:
        found = drift["columns"][column]
        rows.append(
            f"| {column} | {found['shift'] or 'none'} | {_verdict(found['loopml'])} | "
            f"{_verdict(found['evidently'])} | {_verdict(found['numpy'])} |"
        )
    quiet = [c for c in drift["columns"] if c not in shown]
    largest = {
        side: max(drift["columns"][c][side]["statistic"] for c in quiet)
        for side in ("loopml", "evidently", "numpy")
    }
    exact = drift["exactly_planted"]
    agree = (
        "each side flagged exactly the planted columns, in every run"
        if all(exact.values())
        else "sides that did not flag exactly the planted columns in every run: "
        + ", ".join(side for side, ok in exact.items() if not ok)
    )
    same = drift.get("stored_same_statistics", {})
    stored = (
        (
            " The runs against the reference registered as a dataset version gave the same "
            "statistics as loopml's runs on both frames, column by column"
            if all(same.values())
            else " Runs against the registered reference whose statistics differ from "
            "loopml's on both frames: " + ", ".join(n for n, ok in same.items() if not ok)
        )
        + "."
        if same
        else ""
    )
    tests = (
        f"Statistics: normalized Wasserstein distance for the numeric columns and Jensen-Shannon "
        f"distance for the categorical ones, threshold 0.1 on every side (Evidently's "
        f"Jensen-Shannon is in natural-log units, loopml's and the bare one's in bits). "
        f"The other {len(quiet)} columns stayed quiet on every side (largest statistic: "
        f"loopml {largest['loopml']:.3f}, Evidently {largest['evidently']:.3f}, bare "
        f"{largest['numpy']:.3f}); {agree}.{stored}"
    )
    windows = [
        "| window | covariate shift | ROC AUC realized | loopml estimate (95% interval) | "
        "NannyML estimate | accuracy realized | loopml estimate (95% interval) | "
        "NannyML estimate |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for w in est["windows"]:
        cells = [str(w["window"]), f"{w['shift']:.2f}"]
        for metric in ("roc_auc", "accuracy"):
            m = w[metric]
            cells += [
                f"{m['realized']:.4f}",
                f"{m['loopml']:.4f} ({m['loopml_low']:.4f}-{m['loopml_high']:.4f})",
                f"{m['nannyml']:.4f}",
            ]
        windows.append("| " + " | ".join(cells) + " |")
    ev = drift["sides"]["evidently"]["versions"]
    nml = est["nannyml_versions"]
    facts = (
        f"Data drift: {drift['rows']:,} + {drift['rows']:,} rows ({drift['parquet_mb']} MB of "
        f"Parquet); loopml and the bare side: "
        + (
            f"the median of {drift['repeats']} fresh processes, Evidently one run between them"
            if drift["repeats"] > 1
            else "one process each, Evidently one run"
        )
        + ". Label-free estimate: a model trained on "
        f"{est['train_rows']:,} rows, {len(est['windows'])} windows of {est['window_rows']:,} rows"
        + (f", the median of {est['repeats']} turns" if est.get("repeats", 1) > 1 else "")
        + "; loopml's "
        f"calibration: {est['calibration']}; NannyML's: all {est['reference_rows']:,} reference "
        f"rows. Peers: Evidently {ev['evidently']} (pandas {ev['pandas']}), NannyML "
        f"{nml['nannyml']} (pandas {nml['pandas']}), each in its own virtualenv."
    )
    return "\n\n".join(
        [
            comparisons_table(data, "peer", fmt=small),
            "\n".join(rows),
            tests,
            "\n".join(windows),
            facts,
            source(name, data),
        ]
    )


def live_compare_noise(name: str) -> str:
    """Verdicts of the live comparison on simulated pairs under repeated looks: false
    rollbacks of equal models, and how soon a worse or better challenger is decided."""
    data = load(name)
    scenarios = data["scenarios"]
    modes = list(scenarios["equal"]["modes"])
    rows = [
        "| intervals | equal: rolled back | equal: promoted | 0.05 worse: rolled back "
        "| 0.05 better: promoted |",
        "| --- | --- | --- | --- | --- |",
    ]

    def share(s: dict[str, Any], mode: str, key: str) -> str:
        m = s["modes"][mode]
        text = f"{m[key]} of {s['pairs']}"
        at = m["median_rows_per_side_at_decision"]
        if key != "rollback" or s["gap"] >= 0 or at is None:
            return text
        return f"{text} (median {at:,.0f} rows a side)"

    equal, worse, better = (scenarios[k] for k in ("equal", "worse by 0.05", "better by 0.05"))
    for mode in modes:
        low, high = equal["modes"][mode]["rollback_wilson95"]
        rows.append(
            f"| {mode} | {share(equal, mode, 'rollback')} ({low:.1%}-{high:.1%}) "
            f"| {share(equal, mode, 'promote')} | {share(worse, mode, 'rollback')} "
            f"| {share(better, mode, 'promote')} |"
        )
    facts = (
        f"Each pair: {data['requests']} requests of {data['rows_per_request']} rows routed half "
        f"to each side, a look every {data['step_requests']} requests ({data['looks']} looks, "
        f"labels of every request so far), default limits (min_labeled "
        f"{data['policy']['min_labeled']:,}, rollback_drop {data['policy']['rollback_drop']}, "
        f"margin {data['policy']['margin']}), {data['resamples']} bootstrap resamples; "
        "Wilson 95% interval of the false-rollback rate in brackets."
    )
    return "\n".join(rows) + "\n\n" + facts + "\n\n" + source(name, data)


def large_batch(name: str) -> str:
    """One very large request next to a health poll (no peer: the figures are loopml's)."""
    data = load(name)
    rows = ["| measured | value |", "| --- | --- |"]
    for c in data["comparisons"]:
        value = f"{int(c['loopml']):,}" if c["unit"] == "rows" else num(c["loopml"])
        rows.append(f"| {cell(c['scenario'])} | {value} {c['unit']} |")
    facts = (
        f"One `/predict/batch` request of {data['rows']:,} rows ({data['body_mb']} MB of JSON), "
        f"{data['health_polls']:,} health polls during it."
    )
    return "\n".join(rows) + "\n\n" + facts + "\n\n" + source(name, data)


def pipelines(name: str) -> str:
    """The executors, the cached re-run and the cost per step (the peer is in-process, or
    the goal)."""
    data = load(name)
    s, overlap = data["seconds"], data["branch_overlap_s"]
    facts = (
        f"Called directly, one after the other, the four functions take {num(s['direct'])} s "
        f"(the branches {num(s['forest_s'])} s and {num(s['boosting_s'])} s). The two "
        f"branches ran at the same time for {num(overlap['ray'])} s on Ray and "
        f"{num(overlap['process'])} s on the process pool ({num(overlap['inprocess'])} s "
        f"in-process), by the workers' clocks. Starting the local Ray took "
        f"{num(s['ray_start'])} s (not in the figures)."
    )
    return comparisons_table(data, "peer") + "\n\n" + facts + "\n\n" + source(name, data)


def renderer(name: str) -> Callable[[], str]:
    """The function rendering block ``name``."""
    stage = name.removesuffix(".quick")
    suffix = ".quick" if name.endswith(".quick") else ""
    table: dict[str, Callable[[], str]] = {
        "tracking": generic(name, "MLflow"),
        "server": generic(name, "MLflow"),
        "data": generic(name, "pandas"),
        "data_wide": generic(name, "the code before (be40b59)"),
        "registry": lambda: registry(name),
        "evaluation": generic(name, "scikit-learn loop"),
        "serving": lambda: serving(name),
        "serving_ablations": lambda: ablations(name),
        "serving_soak": lambda: soak(name),
        "oip_binary": generic(name, "JSON tensors"),
        "explain": generic(name, "predict"),
        "monitoring_window": lambda: monitoring_window(name),
        "monitoring_census": lambda: monitoring_census(name),
        "monitoring": lambda: monitoring(name),
        "live_compare_noise": lambda: live_compare_noise(name),
        "serving_large_batch": lambda: large_batch(name),
        "pipelines": lambda: pipelines(name),
        "ui": generic(name, "peer"),
        "ui_deployments": generic(name, "read_log + pandas"),
        "readme": lambda: readme(suffix),
    }
    if stage not in table:
        raise SystemExit(f"no renderer for the figures block {name!r}; known: {sorted(table)}")
    return table[stage]


def render(text: str) -> str:
    """``text`` with every figures block rendered again from its result file(s)."""

    def one(match: re.Match[str]) -> str:
        return match.group(1) + renderer(match.group(2))() + "\n" + match.group(4)

    return BLOCK.sub(one, text)


def blocks(text: str) -> list[tuple[str, str]]:
    """The (name, body) of every figures block in ``text``."""
    return [(m.group(2), m.group(3)) for m in BLOCK.finditer(text)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only say whether docs are current")
    args = parser.parse_args()
    stale = []
    for path in DOCS:
        text = path.read_text()
        new = render(text)
        if new != text:
            stale.append(path)
            if not args.check:
                path.write_text(new)
    for path in stale:
        print(f"{'stale' if args.check else 'rendered'}: {path.relative_to(ROOT)}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
