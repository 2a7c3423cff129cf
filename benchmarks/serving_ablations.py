"""Serving ablations: each speed-up of ``loopml serve`` that docs/benchmarks.md names, measured
with and without it in one run (``results/serving_ablations.json``).

The model of ``serving.py`` (``serving_model.py``: 250,000 training rows, 20,000 with --quick),
registered in a temp loopml store and exported to ONNX (checked on 2,000 held-out rows).

In process, median of one row (500 calls, 200 with --quick, after 30 warm-up calls):

1. ONNX: one run of the graph for labels and probabilities (``predict_with_proba``, what the
   server does) vs two runs (``predict`` then ``predict_proba``);
2. the signature check of one JSON record (``LoadedModel.prepare``): the quick path for a few
   clean JSON rows vs the general path (the same enforcer with its quick path switched off).

Over HTTP, three servers built by ``serve_variant.py`` exactly as ``loopml serve --workers 1``
builds them (defaults: the ONNX export, micro-batching, prediction log on), each with one thing
changed:

* ``baseline``: nothing (httptools + uvloop, which uvicorn picks when installed; gc.freeze);
* ``h11-asyncio``: uvicorn's pure-Python HTTP parser (h11) and asyncio's event loop;
* ``no-gc-freeze``: the start-up heap is not frozen out of the garbage collector's sight.

3. 1-row requests, sequential (the Python client, servers taking turns in chunks of 50):
   p50/p99 latency;
4. 1-row requests, 32 concurrent connections for 20 s per server (3 s with --quick), in rounds
   that take turns between servers: with wrk (C; 2 threads) and with the Python client; the
   rounds' median requests/s and p99.

Usage: python benchmarks/serving_ablations.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import wrk
from harness import Comparison, print_table, write_results
from serving_client import Target, check_answers, keep_busy, sequential
from serving_model import COLUMNS, MS, NAME, median_of, native_rows, pct, set_up, summarize
from serving_servers import serve_env, servers, variant_cmd

#: The servers: their name and what ``serve_variant.py`` switches off.
VARIANTS = {
    "baseline": [],
    "h11-asyncio": ["--http", "h11", "--loop", "asyncio"],
    "no-gc-freeze": ["--no-freeze"],
}


def in_process(home: Path, x: Any, calls: int) -> dict[str, float]:
    """Median ms of one row: ONNX one run vs two, the signature's quick path vs general."""
    from loopml import LoopmlClient

    models = LoopmlClient(home=home).models
    records = [[dict(zip(COLUMNS, row, strict=True))] for row in native_rows(x.iloc[:calls])]
    onnx = models.load(f"{NAME}@champion", runtime="onnx")
    frames = [onnx.prepare(r) for r in records]
    raw = onnx.raw
    general = copy.copy(onnx._enforcer)  # the same rules, its quick path switched off
    general._quick = lambda data: None
    return {
        "onnx_one_run_ms": median_of(raw.predict_with_proba, frames) * MS,
        "onnx_two_runs_ms": median_of(lambda f: (raw.predict(f), raw.predict_proba(f)), frames)
        * MS,
        "signature_quick_ms": median_of(onnx.prepare, records) * MS,
        "signature_general_ms": median_of(general.enforce, records) * MS,
    }


def concurrency(
    targets: dict[str, Target], *, clients: int, seconds: float, rounds: int
) -> dict[str, dict[str, dict[str, Any]]]:
    """Per load generator and server: each round's figures and their medians."""
    out: dict[str, dict[str, dict[str, Any]]] = {
        tool: {name: {"rounds": []} for name in targets} for tool in ("wrk", "python")
    }
    for _ in range(rounds):
        for name, target in targets.items():
            wrk.run(target.url, target.path, target.singles[:50], clients=clients, seconds=1)
            got = wrk.run(target.url, target.path, target.singles, clients=clients, seconds=seconds)
            out["wrk"][name]["rounds"].append(got)
            raw = asyncio.run(keep_busy(target, clients, seconds))
            lat = raw["latencies"]
            out["python"][name]["rounds"].append(
                {
                    "rps": len(lat) / raw["wall_s"],
                    "p50_ms": pct(lat, 50) * MS,
                    "p99_ms": pct(lat, 99) * MS,
                    "errors": raw["errors"],
                    "client_cpu_share": raw["client_cpu_s"] / raw["wall_s"],
                }
            )
    for tool in out.values():
        for figures in tool.values():
            for key in ("rps", "p50_ms", "p99_ms"):
                figures[key] = statistics.median(r[key] for r in figures["rounds"])
    return out


def comparisons(
    limits: dict[str, float],
    seq: dict[str, dict[str, float]],
    conc: dict[str, dict[str, dict[str, Any]]],
    sizes: dict[str, Any],
) -> list[Comparison]:
    """Each speed-up: loopml with it ("loopml") vs without it ("peer")."""
    c = sizes["clients"]
    out = [
        Comparison(
            "ONNX: one run of the graph for labels + probabilities vs two, 1 row",
            "ms",
            limits["onnx_one_run_ms"],
            limits["onnx_two_runs_ms"],
            "two runs",
            False,
        ),
        Comparison(
            "signature check of 1 JSON record: quick path vs general path",
            "ms",
            limits["signature_quick_ms"],
            limits["signature_general_ms"],
            "general path",
            False,
        ),
    ]
    for off, what in (("h11-asyncio", "httptools + uvloop vs h11 + asyncio"),
                      ("no-gc-freeze", "gc.freeze after start-up vs none")):  # fmt: skip
        out.append(
            Comparison(
                f"{what}: 1-row requests, sequential, p50",
                "ms",
                seq["baseline"]["p50_ms"],
                seq[off]["p50_ms"],
                off,
                False,
                note=f"p99 {seq['baseline']['p99_ms']:.2f} ms vs {seq[off]['p99_ms']:.2f} ms",
            )
        )
        for tool in ("wrk", "python"):
            on, no = conc[tool]["baseline"], conc[tool][off]
            out.append(
                Comparison(
                    f"{what}: {c} connections ({tool}), p99",
                    "ms",
                    on["p99_ms"],
                    no["p99_ms"],
                    off,
                    False,
                    note=f"{on['rps']:,.0f} req/s vs {no['rps']:,.0f} req/s; "
                    f"p50 {on['p50_ms']:.1f} ms vs {no['p50_ms']:.1f} ms",
                    extra={"rps": on["rps"], "peer_rps": no["rps"]},
                )
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    args = parser.parse_args()
    sizes = (
        {"train_rows": 20_000, "single": 300, "seconds": 3.0, "rounds": 1, "calls": 200}
        if args.quick
        else {"train_rows": 250_000, "single": 1000, "seconds": 20.0, "rounds": 4, "calls": 500}
    )
    sizes |= {"clients": 32, "wrk_threads": 2}
    with tempfile.TemporaryDirectory(prefix="loopml-bench-ablations-") as tmp:
        root = Path(tmp)
        setup = set_up(root, sizes["train_rows"], mlflow=False, calls=sizes["calls"])
        if not setup.onnx.get("exported"):
            raise SystemExit(f"the ONNX export failed: {setup.onnx}")
        print("... in-process ablations", flush=True)
        limits = in_process(setup.home, setup.x_test, sizes["calls"])
        logs = root / "server-logs"
        logs.mkdir()
        specs = [
            (name, lambda port, extra=extra: variant_cmd(port, extra), "/v2/health/ready")
            for name, extra in VARIANTS.items()
        ]
        singles = native_rows(setup.x_test.iloc[:1000])
        with servers(specs, serve_env(setup.home, "sqlite://"), logs) as running:
            targets = {n: Target.of(s, singles, []) for n, s in running.items()}
            check_answers(targets, setup.model, setup.x_test)
            print("... sequential single-row requests", flush=True)
            single = sequential(targets, kind="single", requests=sizes["single"])
            print(f"... {sizes['clients']} connections: wrk and the Python client", flush=True)
            conc = concurrency(
                targets,
                clients=sizes["clients"],
                seconds=sizes["seconds"] / sizes["rounds"],
                rounds=sizes["rounds"],
            )
    seq = {name: summarize(v) for name, v in single.items()}
    table = comparisons(limits, seq, conc, sizes)
    extra = {
        "sizes": sizes,
        "variants": VARIANTS,
        "wrk": wrk.version(),
        "in_process_1_row_median_ms": limits,
        "sequential_single_row": seq,
        "concurrent_single_row": conc,
    }
    path = write_results("serving_ablations", table, quick=args.quick, extra=extra)
    print_table("serving ablations (with vs without each speed-up)", table)
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
