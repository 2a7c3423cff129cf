"""Evidently's side of benchmarks/monitoring.py: its data drift preset on two Parquet files.

Runs in its own virtualenv (``.venv-evidently``, made by ``make bench``: Evidently 0.7 needs
pandas < 3), never in loopml's. Reads the reference and current Parquet files into pandas
(``monitoring_side.read_frame``, as every side), runs ``Report([DataDriftPreset()],
include_tests=True)`` with the columns' types declared, and prints one line ``RESULT {json}``
on stdout: the seconds of the run (from the frames in memory to the verdicts), the seconds of
the read, the memory (``monitoring_side.RunMemory``: resident when the run started, the peak
during the run, the process's peak) and per column Evidently's method, score, threshold and
verdict.

Usage: .venv-evidently/bin/python benchmarks/monitoring_evidently.py REF CUR
       --numeric n0,n1 --categorical c0,c1   (DO_NOT_TRACK=1 in the environment)
"""

from __future__ import annotations

import argparse
import json
import time
from importlib import metadata

from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

from monitoring_side import RunMemory, peak_mib, read_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference")
    parser.add_argument("current")
    parser.add_argument("--numeric", required=True, help="comma-separated column names")
    parser.add_argument("--categorical", required=True, help="comma-separated column names")
    args = parser.parse_args()
    numeric, categorical = args.numeric.split(","), args.categorical.split(",")

    start = time.perf_counter()
    reference = read_frame(args.reference)
    current = read_frame(args.current)
    read = time.perf_counter() - start
    after_read = peak_mib()

    memory = RunMemory()
    start = time.perf_counter()
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    snapshot = Report([DataDriftPreset()], include_tests=True).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
    result = snapshot.dict()
    seconds = time.perf_counter() - start
    used = memory.stop()

    columns: dict[str, dict[str, object]] = {}
    for metric in result["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            columns[config["column"]] = {
                "test": config["method"],
                "statistic": float(metric["value"]),
                "threshold": config["threshold"],
            }
    by_id = {m["id"]: m["config"].get("column") for m in result["metrics"]}
    for test in result["tests"]:
        column = by_id.get(test["metric_config"]["metric_id"])
        if column in columns:
            columns[column]["drifted"] = test["status"] == "FAIL"
    print(
        "RESULT "
        + json.dumps(
            {
                "side": "evidently",
                "seconds": seconds,
                "read_seconds": read,
                **used,
                "peak_mib_after_read": after_read,
                "columns": columns,
                "flagged": sorted(c for c, v in columns.items() if v.get("drifted")),
                "versions": {d: metadata.version(d) for d in ("evidently", "pandas", "numpy")},
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
