"""``loopml.monitor`` and ``loopml.monitoring``: data drift, prediction drift, realized and
label-free performance, and concept drift, window by window; ``log_predictions`` for models
served elsewhere.

Example:
    >>> report = loopml.monitor(
    ...     current=recent, reference=train, window="1d", timestamp_column="time_hour"
    ... )  # doctest: +SKIP
    >>> report.windows[0].drifted_features  # doctest: +SKIP
    ('dep_time', 'carrier')
    >>> report.to_html("drift.html")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from loopml.core.entities import DatasetVersion, LabelSummary, LiveComparison
from loopml.core.lazy import lazy_getattr

if TYPE_CHECKING:
    import pandas as pd

    from loopml.client.client import LoopmlClient
    from loopml.client.remote.labels import RemoteLabels
    from loopml.health.monitor_report import MonitorReport

__all__ = [
    "LabelSummary",
    "LiveComparison",
    "MonitorReport",
    "compare_live",
    "log_labels",
    "log_predictions",
    "monitor",
    "to_dataset",
]


def log_predictions(
    model: str,
    frame: pd.DataFrame,
    predictions: Any,
    *,
    ids: Sequence[Any] | None = None,
    probabilities: Any = None,
    timestamps: Any = None,
    latency_ms: Any = None,
) -> list[str]:
    """Log predictions a model served elsewhere made (route ``external``) to the prediction
    log, for monitoring; everything is checked before any row is written.

    Args:
        model: ``name@version`` or ``name@alias`` (resolved once; rows record the version).
        frame: The input rows, with the signature's input columns (others are ignored).
        predictions: One prediction per row.
        ids: Your row ids (unique), returned and kept for delayed labels to join on; None:
            ids are made. Logging the same ids again does not count the rows twice.
        probabilities: ``n x k`` class probabilities in the model's class order (as
            ``predict_proba``; binary: the positive class is the second).
        timestamps: Each row's event time (datetimes, Timestamps, ISO strings or epoch ms;
            naive is UTC); monitoring windows use it. None: now.
        latency_ms: How long the model took: one number, or one per row.

    Returns:
        The row ids (``ids`` as text, or the ids made).

    Example:
        >>> ids = loopml.monitoring.log_predictions(
        ...     "churn@champion", batch, model.predict(batch),
        ...     probabilities=model.predict_proba(batch), timestamps=batch["time"],
        ... )  # doctest: +SKIP
    """
    from loopml.client.fluent import _get_client
    from loopml.health.ingest import log_predictions as _log

    client = _get_client()
    remote = _remote_labels(client)
    if remote is not None:  # the server checks and writes: no storage credentials here
        return remote.log_predictions(
            model,
            frame,
            predictions,
            ids=ids,
            probabilities=probabilities,
            timestamps=timestamps,
            latency_ms=latency_ms,
        )
    return _log(
        client.models,
        client.settings.logs_url,
        model,
        frame,
        predictions,
        ids=ids,
        probabilities=probabilities,
        timestamps=timestamps,
        latency_ms=latency_ms,
    )


def monitor(
    model: str | None = None,
    *,
    current: Any = None,
    reference: Any = None,
    window: int | str | None = None,
    start: Any = None,
    end: Any = None,
    features: Sequence[str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    tests: Mapping[str, str] | None = None,
    timestamp_column: str | None = None,
    label_column: str | None = None,
    score_column: str | None = None,
    multivariate: bool = True,
    quality: bool = True,
    seed: int = 0,
    alerts: Any = None,
    store: bool = True,
    routes: Sequence[str] | str = ("champion", "canary", "external"),
) -> MonitorReport:
    """Compare current data (and a model's behaviour on it) with a reference, window by window.

    Per window: a drift test per feature chosen by type and window size (numeric: ``ks`` up to
    1,000 rows, normalized ``wasserstein`` beyond; categorical: ``chi_square`` up to 1,000
    rows, ``jensen_shannon`` beyond), decided so that quiet data stay quiet (Holm over the
    window's p-values, distance thresholds raised to their noise floor); the share of drifted
    features; a domain classifier for drift in how features move together; data-quality
    anomalies. With a binary classifier: drift of its scores, realized ``roc_auc`` and
    ``accuracy`` on labeled rows (with ``label_coverage``), their label-free estimates (CBPE)
    and concept drift. Checks that cannot be computed say why (``note``/``reason``).

    Args:
        model: ``name@version`` or ``name@alias`` of the model to watch (with
            ``current=None``: that version's logged rows), a bare ``name`` (with
            ``current=None``: the logged rows of every version), or None for data drift
            alone.
        current: The data to check: a DataFrame, a dataset ref (``flights@4``), or None for
            the model's own prediction log (the server's rows and those of
            :func:`log_predictions`, still-spooled rows included), with the labels of
            :func:`log_labels` joined by row id, windows by event time and operational
            figures (``ops``) per window.
        reference: What to compare with: a DataFrame or a dataset ref; default the model's
            training dataset. A dataset version's statistics are computed once and stored.
        window: A duration (``"1d"``, ``"6h"``, ``"30min"``, ``"1w"``, ``"1mo"``, ``"1y"``: UTC
            calendar windows by event time), a row count (``5000``), or None for one window.
        start: Leave out rows before this time (UTC when naive).
        end: Leave out rows from this time on.
        features: Columns to test (default: the model's inputs, else every numeric and
            categorical column of the reference but its target, time, key and identifiers).
        thresholds: Overrides of :data:`loopml.health.DEFAULT_THRESHOLDS` (``alpha``,
            ``dataset_share``, ``wasserstein``, ``jensen_shannon``, ``psi``, ``domain_auc``).
        tests: Per-column test overrides, e.g. ``{"distance": "psi"}``.
        timestamp_column: The event-time column (default: the dataset's declared one).
        label_column: The ground-truth column of ``current`` (default: the declared target).
        score_column: A column of ``current`` holding the model's positive-class
            probability (default: the model scores the rows).
        multivariate: Run the domain classifier (costs about a second per window).
        quality: Report data-quality anomalies per window.
        seed: Seed of every sample and fit (same data and seed: same report).
        alerts: Alert rules (:mod:`loopml.health.alerts`): a YAML file's path, a mapping
            ``{"rules": [...]}`` or a list of rule mappings. Rules that hold are in the
            report's ``alerts``, sent to their sinks and logged as ``monitor.alert`` events;
            with rules, the run uses the default store (for the log and the cooldown) even
            when both sides are DataFrames.
        store: Keep the run in the store (one row per window, and a ``monitor.run`` event;
            ``loopml monitor show`` lists them) when the run has one: a model, a dataset
            ref or alert rules. Its id is the report's ``run_id``. DataFrames alone use no
            store and are not kept.
        routes: With ``current=None``, the routes whose rows count (``champion``,
            ``canary``, ``external``, ``shadow``, ``batch``; fallback rows count only in the
            fallback rate).

    Returns:
        The :class:`~loopml.health.monitor_report.MonitorReport`.

    Raises:
        InvalidArgumentError: An unknown feature, test or threshold, a bad window, a
            duration window without an event-time column, or a bad alert rule.
    """
    from loopml.health import MonitorService

    if model is None and alerts is None and not any(_needs_store(x) for x in (current, reference)):
        service = MonitorService(None)
    else:
        from loopml.client.fluent import _get_client

        service = _get_client().monitoring
    return service.monitor(
        model,
        current=current,
        reference=reference,
        window=window,
        start=start,
        end=end,
        features=features,
        thresholds=thresholds,
        tests=tests,
        timestamp_column=timestamp_column,
        label_column=label_column,
        score_column=score_column,
        multivariate=multivariate,
        quality=quality,
        seed=seed,
        alerts=alerts,
        store=store,
        routes=routes,
    )


def log_labels(model: str, ids: Any, labels: Any, *, timestamps: Any = None) -> LabelSummary:
    """Store ground truth that arrived after the predictions (delayed labels).

    Each label names its row by the prediction id the model server returned or by your own id
    (``ids=`` of ``log_predictions``, ``"ids"`` of a ``/predict`` request). Labels belong to
    the model name; ``model``'s version is what they are checked against: a classifier's
    label must be one of its classes (``"1"`` is not the class ``1``), a regressor's a finite
    number. A label that does not fit is refused and counted (``bad_type``); an id given twice
    keeps its last label, and a label logged again replaces the stored one (``duplicates``);
    an id that matches no logged prediction yet is stored anyway and counted (``unknown``),
    to join when the prediction is logged. The monitor joins labels by row id.

    Args:
        model: ``name@alias``, ``name@version`` or ``name`` (its champion, else its latest).
        ids: One row id per label (strings, or integers stored as their text).
        labels: The labels (a list, NumPy array, pandas Series or Arrow array).
        timestamps: Optional event time per label (datetimes, ISO 8601 text or ms since the
            epoch).

    Returns:
        The :class:`~loopml.core.entities.LabelSummary`: ``matched``, ``unknown``,
        ``duplicates``, ``bad_type``, ``stored`` and a few example messages.

    Raises:
        InvalidArgumentError: Lengths differ, an id is missing, or a timestamp is unreadable.
        NotFoundError: No such model, version or alias.

    Example:
        >>> answer = httpx.post(url + "/predict", json={"records": rows}).json()  # doctest: +SKIP
        >>> summary = loopml.monitoring.log_labels(
        ...     "churn@champion", answer["prediction_ids"], [1, 0, 0]
        ... )  # doctest: +SKIP
        >>> summary.matched, summary.unknown, summary.bad_type  # doctest: +SKIP
        (3, 0, 0)
    """
    from loopml.client.fluent import _get_client
    from loopml.health.labels import LabelService

    client = _get_client()
    remote = _remote_labels(client)
    if remote is not None:  # the server checks and stores: no storage credentials here
        return remote.log_labels(model, ids, labels, timestamps=timestamps)
    return LabelService(client.backend).log_labels(model, ids, labels, timestamps=timestamps)


def to_dataset(
    model: str,
    *,
    name: str | None = None,
    start: Any = None,
    end: Any = None,
    routes: Sequence[str] | str = ("champion", "canary", "external"),
    labeled_only: bool = True,
    description: str = "",
) -> DatasetVersion:
    """Turn a stretch of a model's prediction log, with its labels, into a dataset version.

    Fresh training data from production: the rows ``model`` answered (or that were logged for
    it with :func:`log_predictions`) with event time in ``[start, end)``, each with the label
    that arrived for it (joined by row id, as :func:`monitor` does), become the next version of
    dataset ``name``: the model's input columns, the label under the training dataset's target
    name and the event time under its time column's name (``event_at`` when it declared none).
    Rows the server answered with an error are left out, and rows without a label unless
    ``labeled_only=False``. Registering the same rows again returns the same version. The
    lineage back to the model is a ``dataset.from_predictions`` event linking the dataset
    version to the model version (``loopml events list --subject dataset:NAME@``).

    Args:
        model: ``name@version``, ``name@alias`` (that version's rows) or ``name`` (every
            version's rows).
        name: The dataset's name (default ``<model name>-production``).
        start: Leave out rows before this time (datetime, ISO 8601 text or ms; naive is UTC).
        end: Leave out rows from this time on.
        routes: The routes whose rows count (``shadow``, ``batch``, ``fallback`` when asked).
        labeled_only: Keep only rows whose label arrived (default).
        description: Free text for the version (default: where the rows came from).

    Returns:
        The registered :class:`~loopml.core.entities.DatasetVersion`.

    Raises:
        InvalidArgumentError: No such rows (the message gives how many were read), an unknown
            route, an unreadable time.
        NotFoundError: No such model, version or alias.

    Example:
        >>> fresh = loopml.monitoring.to_dataset(
        ...     "late@champion", start="2013-10-01", end="2013-12-01"
        ... )  # doctest: +SKIP
        >>> fresh.ref, fresh.rows  # doctest: +SKIP
        ('late-production@1', 41230)
    """
    from loopml.client.fluent import _get_client
    from loopml.health.production_data import to_dataset as build

    return build(
        _get_client().backend,
        model,
        name=name,
        start=start,
        end=end,
        routes=routes,
        labeled_only=labeled_only,
        description=description,
    )


def compare_live(
    model: str,
    *,
    challenger_route: str = "canary",
    champion_route: str = "champion",
    metric: str | None = None,
    since: Any = None,
    until: Any = None,
    min_labeled: int = 1000,
    min_duration: Any = None,
    margin: float = 0.0,
    rollback_drop: float = 0.01,
    max_error_rate: float | None = None,
    max_fallback_rate: float | None = None,
    max_guardrail_rate: float | None = None,
    rate_margin: float = 0.01,
    alpha: float = 0.05,
    sequential: bool = True,
    challenger_version: int | None = None,
    champion_version: int | None = None,
    resamples: int = 1000,
    seed: int = 0,
) -> LiveComparison:
    """Compare a challenger with the champion on the same live traffic, and decide.

    Reads the prediction log of ``model`` (the server's rows, still-spooled ones included,
    with the labels of :func:`log_labels` joined by row id) on both routes from the
    challenger's first row on, and measures per route: its rows and labeled rows, ``metric``
    with a bootstrap interval, and its error, fallback and guardrail rates with Wilson
    intervals (a fallback row counts against the route the request was routed to). Then the
    difference challenger - champion: for a canary (each answered its own requests) an
    unpaired bootstrap, for a shadow (both scored the same requests, matched by the caller's
    row id) a paired one; for the rates, Newcombe's interval. The verdict:

    - ``rollback`` when the whole interval of the metric's difference is below
      ``-rollback_drop`` (above it for metrics where lower is better), or a rate's interval
      is wholly above its bound (``max_error_rate``, ...), or wholly above the champion's
      rate by more than ``rate_margin``;
    - ``promote`` when there is enough evidence (``min_labeled`` labeled challenger rows and
      ``min_duration`` of traffic), the difference's interval is wholly above ``-margin``,
      and every bounded rate is shown within its bound;
    - else ``wait``, saying what is missing (``312 of 1,000 labeled rows on canary``). A
      challenger that has no rows yet waits; it is not an error.

    With ``sequential=True`` the intervals stay valid however often you ask (an agent asks at
    every poll), so an equal challenger is not rolled back by a lucky run of noise.

    Args:
        model: The registered model's name (its routes say which versions are compared).
        challenger_route: ``canary`` or ``shadow``.
        champion_route: ``champion`` (or ``canary``, against a shadow).
        metric: A metric of :mod:`loopml.stats.metrics` (default ``accuracy`` for a
            classifier, ``rmse`` for a regressor); ``roc_auc`` and the other score metrics
            read the logged probabilities.
        since: Leave out rows before this time (event time; UTC when naive).
        until: Leave out rows from this time on.
        min_labeled: Labeled challenger rows needed before a promotion.
        min_duration: Traffic needed before a promotion, in event time from the challenger's
            first row to its last (``"24h"``, ``"7d"``, seconds, or a ``timedelta``).
        margin: How far below the champion the challenger may be and still be promoted
            (0: it must be shown better), in the metric's units.
        rollback_drop: How far below the champion the difference's whole interval must be to
            roll back.
        max_error_rate: Bound of the challenger's error rate (failures and missed deadlines).
        max_fallback_rate: Bound of its fallback rate (any reason).
        max_guardrail_rate: Bound of the share of its rows a guardrail sent to the fallback.
        rate_margin: How far above the champion's a rate's whole interval must be to roll
            back.
        alpha: 1 - the confidence of every interval.
        sequential: Intervals valid at every look (a confidence sequence); False for one
            fixed look.
        challenger_version: The challenger's version (default: the one its route served
            last).
        champion_version: The champion's version (default: the one its route served last).
        resamples: Bootstrap resamples of the metric.
        seed: Seed of the bootstrap (same rows and seed: same answer).

    Returns:
        The :class:`~loopml.core.entities.LiveComparison`: both routes' figures, the
        difference, every check, the verdict and its reason (``to_dict()`` is JSON-ready, to
        store with the decision).

    Raises:
        InvalidArgumentError: An unknown route or metric, a limit out of range, a model ref
            instead of a name, or a model with no logged predictions at all (unless a
            version is named: then no rows yet is a ``wait``).
        NotFoundError: No such model.

    Example:
        >>> found = loopml.monitoring.compare_live("late", min_labeled=2000)  # doctest: +SKIP
        >>> found.verdict, found.reason  # doctest: +SKIP
        ('wait', 'Wait on late@7 (canary): 312 of 2,000 labeled rows on canary; ...')
    """
    from loopml.client.fluent import _get_client
    from loopml.health.live_comparison import compare_live as compare

    return compare(
        _get_client().backend,
        model,
        challenger_route=challenger_route,
        champion_route=champion_route,
        metric=metric,
        since=since,
        until=until,
        min_labeled=min_labeled,
        min_duration=min_duration,
        margin=margin,
        rollback_drop=rollback_drop,
        max_error_rate=max_error_rate,
        max_fallback_rate=max_fallback_rate,
        max_guardrail_rate=max_guardrail_rate,
        rate_margin=rate_margin,
        alpha=alpha,
        sequential=sequential,
        challenger_version=challenger_version,
        champion_version=champion_version,
        resamples=resamples,
        seed=seed,
    )


def _remote_labels(client: LoopmlClient) -> RemoteLabels | None:
    """The server's labels and prediction-log routes when the client talks to a server."""
    if not client.settings.server_url:
        return None
    from loopml.client.remote.connection import shared_transport
    from loopml.client.remote.labels import RemoteLabels

    return RemoteLabels(shared_transport(client.settings.server_url, client.settings.token))


def _needs_store(value: Any) -> bool:
    """A dataset ref or version is read from the store; a DataFrame (or nothing) is not."""
    return isinstance(value, str | DatasetVersion)


#: ``MonitorReport`` (the class :func:`monitor` returns) loads on first use: it needs pandas,
#: which ``import loopml`` does not load.
__getattr__ = lazy_getattr(__name__, {"MonitorReport": "loopml.health.monitor_report"}, globals())
