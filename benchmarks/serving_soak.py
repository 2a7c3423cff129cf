"""Serving soak: does ``loopml serve``'s memory stay bounded under load? (``make bench`` runs
it after ``serving.py``; its figures are in ``results/serving_soak.json``.)

The model of ``serving.py`` (``serving_model.py``; 20,000 training rows with --quick), served by
``loopml serve late@champion`` with its defaults (the checked ONNX export, micro-batching,
prediction log on, compacted into the log store every 60 s). 32 kept-alive clients (the Python
client) keep it busy for ``--seconds`` in 5 s rounds; after each round the server's resident
memory (RSS, from /proc) and the requests/s are recorded, with the RSS before the first
request. Memory must not grow with the requests answered: it rises at the first log compaction
(pyarrow and Parquet loaded) and must stay level after it.

Usage: python benchmarks/serving_soak.py [--quick] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from harness import write_results
from serving_client import Target, check_answers, keep_busy
from serving_model import native_rows, set_up
from serving_servers import loopml_cmd, rss_mb, serve_env, servers

CLIENTS = 32
ROUND_S = 5.0


def soak(target: Target, pid: int, clients: int, seconds: float) -> list[dict[str, Any]]:
    """``clients`` connections on one server for ``seconds``, in 5 s rounds: requests/s and
    the server's RSS after each."""
    rounds = [{"elapsed_s": 0.0, "rps": None, "requests": 0, "rss_mb": rss_mb(pid)}]
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        got = asyncio.run(keep_busy(target, clients, ROUND_S))
        rounds.append(
            {
                "elapsed_s": round(time.perf_counter() - start, 1),
                "rps": len(got["latencies"]) / got["wall_s"],
                "requests": len(got["latencies"]),
                "errors": got["errors"],
                "rss_mb": rss_mb(pid),
            }
        )
        print(f"    {rounds[-1]}", flush=True)
    return rounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 training rows, 70 s")
    parser.add_argument("--seconds", type=float, default=None, help="how long (default 150)")
    args = parser.parse_args()
    seconds = args.seconds or (70.0 if args.quick else 150.0)
    sizes = {"train_rows": 20_000 if args.quick else 250_000, "clients": CLIENTS}
    sizes |= {"seconds": seconds, "round_s": ROUND_S, "compact_interval_s": 60}
    with tempfile.TemporaryDirectory(prefix="loopml-bench-soak-") as tmp:
        root = Path(tmp)
        setup = set_up(root, sizes["train_rows"], mlflow=False)
        logs = root / "server-logs"
        logs.mkdir()
        env = serve_env(setup.home, "sqlite://")
        specs = [("loopml", lambda port: loopml_cmd(port, []), "/v2/health/ready")]
        with servers(specs, env, logs) as running:
            server = running["loopml"]
            target = Target.of(server, native_rows(setup.x_test.iloc[:1000]), [])
            check_answers({"loopml": target}, setup.model, setup.x_test)
            print(f"... soak: {CLIENTS} clients for {seconds:g} s", flush=True)
            rounds = soak(target, server.process.pid, CLIENTS, seconds)
    rss = [r["rss_mb"] for r in rounds if r["rss_mb"] is not None]
    summary = {
        "rss_start_mb": rss[0],
        "rss_peak_mb": max(rss),
        "rss_end_mb": rss[-1],
        "requests": sum(r["requests"] for r in rounds),
        "rps_min": min(r["rps"] for r in rounds[1:]),
        "rps_max": max(r["rps"] for r in rounds[1:]),
    }
    extra = {
        "sizes": sizes,
        "default_runtime": "onnx" if setup.onnx.get("exported") else "native",
        "rounds": rounds,
        "summary": summary,
    }
    path = write_results("serving_soak", [], quick=args.quick, extra=extra)
    print(f"RSS {summary['rss_start_mb']} MB at the start, peak {summary['rss_peak_mb']} MB, ")
    print(f"{summary['rss_end_mb']} MB at the end; results written to {path}")


if __name__ == "__main__":
    main()
