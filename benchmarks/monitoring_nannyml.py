"""NannyML's side of benchmarks/monitoring.py: its CBPE estimate on the same windows as loopml's.

Runs in its own virtualenv (``.venv-nannyml``, made by ``make bench``), never in loopml's.
Reads a labeled reference and the unlabeled analysis rows (Parquet, each with the model's
positive-class ``score`` and its prediction ``pred``), fits ``nannyml.CBPE`` (ROC AUC and
accuracy, binary classification, chunks of ``--chunk-size`` rows: loopml's windows) on the
reference, estimates the analysis rows and prints one line ``RESULT {json}`` on stdout: the
seconds of fit + estimate (from the frames in memory), the seconds of the import and the
read, the process's peak resident memory (MiB) and per chunk its rows and estimates.

Usage: .venv-nannyml/bin/python benchmarks/monitoring_nannyml.py REF ANALYSIS --chunk-size N
       (NML_DISABLE_USAGE_LOGGING=1 and DO_NOT_TRACK=1 in the environment)
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from importlib import metadata

start = time.perf_counter()
import nannyml  # noqa: E402

from monitoring_side import RunMemory, read_frame  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference")
    parser.add_argument("analysis")
    parser.add_argument("--chunk-size", type=int, required=True)
    args = parser.parse_args()

    start = time.perf_counter()
    reference = read_frame(args.reference)
    analysis = read_frame(args.analysis)
    read = time.perf_counter() - start

    # NannyML warns that a reference of few chunks gives loose alert thresholds: the
    # thresholds are not compared here, the estimates are
    warnings.filterwarnings("ignore", message="The resulting number of chunks is too low")
    memory = RunMemory()
    start = time.perf_counter()
    estimator = nannyml.CBPE(
        y_pred_proba="score",
        y_pred="pred",
        y_true="y",
        problem_type="classification_binary",
        metrics=["roc_auc", "accuracy"],
        chunk_size=args.chunk_size,
    )
    estimator.fit(reference)
    result = estimator.estimate(analysis).filter(period="analysis").to_df()
    seconds = time.perf_counter() - start
    used = memory.stop()

    chunks = [
        {
            "start": int(row[("chunk", "start_index")]),
            "end": int(row[("chunk", "end_index")]),
            "roc_auc": float(row[("roc_auc", "value")]),
            "accuracy": float(row[("accuracy", "value")]),
        }
        for _, row in result.iterrows()
    ]
    print(
        "RESULT "
        + json.dumps(
            {
                "side": "nannyml",
                "seconds": seconds,
                "read_seconds": read,
                "import_seconds": IMPORT_SECONDS,
                **used,
                "chunks": chunks,
                "versions": {d: metadata.version(d) for d in ("nannyml", "pandas", "numpy")},
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
