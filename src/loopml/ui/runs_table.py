"""The runs table of an experiment: one page of a search, its order, its columns.

The search is the SDK's (:meth:`loopml.tracking.TrackingService.build_query`: the same filter
grammar, parsed once), counted and paged in the store, so a page of 50 runs costs the same
at 100 runs as at 10,000. A filter that does not parse is shown with its caret, and the
table is left empty.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from loopml.core.entities import Experiment, Run
from loopml.core.errors import InvalidArgumentError
from loopml.tracking import TrackingService

__all__ = ["ATTRIBUTE_COLUMNS", "DEFAULT_PER_PAGE", "MAX_PER_PAGE", "RunsPage", "runs_page"]

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 500
#: The run attributes a column may show, by their sort key, with their heading.
ATTRIBUTE_COLUMNS: dict[str, str] = {
    "name": "name",
    "status": "status",
    "start_time": "started",
    "end_time": "ended",
    "attributes.duration": "duration",
    "parent_run_id": "parent",
}
_DEFAULT_ATTRIBUTES = ("status", "start_time", "attributes.duration")
_DEFAULT_KEYS = 6  # metrics and params shown when no column is chosen


@dataclass(frozen=True)
class RunsPage:
    """One page of an experiment's runs.

    Attributes:
        experiment: Whose runs.
        runs: The runs on this page, in order.
        total: How many runs match the filter (every page).
        page: This page's number (from 1).
        per_page: Runs per page.
        sort: The field sorted on (``metrics.loss``, ``start_time``), or None (newest first).
        descending: The sort's direction.
        columns: The columns shown (attribute keys, ``metrics.x``, ``params.x``, ``tags.x``).
        choices: Every column the chooser offers (those of the runs on this page, and the
            chosen ones).
        filter: The filter text as typed.
        error: Why the filter or the sort was refused (the caret included), else None.
    """

    experiment: Experiment
    runs: list[Run]
    total: int
    page: int
    per_page: int
    sort: str | None
    descending: bool
    columns: list[str]
    choices: list[str]
    filter: str
    error: str | None

    @property
    def pages(self) -> int:
        """How many pages the matching runs fill (at least 1)."""
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        """The position of this page's first run (from 1; 0 when there is none)."""
        return (self.page - 1) * self.per_page + 1 if self.runs else 0


def _choices(runs: list[Run], chosen: list[str]) -> list[str]:
    metrics = sorted({f"metrics.{k}" for run in runs for k in run.metrics})
    params = sorted({f"params.{k}" for run in runs for k in run.params})
    tags = sorted({f"tags.{k}" for run in runs for k in run.tags if not k.startswith("loopml.")})
    found = [*ATTRIBUTE_COLUMNS, *metrics, *params, *tags]
    return found + [c for c in chosen if c not in found]


def _default_columns(runs: list[Run]) -> list[str]:
    metrics = sorted({k for run in runs for k in run.metrics})[:_DEFAULT_KEYS]
    params = sorted({k for run in runs for k in run.params})[:_DEFAULT_KEYS]
    return [
        *_DEFAULT_ATTRIBUTES,
        *(f"metrics.{k}" for k in metrics),
        *(f"params.{k}" for k in params),
    ]


def runs_page(
    tracking: TrackingService,
    experiment: Experiment,
    *,
    filter: str = "",
    sort: str | None = None,
    descending: bool = True,
    page: int = 1,
    per_page: int = DEFAULT_PER_PAGE,
    columns: list[str] | None = None,
) -> RunsPage:
    """Search one page of ``experiment``'s runs (see the module docstring).

    Raises:
        InvalidArgumentError: ``page`` or ``per_page`` out of range.
    """
    if page < 1:
        raise InvalidArgumentError(f"page must be 1 or more; got {page}.")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidArgumentError(
            f"per_page must be between 1 and {MAX_PER_PAGE}; got {per_page}."
        )
    chosen = [c for c in (columns or []) if c]
    order = None
    if sort == "attributes.duration":
        sort = None  # a duration is not a stored field: shown, not sorted
    if sort:
        order = [f"{sort} {'desc' if descending else 'asc'}"]
    error = None
    try:
        query, _ = tracking.build_query(
            experiment.experiment_id, filter=filter.strip() or None, order_by=order
        )
    except InvalidArgumentError as exc:  # FilterSyntaxError: the message has the caret
        error, runs, total = str(exc), [], 0
    else:
        total = tracking.store.count_runs(query)
        paged = replace(query, limit=per_page, offset=(page - 1) * per_page)
        runs = tracking.store.search_runs(paged)
    return RunsPage(
        experiment=experiment,
        runs=runs,
        total=total,
        page=page,
        per_page=per_page,
        sort=sort,
        descending=descending,
        columns=chosen or _default_columns(runs),
        choices=_choices(runs, chosen),
        filter=filter,
        error=error,
    )
