"""Monitoring entities: what a monitor found in each window of current data against a reference.

A :class:`MonitorReport` holds :class:`MonitorWindow` objects in time order. Each window says,
per feature, which drift test ran and its verdict (:class:`FeatureDrift`), whether the dataset
as a whole drifted (share of drifted features), whether the features moved together in a way a
domain classifier can see (:class:`MultivariateDrift`), and, with a model, its realized and
estimated performance and whether the concept drifted (:class:`ConceptDrift`).

A check that cannot be computed on a window (no rows, a column missing or all null, a constant
reference column) keeps ``None`` as its verdict with the reason in ``note``: never a made-up
verdict. Time stamps are ISO 8601 text in UTC (``2013-04-01T00:00:00Z``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loopml.core.entities.data import Anomaly
from loopml.core.entities.evaluation import MetricValue
from loopml.core.jsonable import Jsonable

#: Columns of :meth:`MonitorReport.to_frame`, in order.
FRAME_COLUMNS = (
    "window",
    "start",
    "end",
    "rows",
    "feature",
    "test",
    "statistic",
    "p_value",
    "threshold",
    "drifted",
    "note",
)


@dataclass(frozen=True)
class FeatureDrift(Jsonable):
    """The verdict of one drift test on one column of one window.

    Attributes:
        test: The test that ran (``ks``, ``wasserstein``, ``chi_square``, ``jensen_shannon``,
            ``psi``), or the one that would have run when not computable.
        statistic: The test statistic (None when not computable).
        p_value: For hypothesis tests, the p-value adjusted for the number of features tested
            (Holm), so ``drifted`` is ``p_value < threshold``; None for distances.
        threshold: The level (hypothesis tests) or the distance threshold actually applied
            (raised to the noise floor of the window's size when that is higher).
        drifted: The verdict; None when the test could not be computed (``note`` says why).
        note: How the verdict was reached when not the usual way, or why there is none.
    """

    test: str
    statistic: float | None
    p_value: float | None
    threshold: float | None
    drifted: bool | None
    note: str = ""


@dataclass(frozen=True)
class MultivariateDrift(Jsonable):
    """A domain classifier's verdict: can a model tell reference rows from current rows?

    Attributes:
        auc: Cross-validated ROC AUC of reference vs current (0.5: indistinguishable).
        threshold: The AUC above which the window drifted (from the classifier's own noise).
        drifted: The verdict; None when not computable (``note`` says why).
        top_features: The features that separate the two most, by importance.
        note: Why there is no verdict, or how it was reached.
    """

    auc: float | None
    threshold: float | None
    drifted: bool | None
    top_features: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class ConceptDrift(Jsonable):
    """Whether P(y | x) moved: realized performance fell while the label-free estimate (which
    assumes it did not) held.

    Attributes:
        detected: The verdict; None when it cannot be told (no labels, no estimate).
        reason: Why, in one sentence.
    """

    detected: bool | None
    reason: str = ""


@dataclass(frozen=True)
class MonitorWindow(Jsonable):
    """One window of current data, checked against the reference.

    Attributes:
        index: 0, 1, ... in time (or row) order.
        start: First instant of the window (UTC, ISO 8601); None for row-count windows.
        end: First instant after it; None for row-count windows.
        rows: Rows in the window.
        features: Column -> its drift verdict.
        dataset_drift: True when ``drift_share`` reaches the dataset-share threshold; None when
            no feature could be tested.
        drift_share: Share of the tested features that drifted.
        multivariate: The domain classifier's verdict (None when not asked for).
        prediction_drift: Drift of the model's scores (None without a model).
        quality: Data-quality anomalies of the window (missing columns, unexpected nulls,
            out-of-range values, unseen categories); distribution drift is in ``features``.
        performance: Metric -> realized value on the labeled rows, with its interval.
        label_coverage: Share of the window's rows that have a label (None without labels).
        estimated: Metric -> label-free estimate (CBPE), with its interval.
        concept_drift: Realized performance fell while the estimate held (None without a model).
        ops: Operational figures from server rows (latency, error rate); empty for frames.
        distributions: Feature -> the window's distribution, summarized as the report's
            ``reference_distributions`` summarizes the reference (for charts).
        notes: Remarks on the window as a whole.
    """

    json_properties = ("drifted_features",)

    index: int
    start: str | None
    end: str | None
    rows: int
    features: Mapping[str, FeatureDrift] = field(default_factory=dict)
    dataset_drift: bool | None = None
    drift_share: float | None = None
    multivariate: MultivariateDrift | None = None
    prediction_drift: FeatureDrift | None = None
    quality: tuple[Anomaly, ...] = ()
    performance: Mapping[str, MetricValue] = field(default_factory=dict)
    label_coverage: float | None = None
    estimated: Mapping[str, MetricValue] = field(default_factory=dict)
    concept_drift: ConceptDrift | None = None
    ops: Mapping[str, float | None] = field(default_factory=dict)
    distributions: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def drifted_features(self) -> tuple[str, ...]:
        """The features whose test says they drifted, most significant first (also in
        :meth:`to_dict`'s output)."""
        drifted = [(name, f) for name, f in self.features.items() if f.drifted]
        drifted.sort(key=lambda item: severity(item[1]), reverse=True)
        return tuple(name for name, _ in drifted)


def severity(drift: FeatureDrift) -> float:
    """How far past its threshold a verdict is (for sorting): p-value tests by -log10(p)."""
    import math

    if drift.statistic is None or drift.threshold is None:
        return -1.0
    if drift.p_value is not None:
        return -math.log10(max(drift.p_value, 1e-300)) + math.log10(max(drift.threshold, 1e-300))
    return drift.statistic / drift.threshold if drift.threshold else drift.statistic


@dataclass(frozen=True)
class Alert(Jsonable):
    """One alert rule that fired on a monitor run (:mod:`loopml.health.alerts`).

    Attributes:
        rule: The rule's name.
        severity: ``info``, ``warning`` or ``critical``.
        condition: The rule's condition as written (``drift_share >= 0.3``).
        subject: What it fired for: ``model:<name>`` or ``data:<current data>``.
        window: Index of the latest window the condition held on.
        start: That window's first instant (None for row-count windows).
        message: One sentence for a human.
        evidence: The values that made it fire (JSON-ready), with every window it held on.
        status: ``fired``, or ``suppressed`` when the rule already fired for the same subject
            within its cooldown (then nothing is sent).
        deliveries: Sink -> ``ok`` or ``failed: <why>`` (empty when suppressed).
        at: Milliseconds since the epoch.
    """

    rule: str
    severity: str
    condition: str
    subject: str
    window: int
    start: str | None
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    status: str = "fired"
    deliveries: Mapping[str, str] = field(default_factory=dict)
    at: int = 0


@dataclass(frozen=True)
class MonitorReport(Jsonable):
    """What :func:`loopml.monitor` found, window by window.

    Attributes:
        windows: The windows, in time (or row) order.
        reference: What the current data were compared with (``flights@3``, ``a DataFrame``).
        current: The current data (a dataset ref or ``a DataFrame``).
        model: The model version monitored (``name@version``), or None for data drift alone.
        window: The window spec (``1d``, ``6h``, ``5000``) or None for one window.
        thresholds: The thresholds in force (defaults filled in).
        calibration: Where the label-free estimate was calibrated (or why it was not).
        reference_distributions: Feature -> the reference's distribution, summarized: a
            numeric column by its deciles (``q0``, ``q10``, ... ``q100``), a categorical one by
            the shares of its most frequent categories (the rest as ``__other__``).
        notes: Remarks on the whole run.
        created_at: Milliseconds since the epoch.
        alerts: The alert rules that held on this run (``alerts=``), fired or suppressed.
        run_id: The id of the stored run (32 hex digits; :class:`MonitorResult` rows carry
            it), or None when the run was not stored (no store, or ``store=False``).
    """

    windows: tuple[MonitorWindow, ...]
    reference: str
    current: str
    model: str | None = None
    window: str | None = None
    thresholds: Mapping[str, Any] = field(default_factory=dict)
    calibration: str = ""
    reference_distributions: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    created_at: int = 0
    alerts: tuple[Alert, ...] = ()
    run_id: str | None = None

    def records(self) -> list[dict[str, Any]]:
        """One dict per window x feature (the rows of :meth:`to_frame`), plain Python values."""
        rows: list[dict[str, Any]] = []
        for w in self.windows:
            for name, f in w.features.items():
                rows.append(
                    {
                        "window": w.index,
                        "start": w.start,
                        "end": w.end,
                        "rows": w.rows,
                        "feature": name,
                        "test": f.test,
                        "statistic": f.statistic,
                        "p_value": f.p_value,
                        "threshold": f.threshold,
                        "drifted": f.drifted,
                        "note": f.note,
                    }
                )
        return rows


@dataclass(frozen=True)
class LabelSummary(Jsonable):
    """What one call of :func:`loopml.monitoring.log_labels` did with the labels it was given.

    Every label given is accounted for: ``received == stored + bad_type + duplicates_in_call``
    where ``duplicates_in_call`` are the earlier labels of an id repeated within the call
    (last wins). ``duplicates`` also counts stored labels that a label of this call replaced.

    Attributes:
        model: The model version the labels were checked against (``name@version``); labels
            are stored for the model name.
        received: Labels given.
        stored: Labels written (each replaces any earlier label of its id).
        matched: Stored labels whose id names a logged prediction (its prediction id or the
            caller's id), in the log store or still in a spool folder.
        unknown: Stored labels whose id names no logged prediction yet: kept (the prediction
            may be logged or compacted later) and counted.
        duplicates: Labels that replaced another: an earlier one of the same id in this call,
            or one stored before (last to arrive wins).
        bad_type: Labels refused because they do not fit the model (not one of a classifier's
            classes, not a finite number for a regressor, missing): not stored.
        examples: A few messages saying which labels were refused or unknown, and why.
    """

    model: str
    received: int = 0
    stored: int = 0
    matched: int = 0
    unknown: int = 0
    duplicates: int = 0
    bad_type: int = 0
    examples: tuple[str, ...] = ()


@dataclass(frozen=True)
class MonitorResult(Jsonable):
    """One stored window of a monitor run (``loopml monitor show``; one row per window).

    Attributes:
        result_id: 32 hex digits.
        run_id: The monitor run it belongs to (every window of a run shares it; the run's
            ``monitor.run`` event links it).
        subject: What was monitored: ``model:<name>`` or ``data:<current data>``.
        model: The model version monitored (``name@version``), None for data drift alone.
        window: The window as the run found it.
        start_ms: The window's first instant in milliseconds since the epoch (None for
            row-count windows).
        end_ms: The first instant after it (None for row-count windows).
        alerts: The run's alerts whose latest window is this one (fired or suppressed).
        created_at: When the run was made, milliseconds since the epoch.
    """

    result_id: str
    run_id: str
    subject: str
    model: str | None
    window: MonitorWindow
    start_ms: int | None
    end_ms: int | None
    created_at: int
    alerts: tuple[Alert, ...] = ()
