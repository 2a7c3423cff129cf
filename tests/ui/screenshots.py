"""The screenshots in docs/ui.md: the browser tests' store and server, a few pages in chromium.

Usage: ``python -m tests.ui.screenshots docs/img/ui`` (from the repository's root; needs
``make chromium``). It fills a fresh store with :mod:`tests.ui.fill_store`, serves it with
``loopml ui`` and saves one PNG per page named in :data:`PAGES`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
from playwright.sync_api import sync_playwright

from tests.rest.live_server import free_port
from tests.ui.conftest import CHROMIUM, ROOT


def _pages(facts: dict[str, object]) -> dict[str, str]:
    runs = facts["runs"]
    assert isinstance(runs, list)
    sweep = [r["run_id"] for r in runs if str(r["name"]).startswith("sweep")]
    return {
        "runs": f"/experiments/{facts['experiment']}/runs?sort=metrics.auc&order=desc",
        "run": f"/runs/{sweep[0][:8]}",
        "compare": f"/compare?runs={sweep[0][:8]},{sweep[5][:8]},{sweep[10][:8]}",
        "version": f"/models/{facts['model']}/2",
        "card": f"/models/{facts['model']}/2/card",
        "dataset": f"/datasets/{str(facts['dataset']).replace('@', '/')}",
        "events": "/events",
    }


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="loopml-shots-") as tmp:
        root = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
        env |= {"LOOPML_HOME": str(root / ".loopml"), "PYTHONPATH": str(ROOT)}
        facts_path = root / "facts.json"
        fill = [sys.executable, "-m", "tests.ui.fill_store", str(facts_path)]
        subprocess.run(fill, env=env, cwd=root, check=True)
        facts = orjson.loads(facts_path.read_bytes())
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "loopml", "ui", "--port", str(port)],
            env=env,
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{url}/api/v1/health")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM)
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                for name, path in _pages(facts).items():
                    page.goto(f"{url}{path}", wait_until="networkidle")
                    page.screenshot(path=out / f"{name}.png")
                    print(f"{out / name}.png")
                browser.close()
        finally:
            server.terminate()
            server.wait(30)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
