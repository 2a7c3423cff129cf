"""The server's Prometheus metrics, in a registry of its own (one per service, so several
services in one process, as in tests, do not collide)."""

from __future__ import annotations

from typing import Any

#: Latency buckets (seconds): sub-millisecond to a few seconds.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024)


class ServingMetrics:
    """Counters and histograms of one inference service.

    Attributes:
        requests: Requests answered, by route and version.
        rows: Rows predicted, by route and version.
        errors: Requests refused or failed, by kind (``invalid``, ``model``, ``timeout``,
            ``guardrail``, ``rows``: the model refused the rows' values, ``unavailable``).
        fallbacks: Requests answered by the fallback, by reason.
        latency: Request latency in seconds, by route.
        batch_rows: Rows per model call (micro-batching at work).
        log_dropped: Prediction-log records dropped because the spool could not keep up.
        swaps: Model versions swapped in while serving.
    """

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "loopml_requests", "Requests answered", ["route", "version"], registry=r
        )
        self.rows = Counter("loopml_rows", "Rows predicted", ["route", "version"], registry=r)
        self.errors = Counter("loopml_errors", "Requests refused or failed", ["kind"], registry=r)
        self.fallbacks = Counter(
            "loopml_fallbacks", "Requests answered by the fallback", ["reason"], registry=r
        )
        self.latency = Histogram(
            "loopml_request_seconds",
            "Request latency",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_rows = Histogram(
            "loopml_batch_rows", "Rows per model call", buckets=BATCH_BUCKETS, registry=r
        )
        self.log_dropped = Gauge(
            "loopml_log_dropped", "Prediction-log records dropped (spool behind)", registry=r
        )
        self.log_pending = Gauge(
            "loopml_log_pending", "Prediction-log records waiting for the spool", registry=r
        )
        self.swaps = Counter("loopml_model_swaps", "Versions swapped in", ["role"], registry=r)

        self._answered: dict[tuple[str, int], tuple[Any, Any, Any]] = {}

    def answered(self, route: str, version: int, rows: int, seconds: float) -> None:
        """Count one answered request (its label children are looked up once per route and
        version, not on every request)."""
        children = self._answered.get((route, version))
        if children is None:
            labels = {"route": route, "version": str(version)}
            children = (
                self.requests.labels(**labels),
                self.rows.labels(**labels),
                self.latency.labels(route=route),
            )
            self._answered[(route, version)] = children
        requests, rows_counter, latency = children
        requests.inc()
        rows_counter.inc(rows)
        latency.observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def value(self, name: str, **labels: Any) -> float:
        """One sample's value (tests and the CLI)."""
        found = self.registry.get_sample_value(name, labels or None)
        return 0.0 if found is None else float(found)
