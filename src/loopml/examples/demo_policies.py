"""The demo's two loop policies, and the export that fools the second one.

- ``late-retrain`` (:func:`retrain_policy`): when monitoring's ``accuracy-fell`` alert fires,
  retrain on the labeled prediction log of the last 90 days (``train.data.from_log``: about
  two months of labeled traffic, since labels come four weeks late), gate the challenger on
  the latest labeled holdout of recent flights against the champion, release it as a 50%
  canary, and promote it once the live evidence shows it no worse than the champion.
- ``late-export`` (:func:`export_policy`): when a new version of dataset ``flights-export``
  arrives, train on it, gate on ``flights-export-holdout@latest``, canary it the same way.

:func:`bad_export` builds the export that passes the offline gate and loses live: an extract
of August-September in which, by a filter upstream, only flights that left on time remain
(``dep_delay <= 0``), with a holdout cut from the same extract. On such flights the model
trained on it is as accurate as the champion (the gate passes), but it never saw a delayed
departure, so live, where a quarter of flights leave late, it calls most late arrivals on
time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from loopml.examples.demo_champion import DEPLOYMENT, MODEL, RESAMPLES

if TYPE_CHECKING:
    import pandas as pd

TRAINING = "loopml.examples.flights_training:train"
#: The gate of every retrained challenger: accurate on the holdout, and (paired, with a
#: bootstrap interval) no worse than the champion on the same rows.
LOOP_GATE: dict[str, Any] = {
    "name": "retrain-release",
    "rules": [
        {"metric": "accuracy", "min": 0.85, "use": "low"},
        {"metric": "accuracy", "no_worse_than_baseline_by": 0.02},
    ],
}
#: How a challenger goes live and what decides it (the same for both policies): half of the
#: requests on the canary; promoted when its accuracy's interval versus the champion's (on
#: the same weeks of traffic, labels joined) clears -0.03 with 6,000 labeled rows; rolled
#: back as soon as the whole interval is below -0.02.
RELEASE: dict[str, Any] = {
    "release": {"mode": "canary", "share": 50},
    "promote": {"min_labeled": 6000, "metric": "accuracy", "margin": 0.03},
    "rollback": {"metric_drop": 0.02, "max_error_rate": 0.02},
}


def retrain_policy(params: dict[str, Any]) -> dict[str, Any]:
    """The ``late-retrain`` policy (alert trigger, training data from the prediction log),
    training with the champion's hyperparameters ``params``."""
    return {
        "name": "late-retrain",
        "model": MODEL,
        "deployment": DEPLOYMENT,
        "triggers": [{"alert": {"rule": "accuracy-fell"}}],
        "train": {"pipeline": TRAINING, "params": params, "data": {"from_log": {"last": "90d"}}},
        "evaluate": {
            "datasets": ["flights-recent@latest"],
            "gate": LOOP_GATE,
            "resamples": RESAMPLES,
        },
        **RELEASE,
    }


def export_policy(params: dict[str, Any]) -> dict[str, Any]:
    """The ``late-export`` policy (a new version of ``flights-export`` triggers it)."""
    return {
        "name": "late-export",
        "model": MODEL,
        "deployment": DEPLOYMENT,
        "triggers": [{"dataset": "flights-export"}],
        "train": {"pipeline": TRAINING, "params": params, "data": "flights-export@latest"},
        "evaluate": {
            "datasets": ["flights-export-holdout@latest"],
            "gate": LOOP_GATE,
            "resamples": RESAMPLES,
        },
        **RELEASE,
    }


def bad_export(flights: pd.DataFrame, *, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The flawed export of August-September (see the module docstring): ``(train,
    holdout)``, only flights with ``dep_delay <= 0``, none of them in ``flights``' traffic
    sample passed by the caller's choice of rows."""
    rows = flights[flights["month"].isin([8, 9]) & (flights["dep_delay"] <= 0)]
    rows = rows.sample(min(9_000, len(rows)), random_state=seed)
    holdout = rows.sample(frac=0.3, random_state=seed + 1)
    return rows.drop(holdout.index), holdout
