"""Run every stage benchmark (``make bench``; ``--quick`` for small sizes) and print a summary."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
#: Modules here that are parts of the stages (or tools), not stage scripts.
PARTS = {
    "harness",
    "monitoring_drift_side",
    "monitoring_evidently",
    "monitoring_nannyml",
    "monitoring_side",
    "render_docs",
    "run_all",
    "serve_variant",
    "serving_client",
    "serving_inprocess",
    "serving_model",
    "serving_servers",
    "wrk",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    scripts = sorted(p for p in HERE.glob("*.py") if p.stem not in PARTS)
    failed = []
    for script in scripts:
        print(f"=== {script.stem}", flush=True)
        cmd = [sys.executable, str(script), *(["--quick"] if args.quick else [])]
        if subprocess.run(cmd, check=False).returncode != 0:
            failed.append(script.stem)
    print("\n=== summary (python benchmarks/render_docs.py puts the figures in the docs)")
    suffix = ".quick.json" if args.quick else ".json"
    for script in scripts:
        path = HERE / "results" / f"{script.stem}{suffix}"
        if not path.exists():
            continue
        for c in json.loads(path.read_text())["comparisons"]:
            ratio = f"{c['ratio']:.1f}x" if c["ratio"] else "-"
            verdict = {True: "ok", False: "BELOW TARGET", None: ""}[c["passed"]]
            print(f"{script.stem:10} {c['scenario']:70.70} {ratio:>9} {verdict}")
    if failed:
        print(f"benchmarks that crashed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
