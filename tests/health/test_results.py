"""Stored monitor runs: every run with a store is kept (one row per window, a ``monitor.run``
event linking it, the report's ``run_id``), on SQLite and PostgreSQL; ``store=False`` and runs
without a store keep nothing; the SDK and the service take the same keywords."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import pytest

from loopml.core.errors import InvalidArgumentError
from loopml.core.settings import Settings
from loopml.health import MonitorService
from loopml.health.results import RUN_EVENT, list_results, parse_since
from loopml.store.backend import open_backend

RULES = [{"name": "shifted", "when": "dataset_drift", "sinks": [], "cooldown": 0}]


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(3)
    n = 2_000
    reference = pd.DataFrame(
        {"amount": rng.lognormal(size=n), "kind": rng.choice(["a", "b"], size=n, p=[0.7, 0.3])}
    )
    current = pd.DataFrame(
        {"amount": rng.lognormal(size=n), "kind": rng.choice(["a", "b"], size=n, p=[0.7, 0.3])}
    )
    current.loc[1_000:, "amount"] *= 3  # the second window drifts
    return {"reference": reference, "current": current}


class Clock:
    def __init__(self, at: int) -> None:
        self.at = at

    def __call__(self) -> int:
        return self.at


def test_every_run_with_a_store_is_kept(
    settings: Settings, frames: dict[str, pd.DataFrame]
) -> None:
    backend = open_backend(settings)
    t0 = 1_700_000_000_000
    reports = [
        MonitorService(backend, clock=Clock(t0 + i)).monitor(
            current=frames["current"],
            reference=frames["reference"],
            window=1000,
            multivariate=False,
            alerts=RULES,
        )
        for i in range(2)
    ]
    assert all(r.run_id is not None for r in reports) and reports[0].run_id != reports[1].run_id
    stored = backend.monitor_results.list_results()
    assert [(r.run_id, r.window.index) for r in stored] == [
        (reports[1].run_id, 1),
        (reports[1].run_id, 0),
        (reports[0].run_id, 1),
        (reports[0].run_id, 0),
    ]
    latest = stored[0]
    assert latest.subject == "data:a DataFrame" and latest.model is None
    assert latest.window == reports[1].windows[1]  # the whole window, as the run found it
    assert latest.start_ms is None and latest.created_at == t0 + 1  # count windows
    assert [a.rule for a in latest.alerts] == ["shifted"] and stored[1].alerts == ()
    events = backend.events.list_events(kind=RUN_EVENT)
    assert [e.links["monitor_run"] for e in events] == [r.run_id for r in reports]
    assert events[0].subject == "data:a DataFrame"
    assert events[0].data["drifted_windows"] == [1] and events[0].data["alerts"] == ["shifted"]
    assert events[0].data["windows"] == 2
    # --since and --limit of `loopml monitor show`
    assert len(list_results(backend.monitor_results, since=t0 + 1)) == 2
    assert len(list_results(backend.monitor_results, "data:a DataFrame", limit=3)) == 3
    assert list_results(backend.monitor_results, "credit") == []


def test_store_false_and_no_store_keep_nothing(
    settings: Settings, frames: dict[str, pd.DataFrame]
) -> None:
    backend = open_backend(settings)
    report = MonitorService(backend).monitor(
        current=frames["current"], reference=frames["reference"], multivariate=False, store=False
    )
    assert report.run_id is None and backend.monitor_results.list_results() == []
    assert backend.events.list_events(kind=RUN_EVENT) == []
    alone = MonitorService(None).monitor(
        current=frames["current"], reference=frames["reference"], multivariate=False
    )
    assert alone.run_id is None and alone.to_dict()["run_id"] is None


def test_sdk_and_service_take_the_same_keywords() -> None:
    import loopml.monitoring

    def keywords(func: object) -> list[tuple[str, object]]:
        params = inspect.signature(func).parameters.values()  # type: ignore[arg-type]
        return [(p.name, p.default) for p in params if p.name != "self"]

    assert keywords(loopml.monitoring.monitor) == keywords(MonitorService.monitor)


def test_since_and_model_are_checked() -> None:
    now = 1_700_000_000_000
    assert parse_since("2h", now=now) == now - 7_200_000
    assert parse_since("2024-03-01", now=now) == 1_709_251_200_000
    with pytest.raises(InvalidArgumentError, match=r"--since 'yesterday' is neither a duration"):
        parse_since("yesterday", now=now)
    with pytest.raises(InvalidArgumentError, match=r"give the model's name \('credit'\)"):
        list_results(None, "credit@champion")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match=r"limit=0 must be at least 1"):
        list_results(None, limit=0)  # type: ignore[arg-type]
