"""The runs table's pages on every backend (SQLite and PostgreSQL): counts, paging, order,
filters and their errors, and the allowed hosts a server answers to."""

from __future__ import annotations

import pytest

from loopml.api.rest.app import allowed_hosts_for
from loopml.core.entities import MetricPoint
from loopml.core.errors import InvalidArgumentError
from loopml.core.settings import Settings
from loopml.store.backend import open_backend
from loopml.tracking import TrackingService
from loopml.ui.runs_table import runs_page


@pytest.fixture
def tracking(settings: Settings) -> TrackingService:
    service = TrackingService(open_backend(settings))
    for i in range(23):
        run = service.create_run(experiment="table", name=f"r{i:02d}")
        service.log_batch(
            run.run_id,
            params={"kind": "a" if i % 2 else "b"},
            metrics=[MetricPoint("score", i / 10, 0, 1_700_000_000_000)],
        )
        service.end_run(run.run_id)
    return service


def test_pages_cover_every_run_once_in_order(tracking: TrackingService) -> None:
    experiment = tracking.experiments.get("table")
    seen = []
    for page in (1, 2, 3):
        found = runs_page(
            tracking, experiment, sort="metrics.score", descending=False, page=page, per_page=10
        )
        assert (found.total, found.pages, found.page) == (23, 3, page)
        seen += [run.metrics["score"] for run in found.runs]
    assert seen == [i / 10 for i in range(23)]
    assert found.first == 21 and len(found.runs) == 3


def test_filter_counts_and_columns(tracking: TrackingService) -> None:
    experiment = tracking.experiments.get("table")
    found = runs_page(tracking, experiment, filter="params.kind = 'a' and metrics.score > 1")
    expected = [i for i in range(23) if i % 2 and i / 10 > 1]
    assert found.total == len(expected) and found.error is None
    assert {run.name for run in found.runs} == {f"r{i:02d}" for i in expected}
    assert "metrics.score" in found.columns and "params.kind" in found.columns
    chosen = runs_page(tracking, experiment, columns=["params.kind", "tags.none"])
    assert chosen.columns == ["params.kind", "tags.none"]
    assert "tags.none" in chosen.choices and "metrics.score" in chosen.choices


def test_a_bad_filter_or_sort_is_shown_not_raised(tracking: TrackingService) -> None:
    experiment = tracking.experiments.get("table")
    found = runs_page(tracking, experiment, filter="metrics.score >> 1")
    assert found.runs == [] and found.total == 0
    assert found.error is not None and found.error.splitlines()[-1].strip() == "^"
    bad_sort = runs_page(tracking, experiment, sort="nonsense")
    assert bad_sort.error is not None and "nonsense" in bad_sort.error
    with pytest.raises(InvalidArgumentError, match="per_page must be between 1 and 500"):
        runs_page(tracking, experiment, per_page=501)


@pytest.mark.parametrize(
    ("host", "extra", "expected"),
    [
        ("127.0.0.1", (), ("127.0.0.1", "localhost", "::1")),
        ("::1", (), ("127.0.0.1", "localhost", "::1")),
        ("0.0.0.0", (), ("*",)),
        ("0.0.0.0", ("ml.example.com",), ("0.0.0.0", "ml.example.com")),
        ("10.1.2.3", (), ("10.1.2.3",)),
        ("127.0.0.1", ("box",), ("127.0.0.1", "localhost", "::1", "box")),
    ],
)
def test_allowed_hosts(host: str, extra: tuple[str, ...], expected: tuple[str, ...]) -> None:
    assert allowed_hosts_for(host, extra) == expected
