""":class:`MonitorService`: compare current data (and a model's behaviour on it) with a reference,
window by window.

Nothing here raises for a property of the data: an empty window, a feature missing from the
current data, an all-null column, a constant reference column, a model without probabilities
each end up in the report as "not computable" with the reason. Errors are raised only for bad
arguments (an unknown feature, a bad window or threshold, a dataset ref without a store).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from loopml.core.clock import Clock, now_ms
from loopml.core.entities import (
    Alert,
    Anomaly,
    ConceptDrift,
    FeatureDrift,
    MetricValue,
    MonitorWindow,
)
from loopml.core.errors import InvalidArgumentError, did_you_mean
from loopml.core.settings import current_user
from loopml.health import drift, performance
from loopml.health.alert_sinks import fire
from loopml.health.alerts import check_features, load_rules
from loopml.health.domain import domain_drift
from loopml.health.log_source import (
    DEFAULT_ROUTES,
    LABEL,
    RESERVED,
    ROUTE,
    SCORE,
    TIME,
    check_routes,
    log_data,
    selection,
)
from loopml.health.model_side import ModelSide, model_side
from loopml.health.monitor_report import MonitorReport
from loopml.health.ops import ops_figures
from loopml.health.reference import Kind, ReferenceProfile, feature_kinds, kind_of_series
from loopml.health.results import store_run, subject_of
from loopml.health.settings import check_tests, parse_window, resolve_thresholds
from loopml.health.sources import Data, reference_profile, resolve
from loopml.health.windows import Window, cut, utc_ms

if TYPE_CHECKING:
    from loopml.store.backend import Backend


def _iso(ts: pd.Timestamp | None) -> str | None:
    return None if ts is None else ts.tz_convert("UTC").isoformat().replace("+00:00", "Z")


class MonitorService:
    """Monitoring over one backend (or none, for DataFrames alone).

    Args:
        backend: The stores (dataset refs, model versions, stored reference profiles); None
            when both sides are DataFrames and there is no model.
        clock: Milliseconds since the epoch (injectable for tests).
    """

    def __init__(self, backend: Backend | None = None, *, clock: Clock = now_ms) -> None:
        self.backend = backend
        self._clock = clock
        self._registry: Any = None
        if backend is not None:
            from loopml.registry import ModelRegistry

            self._registry = ModelRegistry(backend, clock=clock)

    @property
    def datasets(self) -> Any:
        """The dataset service (None without a backend)."""
        return None if self._registry is None else self._registry.datasets

    def monitor(
        self,
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
        routes: Sequence[str] | str = DEFAULT_ROUTES,
    ) -> MonitorReport:
        """Monitor current data against a reference; see :func:`loopml.monitor`."""
        rules = None if alerts is None else load_rules(alerts)
        chosen_routes = check_routes(routes)
        limits = resolve_thresholds(thresholds)
        overrides = check_tests(tests)
        spec = parse_window(window)
        version = loaded = None
        if model is not None:
            if self._registry is None:
                raise InvalidArgumentError(
                    f"Monitoring model {model!r} needs a loopml store to load it from; call "
                    "loopml.monitor through a client, or pass model=None for data drift alone."
                )
            version = self._registry.get(model)
            loaded = self._registry.load(version)
        if reference is None:
            if version is None or version.training_data is None:
                raise InvalidArgumentError(
                    "Pass reference= (a DataFrame or a dataset ref): "
                    + (
                        "without a model there is no default reference."
                        if version is None
                        else f"{version.ref} records no training dataset to default to."
                    )
                )
            reference = version.training_data
        ref = resolve(reference, "reference", self.datasets)
        from_log = current is None
        if from_log:
            if model is None or version is None or loaded is None:
                raise InvalidArgumentError(
                    "current=None reads a model's prediction log: name the model "
                    "(loopml.monitor('churn@champion')), or pass current= (a DataFrame or a "
                    "dataset ref) for data drift alone."
                )
            cur = self._log(
                model,
                version,
                loaded=loaded,
                features=features,
                routes=chosen_routes,
                start=start,
                end=end,
            )
            timestamp_column, label_column, score_column = TIME, LABEL, SCORE
        else:
            cur = resolve(current, "current", self.datasets)
        frame = cur.frame()
        _check_columns(frame, cur.label, label_column=label_column, score_column=score_column)
        label_column = label_column or cur.target or ref.target or self._trained_on(version)
        if timestamp_column is None:  # the current data's declared time, else the reference's
            declared = cur.timestamp or ref.timestamp
            timestamp_column = declared if declared in frame.columns else None
        reserved = [c for c in (label_column, score_column, timestamp_column) if c]
        if from_log:
            reserved = list(RESERVED)
        kinds = self._features(ref, frame, features, loaded, reserved)
        if rules:
            check_features(rules, list(kinds))
        profile, reused = reference_profile(
            ref, kinds, self.datasets, actor=self._actor(), at=self._clock()
        )
        windows = cut(frame, spec, timestamp_column=timestamp_column, start=start, end=end)
        side = None
        if loaded is not None:
            side = model_side(
                loaded,
                ref,
                frame,
                training=version.training_data if version is not None else None,
                validation=self._validation(version),
                label_column=label_column,
                score_column=score_column,
            )
        checker = _QualityChecker(ref, list(kinds)) if quality else None
        shapes = {name: drift.reference_summary(profile, name) for name in kinds}
        run = _Run(
            profile,
            list(kinds),
            limits,
            overrides,
            multivariate,
            checker,
            side,
            seed,
            shapes,
            # fallback rows answered with another model: they count only in the ops rates
            (frame[ROUTE] == "fallback").to_numpy() if from_log else None,
        )
        out = [run.window(w, frame) for w in windows]
        notes = [f"reference statistics {'read from the stored profile' if reused else 'computed'}"]
        if not kinds:
            notes.append(
                f"no column of the reference ({ref.label}) is numeric or categorical (targets, "
                "times, keys and identifiers are not tested): pass features= to choose some"
            )
        if timestamp_column is not None:
            untimed = int(pd.to_datetime(frame[timestamp_column], utc=True).isna().sum())
            if untimed:
                notes.append(
                    f"{untimed:,} rows have no event time in {timestamp_column!r} and are in no "
                    "window"
                )
        if side is not None:
            notes.extend(side.notes)
        fired: tuple[Alert, ...] = ()
        subject = subject_of(None if version is None else version.name, cur.label)
        if rules:
            events = None if self.backend is None else self.backend.events
            if events is None:
                notes.append("no store: alerts are not logged and no cooldown applies")
            fired = fire(
                rules, out, subject=subject, events=events, actor=self._actor(), at=self._clock()
            )
        report = MonitorReport(
            windows=tuple(out),
            reference=ref.label,
            current=cur.label,
            model=None if version is None else version.ref,
            window=spec.text,
            thresholds=limits,
            calibration="" if side is None else side.calibrated.source,
            reference_distributions=shapes,
            notes=tuple(notes),
            created_at=self._clock(),
            alerts=fired,
        )
        if store and self.backend is not None:
            report = store_run(
                self.backend.monitor_results, report, subject=subject, actor=self._actor()
            )
        return report

    # -- inputs ------------------------------------------------------------------------------

    def _actor(self) -> str:
        return "loopml" if self.backend is None else current_user(self.backend.settings)

    def _log(
        self,
        ref: str,
        version: Any,
        *,
        loaded: Any,
        features: Sequence[str] | None,
        routes: tuple[str, ...],
        start: Any,
        end: Any,
    ) -> Data:
        """The model's logged rows (labels joined) as the current data."""
        assert self.backend is not None
        names = list(loaded.signature.input_names) if features is None else list(features)
        clash = [n for n in names if n in RESERVED]
        if clash:
            raise InvalidArgumentError(
                f"The model's input {clash[0]!r} has a name monitoring of the prediction log "
                f"uses for itself ({list(RESERVED)}); pass current= as a DataFrame instead."
            )
        since, until = utc_ms(start, "start"), utc_ms(end, "end")
        return log_data(
            self.backend,
            selection(ref, version, routes),
            features=names,
            classes=tuple(loaded.classes),
            binary=bool(loaded.signature.output.has_proba and len(loaded.classes) == 2),
            since=since,
            until=until,
        )

    def _trained_on(self, version: Any) -> str | None:
        """The target column of the version's training dataset (the label's default name)."""
        if version is None or version.training_data is None:
            return None
        target: str | None = self.datasets.get(version.training_data).schema.target
        return target

    def _validation(self, version: Any) -> Data | None:
        if version is None or version.validation_data is None:
            return None
        return resolve(version.validation_data, "validation", self.datasets)

    @staticmethod
    def _features(
        ref: Data,
        current: pd.DataFrame,
        features: Sequence[str] | None,
        loaded: Any,
        reserved: Sequence[str],
    ) -> dict[str, Kind]:
        schema = ref.schema()
        defaults = feature_kinds(schema, exclude=reserved)
        if features is None:
            if loaded is not None:
                inputs = loaded.signature.input_names
                return {c: defaults[c] for c in inputs if c in defaults}
            return defaults
        if isinstance(features, str):
            features = [features]
        if not features:
            raise InvalidArgumentError(
                "features= is empty: name the columns to test, or pass None for the defaults "
                "(the model's inputs, else every numeric and categorical column)."
            )
        out: dict[str, Kind] = {}
        frame = ref.frame() if any(f not in defaults for f in features) else None
        for name in features:
            if name in defaults:
                out[name] = defaults[name]
            elif frame is not None and name in frame.columns:
                if pd.api.types.is_datetime64_any_dtype(frame[name]):
                    raise InvalidArgumentError(
                        f"Feature {name!r} holds times, which move on by nature and are not "
                        "tested for drift; leave it out of features= (windows use it as "
                        "timestamp_column=)."
                    )
                out[name] = kind_of_series(frame[name])
            else:
                raise InvalidArgumentError(
                    f"Feature {name!r} is not a column of the reference ({ref.label}); its "
                    f"columns are {list(schema.names)[:30]}." + did_you_mean(name, schema.names)
                )
        return out


@dataclass(frozen=True)
class _Run:
    """What every window of one run is checked with."""

    profile: ReferenceProfile
    features: list[str]
    limits: dict[str, float]
    overrides: dict[str, str]
    multivariate: bool
    checker: _QualityChecker | None
    side: ModelSide | None
    seed: int
    shapes: dict[str, dict[str, float]]
    fallback: np.ndarray | None = None

    def window(self, w: Window, frame: pd.DataFrame) -> MonitorWindow:
        """Every check on one window."""
        ops: dict[str, float | None] = {}
        if self.fallback is not None:  # the prediction log: fallback rows count in ops only
            ops = ops_figures(frame.iloc[w.positions])
            w = replace(w, positions=w.positions[~self.fallback[w.positions]])
        profile, features, limits, side, seed = (
            self.profile,
            self.features,
            self.limits,
            self.side,
            self.seed,
        )
        wf = frame.iloc[w.positions]
        verdicts = drift.window_drift(
            profile, wf, features, rows=w.rows, tests=self.overrides, thresholds=limits
        )
        dataset_drift, drift_share = drift.share(verdicts, limits["dataset_share"])
        multi = None
        if self.multivariate:
            multi = domain_drift(profile, wf, features, thresholds=limits, seed=seed)
        notes: list[str] = [] if w.rows else ["the window has no rows: nothing to check"]
        quality = self.checker(wf) if self.checker is not None else ()
        prediction: FeatureDrift | None = None
        real: dict[str, MetricValue] = {}
        est: dict[str, MetricValue] = {}
        coverage = concept = None
        if side is not None:
            scores, labels = side.scores[w.positions], side.labels[w.positions]
            prediction = drift.score_drift(
                side.reference_scores, scores, alpha=limits["alpha"], thresholds=limits
            )
            if side.has_labels:
                coverage = float(np.mean(labels >= 0)) if w.rows else None
                real = performance.realized(labels, scores, seed=seed)
            est = performance.estimated(side.calibrated, scores)
            concept = (
                performance.concept_drift(real, est, side.calibrated.reference)
                if side.has_labels
                else ConceptDrift(None, "no labels: pass label_column= naming them")
            )
        return MonitorWindow(
            index=w.index,
            start=_iso(w.start),
            end=_iso(w.end),
            rows=w.rows,
            features=verdicts,
            dataset_drift=dataset_drift,
            drift_share=drift_share,
            multivariate=multi,
            prediction_drift=prediction,
            quality=quality,
            performance=real,
            label_coverage=coverage,
            estimated=est,
            concept_drift=concept,
            ops=ops,
            distributions={
                name: drift.window_summary(profile, wf, name, self.shapes[name])
                for name in features
            },
            notes=tuple(notes),
        )


def _check_columns(
    frame: pd.DataFrame, label: str, *, label_column: str | None, score_column: str | None
) -> None:
    """Columns named on purpose must exist (a default name may be absent: no labels yet)."""
    for role, column in (("label_column", label_column), ("score_column", score_column)):
        if column is not None and column not in frame.columns:
            raise InvalidArgumentError(
                f"{role}={column!r} is not a column of the current data ({label}); its "
                f"columns are {list(frame.columns)[:30]}."
                + did_you_mean(column, [str(c) for c in frame.columns])
            )


class _QualityChecker:
    """The data-quality anomalies of a window against the reference's schema and profile
    (:func:`loopml.data.validate.validate_table`), distribution drift and safe type changes
    left out."""

    def __init__(self, ref: Data, features: list[str]) -> None:
        import pyarrow as pa

        from loopml.core.entities import DatasetSchema
        from loopml.data.profile import profile_table

        schema = ref.schema()
        self.schema = DatasetSchema(tuple(c for c in schema.columns if c.name in features))
        if ref.version is not None:
            self.profile = ref.version.profile
        else:
            table = pa.Table.from_pandas(ref.frame()[features], preserve_index=False)
            self.profile = profile_table(table, self.schema)
        self.label = ref.label
        self.features = features

    def __call__(self, frame: pd.DataFrame) -> tuple[Anomaly, ...]:
        import pyarrow as pa

        from loopml.data.validate import validate_table

        present = [c for c in self.features if c in frame.columns]
        table = pa.Table.from_pandas(frame[present], preserve_index=False)
        report = validate_table(table, self.schema, self.profile, against=self.label)
        # drift is in `features`; a safe type change (large_string for string) is how pandas
        # holds the window, not a property of the data
        return tuple(
            a
            for a in report.anomalies
            if a.kind != "distribution_shift"
            and not (a.kind == "type_change" and a.severity == "warning")
        )
