"""Web UI benchmark: the runs page of an experiment with 10,000 runs (issue 19: "renders in
under a second here").

An embedded store gets 10,000 finished runs (10 params and 10 metrics each, as a sweep
writes them); ``loopml ui`` serves it on 127.0.0.1. Measured:

1. the HTML of ``/experiments/NAME/runs`` over HTTP (median of 20 after a warm-up): the
   first page (50 runs, newest first), sorted by a metric, filtered and sorted, a deep page
   (page 150), and 500 runs on one page;
2. the same first page and the sorted one in headless chromium (Debian's package): from
   navigation start to the load event, the page's CSS and JS included (median of 10).

No peer: MLflow's UI draws its runs table in the browser from its search API, so its figure
is another thing to measure; the tracking benchmark compares the searches themselves.

Usage: python benchmarks/ui.py [--quick]   (writes results/ui.json)
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from harness import Comparison, median_seconds, print_table, write_results

EXPERIMENT = "ui-bench"
CHROMIUM = "/usr/bin/chromium"


def fill(home: Path, runs: int) -> float:
    """``runs`` finished runs with 10 params and 10 metrics each; returns the seconds taken."""
    from loopml import LoopmlClient
    from loopml.core.entities import MetricPoint

    rng = random.Random(7)
    client = LoopmlClient(home=home)
    start = time.perf_counter()
    for i in range(runs):
        run = client.start_run(EXPERIMENT, name=f"trial-{i:05d}", capture=False)
        client.log_batch(
            run.run_id,
            params={f"p{k}": f"v{rng.randrange(5)}" for k in range(10)},
            metrics=[MetricPoint(f"m{k}", rng.random(), 0, 1_700_000_000_000) for k in range(10)],
        )
        run.end()
    return time.perf_counter() - start


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    """``loopml ui`` over ``home`` on a free port; returns the process and its URL."""
    import httpx

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["LOOPML_HOME"] = str(home)
    process = subprocess.Popen(
        [sys.executable, "-m", "loopml", "ui", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v1/health").status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("loopml ui did not start")


PAGES = {
    "first page (50 runs, newest first)": "",
    "sorted by a metric": "?sort=metrics.m3&order=desc",
    "filtered and sorted": "?filter=metrics.m0+%3E+0.5+and+params.p1+%3D+%27v1%27"
    "&sort=metrics.m2&order=desc",
    "page 150 (offset 7,450)": "?page=150",
    "500 runs on one page": "?per_page=500",
}


def bench_http(url: str, runs: int, repeats: int) -> list[Comparison]:
    import httpx

    found = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for name, suffix in PAGES.items():
            label, query = name, suffix
            if "page 150" in name and runs < 7_500:  # --quick: the last full page
                label = f"page {runs // 50 - 1} (offset {(runs // 50 - 2) * 50:,})"
                query = f"?page={runs // 50 - 1}"
            path = f"/experiments/{EXPERIMENT}/runs{query}"

            def get(path: str = path) -> None:
                answer = client.get(path)
                answer.raise_for_status()

            seconds = median_seconds(get, repeats, warmup=2)
            size = len(client.get(path).content)
            found.append(
                Comparison(
                    scenario=f"runs page HTML, {runs:,} runs: {label}",
                    unit="ms",
                    loopml=seconds * 1000,
                    peer=None,
                    peer_name="-",
                    higher_is_better=False,
                    note=f"median of {repeats} over HTTP; {size / 1000:.0f} KB of HTML",
                    extra={"path": path, "bytes": size, "under_1s": seconds < 1.0},
                )
            )
    return found


def bench_browser(url: str, runs: int, repeats: int) -> list[Comparison]:
    from playwright.sync_api import sync_playwright

    found = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for label in ("first page (50 runs, newest first)", "sorted by a metric"):
            target = f"{url}/experiments/{EXPERIMENT}/runs{PAGES[label]}"
            times: list[float] = []
            for i in range(repeats + 1):
                page.goto(target, wait_until="load")
                timing: Any = page.evaluate(
                    "() => { const t = performance.getEntriesByType('navigation')[0];"
                    " return t.loadEventEnd - t.startTime; }"
                )
                if i:  # the first load warms the browser's cache of CSS and JS
                    times.append(float(timing))
            rows = page.locator("#runs tbody tr").count()
            ms = statistics.median(times)
            found.append(
                Comparison(
                    scenario=f"runs page in chromium, {runs:,} runs: {label}",
                    unit="ms",
                    loopml=ms,
                    peer=None,
                    peer_name="-",
                    higher_is_better=False,
                    note=f"navigation start to load event, median of {repeats}; {rows} rows",
                    extra={"under_1s": ms < 1000, "rows": rows},
                )
            )
        browser.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    runs = 1_000 if args.quick else 10_000
    with tempfile.TemporaryDirectory(prefix="loopml-bench-ui-") as tmp:
        home = Path(tmp) / ".loopml"
        print(f"... filling {runs:,} runs", flush=True)
        fill_seconds = fill(home, runs)
        process, url = serve(home)
        try:
            print("... HTTP", flush=True)
            comparisons = bench_http(url, runs, repeats=20)
            print("... chromium", flush=True)
            comparisons += bench_browser(url, runs, repeats=10)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)
    extra = {"sizes": {"runs": runs, "params": 10, "metrics": 10}, "fill_seconds": fill_seconds}
    path = write_results("ui", comparisons, quick=args.quick, extra=extra)
    print_table("ui (the runs page)", comparisons)
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
