"""Monitoring with delayed labels on NannyML's census employment data: realized and label-free
performance per year, and how close the estimate stays to the realized value.

Scenario (the one tests/health/test_census.py asserts on): a gradient-boosted classifier of
``employed`` trained on half of 2015, the other half registered as its validation data (the
estimate's calibration). 15,000 rows of each of 2016, 2017 and 2018 are logged through
``loopml.monitoring.log_predictions`` with event times within their year, labels arrive for
2016-2017 only (``log_labels``), and ``loopml.monitor(model, window="1y")`` reads the log.

Then the estimate's noise: for ``--seeds`` samples of ``--per-year`` rows of each year, the
label-free estimate (the monitor's own functions, calibrated on the validation half) against
the realized value on the same rows: the largest gap, and how often and how far the realized
value falls outside the estimate's 95% interval. Not timed against a peer (the NannyML
comparison belongs to benchmarks/monitoring.py).

Needs the data files: pip install --no-deps nannyml==0.13.1 (in the dev venv).
Usage: python benchmarks/monitoring_census.py [--per-year 15000] [--seeds 20]
Results: benchmarks/results/monitoring_census.json (rendered into docs/monitoring.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from harness import write_results
from loopml.examples.census import (
    FEATURES,
    ID,
    TARGET,
    YEAR,
    CensusData,
    classifier,
    load_census,
    times_within_years,
)
from loopml.health.performance import calibrate, estimated, realized

LABELED_YEARS = (2016, 2017)
METRICS = ("roc_auc", "accuracy")


def _metric(m: Any) -> dict[str, float | None]:
    return {"value": m.value, "low": m.low, "high": m.high}


def the_loop(data: CensusData, train: pd.DataFrame, validation: pd.DataFrame, per_year: int) -> Any:
    """The logged-predictions loop through the SDK in a temporary store; per-year figures."""
    import loopml
    import loopml.datasets
    import loopml.models
    import loopml.monitoring

    home = tempfile.mkdtemp(prefix="loopml-census-")
    for var in [k for k in os.environ if k.startswith("LOOPML_")]:
        del os.environ[var]
    os.environ["LOOPML_HOME"] = str(Path(home) / ".loopml")
    os.environ["LOOPML_CAPTURE_ENV"] = "false"
    model = classifier().fit(train[list(FEATURES)], train[TARGET])
    columns = [*FEATURES, TARGET]
    version = loopml.models.register(
        model,
        "employment",
        input_example=train[list(FEATURES)].head(),
        training_data=loopml.datasets.register("census-2015-train", train[columns], target=TARGET),
        validation_data=loopml.datasets.register(
            "census-2015-validation", validation[columns], target=TARGET
        ),
    )
    loopml.models.approve(version.ref, comment="benchmark")
    loopml.models.set_alias("employment", "champion", version.version)
    analysis = (
        data.analysis.groupby(YEAR, group_keys=False)
        .sample(per_year, random_state=1)
        .reset_index(drop=True)
    )
    analysis["at"] = times_within_years(analysis[YEAR], np.random.default_rng(0))
    analysis = analysis.merge(data.labels, on=ID, validate="one_to_one")
    inputs = analysis[list(FEATURES)]
    loopml.monitoring.log_predictions(
        "employment@champion",
        inputs,
        model.predict(inputs),
        ids=analysis[ID],
        probabilities=model.predict_proba(inputs),
        timestamps=analysis["at"],
    )
    arrived = analysis[analysis[YEAR].isin(LABELED_YEARS)]
    loopml.monitoring.log_labels("employment@champion", arrived[ID], arrived[TARGET])
    started = time.perf_counter()
    report = loopml.monitor("employment@champion", window="1y")
    seconds = time.perf_counter() - started
    years = []
    for w in report.windows:
        years.append(
            {
                "year": int(w.start[:4]),
                "rows": w.rows,
                "label_coverage": w.label_coverage,
                "realized": {m: _metric(w.performance[m]) for m in METRICS},
                "estimated": {m: _metric(w.estimated[m]) for m in METRICS},
                "drifted": list(w.drifted_features),
                "largest_drift": max(
                    ((n, f.test, f.statistic) for n, f in w.features.items()),
                    key=lambda t: t[2] or 0.0,
                ),
                "domain_auc": w.multivariate.auc if w.multivariate else None,
                "concept_drift": w.concept_drift.detected if w.concept_drift else None,
            }
        )
        print(years[-1])
    return model, years, seconds, report.calibration


def noise(
    data: CensusData, model: Any, validation: pd.DataFrame, per_year: int, seeds: int
) -> dict[str, Any]:
    """The estimate against the realized value on repeated samples of each year."""
    scores = model.predict_proba(validation[list(FEATURES)])[:, 1]
    calibrated = calibrate(validation[TARGET].to_numpy(), scores, "validation half of 2015")
    analysis = data.analysis.merge(data.labels, on=ID, validate="one_to_one")
    analysis["score"] = model.predict_proba(analysis[list(FEATURES)])[:, 1]
    gaps: dict[str, list[float]] = {m: [] for m in METRICS}
    outside: list[float] = []
    for seed in range(seeds):
        for _, year in analysis.groupby(YEAR):
            rows = year.sample(per_year, random_state=seed)
            s, y = rows["score"].to_numpy(), rows[TARGET].to_numpy()
            est, real = estimated(calibrated, s), realized(y, s, seed=seed)
            for m in METRICS:
                e, r = est[m], real[m].value
                assert e.value is not None and e.low is not None and e.high is not None
                assert r is not None
                gaps[m].append(abs(e.value - r))
                outside.append(max(e.low - r, r - e.high, 0.0))
    out = np.asarray(outside)
    return {
        "samples": len(outside) // len(METRICS),
        "seeds": seeds,
        "max_gap": {m: float(np.max(v)) for m, v in gaps.items()},
        "p95_gap": {m: float(np.quantile(v, 0.95)) for m, v in gaps.items()},
        "outside_interval": int((out > 0).sum()),
        "checked": int(out.size),
        "max_outside": float(out.max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-year", type=int, default=15_000, help="rows logged per year")
    parser.add_argument("--seeds", type=int, default=20, help="samples per year (noise study)")
    parser.add_argument("--quick", action="store_true", help="5,000 rows per year, 5 seeds")
    args = parser.parse_args()
    if args.quick:
        args.per_year, args.seeds = 5_000, 5
    data = load_census()
    train = data.reference.sample(frac=0.5, random_state=0)
    validation = data.reference.drop(train.index)
    model, years, seconds, calibration = the_loop(data, train, validation, args.per_year)
    study = noise(data, model, validation, args.per_year, args.seeds)
    print(study)
    extra = {
        "per_year": args.per_year,
        "train_rows": len(train),
        "validation_rows": len(validation),
        "labeled_years": list(LABELED_YEARS),
        "calibration": calibration,
        "monitor_seconds": round(seconds, 2),
        "years": years,
        "noise": study,
    }
    path = write_results("monitoring_census", [], quick=args.quick, extra=extra)
    print(f"results written to {path}")


if __name__ == "__main__":
    main()
