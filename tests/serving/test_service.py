"""The inference service in-process, with real models trained on real data: canary split and
stickiness, shadow isolation, fallback on exception and deadline, hot swap, micro-batching."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.core.settings import Settings
from loopml.registry import ModelRegistry, PythonModel
from loopml.registry.loaded import PREDICTORS
from loopml.serving import (
    InferenceService,
    ModelUnavailableError,
    Router,
    RowsRejectedError,
    ServeConfig,
)
from loopml.store.backend import open_backend

#: Gates a Flaky model can wait at, by name: a test holds a model inside its call until it
#: says so (module-level, so the model loaded back from its package shares them).
GATES: dict[str, Gate] = {}


class Gate:
    """A model call held until released: ``entered`` is set when a call arrives, ``released``
    lets it go, ``timed_out`` records a call that was never released (a test's failure)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.released = threading.Event()
        self.timed_out = False

    def hold(self) -> None:
        self.entered.set()
        if not self.released.wait(timeout=30):
            self.timed_out = True


class Flaky(PythonModel):
    """Wraps a model; when a row's 'mean radius' is negative, raises or (with ``gate``) waits
    at that gate until the test releases it."""

    classes = (0, 1)

    def __init__(
        self, inner: Any, *, gate: str | None = None, error: type[Exception] = RuntimeError
    ) -> None:
        self.inner = inner
        self.gate = gate
        self.error = error

    def _check(self, frame: pd.DataFrame) -> None:
        if (frame["mean radius"] < 0).any():
            if self.gate is not None:
                GATES[self.gate].hold()
            else:
                raise self.error("boom")

    def predict(self, frame: pd.DataFrame) -> Any:
        self._check(frame)
        return self.inner.predict(frame.abs())

    def predict_proba(self, frame: pd.DataFrame) -> Any:
        self._check(frame)
        return self.inner.predict_proba(frame.abs())


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    X, _ = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.iloc[:, :5]


@pytest.fixture(scope="module")
def fitted(data: pd.DataFrame) -> dict[str, Any]:
    _, y = load_breast_cancer(return_X_y=True, as_frame=True)
    a = make_pipeline(StandardScaler(), LogisticRegression()).fit(data, y)
    b = make_pipeline(StandardScaler(), LogisticRegression(C=0.01)).fit(data, y)
    return {"a": a, "b": b}


@pytest.fixture
def registry(settings: Settings) -> Iterator[ModelRegistry]:
    PREDICTORS.clear()
    yield ModelRegistry(open_backend(settings))
    PREDICTORS.clear()


def _version(
    registry: ModelRegistry, model: Any, data: pd.DataFrame, *, champion: bool = False
) -> str:
    version = registry.register(model, "cancer", input_example=data.head())
    if champion:
        registry.approve(version.ref, comment="ok")
        registry.set_alias("cancer", "champion", version.version)
    return version.ref


def _run(service: InferenceService, coro: Any) -> Any:
    async def main() -> Any:
        try:
            return await coro
        finally:
            await service.stop()

    return asyncio.run(main())


def test_router_split_and_stickiness() -> None:
    router = Router(10, seed=0)
    keys = [f"customer-{i}" for i in range(5000)]
    routes = [router.route(k) for k in keys]
    share = routes.count("canary") / len(routes)
    assert 0.085 < share < 0.115
    assert [router.route(k) for k in keys] == routes  # the same key, the same route
    assert Router(0).route("x") == "champion" and Router(100).route("x") == "canary"
    unkeyed = [router.route() for _ in range(5000)]
    assert 0.085 < unkeyed.count("canary") / 5000 < 0.115
    with pytest.raises(InvalidArgumentError, match="percentage in \\[0, 100\\]"):
        Router(150)


def test_canary_answers_its_share_with_its_version(
    registry: ModelRegistry, fitted: dict[str, Any], data: pd.DataFrame
) -> None:
    champion = _version(registry, fitted["a"], data, champion=True)
    canary = _version(registry, fitted["b"], data)
    service = InferenceService(
        registry.backend,
        ServeConfig(model="cancer@champion", canary=(canary, 20), poll_interval_s=0),
    )
    rows = data.head(1).to_dict(orient="records")

    async def many() -> list[Any]:
        return [await service.predict(rows, key=f"k{i}") for i in range(400)]

    results = _run(service, many())
    by_route = {r.route for r in results}
    assert by_route == {"champion", "canary"}
    canaries = [r for r in results if r.route == "canary"]
    assert 0.14 < len(canaries) / 400 < 0.26
    assert {r.version for r in canaries} == {int(canary.split("@")[1])}
    assert {r.version for r in results if r.route == "champion"} == {int(champion.split("@")[1])}
    expected = fitted["b"].predict_proba(data.head(1))[0]
    assert canaries[0].proba is not None
    assert list(canaries[0].proba[0].values()) == pytest.approx(expected.tolist())
    assert service.metrics.value("loopml_requests_total", route="canary", version="2") == len(
        canaries
    )


def test_shadow_is_logged_never_returned_and_never_slows_or_breaks_the_live_path(
    registry: ModelRegistry, fitted: dict[str, Any], data: pd.DataFrame, tmp_path: Any
) -> None:
    _version(registry, fitted["a"], data, champion=True)
    gate = GATES["shadow"] = Gate()
    shadow = _version(registry, Flaky(fitted["b"], gate="shadow"), data)
    service = InferenceService(
        registry.backend,
        ServeConfig(
            model="cancer@champion",
            shadow=shadow,
            poll_interval_s=0,
            spool_dir=tmp_path / "spool",
        ),
    )
    slow_rows = data.head(2).assign(**{"mean radius": -data["mean radius"].head(2)})

    async def go() -> Any:
        result = await service.predict(slow_rows)
        # answered; the shadow now runs (held at its gate) and is released only after
        entered = await asyncio.to_thread(gate.entered.wait, 30)
        assert entered and not gate.released.is_set()
        gate.released.set()
        return result

    result = _run(service, go())
    assert result.route == "champion" and result.version == 1
    assert not gate.timed_out  # the live answer never waited for the shadow
    assert service.metrics.value("loopml_requests_total", route="shadow", version="2") == 1


def test_fallback_on_exception_and_on_deadline(
    registry: ModelRegistry, fitted: dict[str, Any], data: pd.DataFrame
) -> None:
    _version(registry, fitted["a"], data, champion=True)
    broken = _version(registry, Flaky(fitted["b"]), data, champion=True)
    assert broken.endswith("@2")
    bad = data.head(1).assign(**{"mean radius": -1.0})
    service = InferenceService(
        registry.backend, ServeConfig(model="cancer@champion", poll_interval_s=0)
    )
    result = _run(service, service.predict(bad))
    assert (result.route, result.version) == ("fallback", 1)  # the champion held @1 before
    assert result.reason == "cancer@2 failed: RuntimeError"  # the class, never the text
    assert service.metrics.value("loopml_errors_total", kind="model") == 1
    gate = GATES["deadline"] = Gate()
    slow = _version(registry, Flaky(fitted["b"], gate="deadline"), data)
    timed = InferenceService(
        registry.backend,
        ServeConfig(model=slow, fallback="cancer@1", timeout_ms=100, poll_interval_s=0),
    )

    async def past_the_deadline() -> Any:
        try:
            return await timed.predict(bad)  # the model is held until after the answer
        finally:
            gate.released.set()

    result = _run(timed, past_the_deadline())
    assert gate.entered.is_set() and not gate.timed_out
    assert result.route == "fallback" and "deadline" in (result.reason or "")
    none = InferenceService(
        registry.backend, ServeConfig(model=broken, fallback=None, poll_interval_s=0)
    )
    with pytest.raises(ModelUnavailableError, match="no fallback is configured"):
        _run(none, none.predict(bad))


def big_tumour(frame: pd.DataFrame) -> Any:
    """A heuristic fallback: importable as python:tests.serving.test_service:big_tumour."""
    return (frame["mean radius"].abs() > 19).astype(int), [[0.3, 0.7]] * len(frame)


def test_a_constant_or_a_heuristic_declared_with_the_deployment_falls_back(
    registry: ModelRegistry, fitted: dict[str, Any], data: pd.DataFrame
) -> None:
    flaky = _version(registry, Flaky(fitted["a"]), data)
    bad = pd.concat([data.head(2), data.iloc[[0]].assign(**{"mean radius": -20.0})])

    def served_with(fallback: Any) -> Any:
        service = InferenceService(
            registry.backend, ServeConfig(model=flaky, fallback=fallback, poll_interval_s=0)
        )
        return service, _run(service, service.predict(bad))

    service, constant = served_with("value:1")
    assert (constant.route, constant.version, constant.model) == ("fallback", 0, "cancer")
    assert constant.predictions == [1, 1, 1] and constant.proba is None
    assert constant.reason == f"{flaky} failed: RuntimeError"
    assert service.describe()["fallback"] == "value:1"
    assert service.metrics.value("loopml_fallbacks_total", reason="error") == 1
    for fallback in ("python:tests.serving.test_service:big_tumour", big_tumour):
        _, ruled = served_with(fallback)
        assert ruled.route == "fallback" and ruled.predictions == [0, 1, 1]  # 17.99, 20.57, 20
        assert ruled.proba == [{"0": 0.3, "1": 0.7}] * 3

    def wrong_length(frame: pd.DataFrame) -> list[int]:
        return [0]

    with pytest.raises(ModelUnavailableError, match="returned 1 predictions for 3 rows"):
        served_with(wrong_length)
    for spec, message in (
        ("value:[1]", "one number, text or boolean per row"),
        ("value:yes", "as JSON after 'value:'"),
        ("python:no_such_module_here:f", "Cannot import the fallback"),
        ("python:numpy", "python:module:function"),
    ):
        with pytest.raises(InvalidArgumentError, match=message):
            InferenceService(
                registry.backend, ServeConfig(model=flaky, fallback=spec, poll_interval_s=0)
            )


def test_versions_swapped_out_are_freed(
    registry: ModelRegistry, fitted: dict[str, Any], data: pd.DataFrame
) -> None:
    """A long-running server swaps versions for months: each one it stops serving must be
    freed (its micro-batcher used to keep it, and its model, forever)."""
    _version(registry, fitted["a"], data, champion=True)
    service = InferenceService(
        registry.backend, ServeConfig(model="cancer@champion", fallback=None, poll_interval_s=0)
    )
    served: list[weakref.ref[Any]] = []

    async def swaps() -> None:
        for model in ("b", "a", "b"):
            served.append(weakref.ref(service.slots["champion"].current))
            await asyncio.gather(*(service.predict(data.iloc[[i]]) for i in range(8)))
            _version(registry, fitted[model], data, champion=True)
            assert service.slots["champion"].refresh()
        await service.predict(data.head(1))

    _run(service, swaps())
    gc.collect()
    assert served[2]() is service.slots["champion"].previous  # kept: the one before
    assert served[0]() is None and served[1]() is None  # older ones: gone


def test_rows_that_break_the_model_fail_only_their_request(
    registry: ModelRegistry, fitted: dict[str, Any], data: pd.DataFrame
) -> None:
    flaky = _version(registry, Flaky(fitted["a"]), data)
    service = InferenceService(
        registry.backend,
        ServeConfig(model=flaky, fallback=None, max_batch=16, max_wait_ms=50, poll_interval_s=0),
    )
    rows = data.head(12).copy()
    rows.loc[5, "mean radius"] = -1.0  # one poisoned request among twelve

    async def burst() -> list[Any]:
        calls = (service.predict(rows.iloc[[i]]) for i in range(12))
        return await asyncio.gather(*calls, return_exceptions=True)

    results = _run(service, burst())
    assert isinstance(results[5], ModelUnavailableError) and "boom" in str(results[5])
    good = [r for i, r in enumerate(results) if i != 5]
    assert [r.predictions[0] for r in good] == fitted["a"].predict(rows.drop(index=5)).tolist()
    assert service.metrics.value("loopml_batch_rows_sum") > 12  # batched, then one by one


def test_values_the_model_refuses_are_the_callers_error(
    registry: ModelRegistry, fitted: dict[str, Any], data: pd.DataFrame
) -> None:
    """A ValueError (or arithmetic error) of the model's library blames the rows: 422, not
    503; any other exception stays the server's (503, see above)."""
    picky = _version(registry, Flaky(fitted["a"], error=ValueError), data)
    bad = data.head(1).assign(**{"mean radius": -1.0})
    for fallback in (None, picky):  # no fallback, or one that refuses the rows too
        service = InferenceService(
            registry.backend, ServeConfig(model=picky, fallback=fallback, poll_interval_s=0)
        )
        with pytest.raises(RowsRejectedError, match="cannot score these rows") as caught:
            _run(service, service.predict(bad))
        assert isinstance(caught.value, InvalidArgumentError)  # the HTTP app's 422
        assert "ValueError: boom" in str(caught.value)
        assert service.metrics.value("loopml_errors_total", kind="rows") == 1


def test_bad_input_names_the_column(
    registry: ModelRegistry, fitted: dict[str, Any], data: pd.DataFrame
) -> None:
    _version(registry, fitted["a"], data, champion=True)
    service = InferenceService(
        registry.backend, ServeConfig(model="cancer@champion", poll_interval_s=0)
    )
    with pytest.raises(InvalidArgumentError, match="mean radius"):
        _run(service, service.predict([{"mean texture": 1.0}]))
    assert service.metrics.value("loopml_errors_total", kind="invalid") == 1


def test_hot_swap_follows_the_alias_and_a_broken_version_keeps_the_old(
    registry: ModelRegistry, fitted: dict[str, Any], data: pd.DataFrame
) -> None:
    _version(registry, fitted["a"], data, champion=True)
    second = _version(registry, fitted["b"], data)
    service = InferenceService(
        registry.backend, ServeConfig(model="cancer@champion", poll_interval_s=0)
    )
    slot = service.slots["champion"]
    assert slot.current.ref == "cancer@1" and not slot.refresh()
    registry.approve(second, comment="ok")
    registry.set_alias("cancer", "champion", 2)
    assert slot.refresh() and slot.current.ref == "cancer@2" and slot.previous is not None
    # a version whose package is gone cannot load: the old one keeps serving, an event says so
    third = registry.register(fitted["a"], "cancer", input_example=data.head(2))
    manifest = registry.manifest(third)
    registry.approve(third.ref, comment="ok")
    registry.set_alias("cancer", "champion", 3)
    PREDICTORS.clear()
    for entry in manifest.files:
        for path in registry.cache_dir.parent.parent.rglob(f"*{entry.digest[2:]}*"):
            path.unlink()
    import shutil

    shutil.rmtree(registry.cache_dir, ignore_errors=True)
    assert not slot.refresh()
    assert slot.current.ref == "cancer@2"
    events = registry.backend.events.list_events(kind="deployment.swap_failed")
    assert [e.subject for e in events] == ["model:cancer@3"]
    assert not slot.refresh()  # the same broken version is not retried in a loop
    asyncio.run(service.stop())


def test_after_a_swap_the_fallback_is_what_a_fresh_start_would_serve(
    registry: ModelRegistry,
    fitted: dict[str, Any],
    data: pd.DataFrame,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A rollback of the champion used to leave the fallback route equal to the new champion
    (a fresh `serve` of the same state lists none)."""
    _version(registry, fitted["a"], data, champion=True)
    _version(registry, fitted["b"], data, champion=True)  # champion: 1 -> 2
    config = ServeConfig(model="cancer@champion", poll_interval_s=0)
    service = InferenceService(registry.backend, config)
    assert service.describe()["routes"] == {"champion": "cancer@2", "fallback": "cancer@1"}

    def fresh_routes() -> dict[str, str]:
        fresh = InferenceService(registry.backend, config)
        asyncio.run(fresh.stop())
        return dict(fresh.describe()["routes"])

    registry.rollback("cancer", reason="v2 misbehaves")  # champion: back to 1
    with caplog.at_level(logging.INFO, logger="loopml.serving"):
        assert service.slots["champion"].refresh()
    assert service.describe()["routes"] == fresh_routes() == {"champion": "cancer@1"}
    assert service.describe()["versions"] == ["1"]
    assert "cancer@champion now serves cancer@1 (was cancer@2); fallback: none" in caplog.text
    flaky = _version(registry, Flaky(fitted["b"]), data, champion=True)  # champion: 1 -> 3
    with caplog.at_level(logging.INFO, logger="loopml.serving"):
        assert service.slots["champion"].refresh()
    assert service.describe()["routes"] == fresh_routes()
    assert service.describe()["routes"] == {"champion": flaky, "fallback": "cancer@1"}
    assert "now serves cancer@3 (was cancer@1); fallback: cancer@1" in caplog.text
    result = _run(service, service.predict(data.head(1).assign(**{"mean radius": -1.0})))
    assert (result.route, result.version) == ("fallback", 1)


def test_hot_swap_under_load_loses_no_request(
    registry: ModelRegistry, fitted: dict[str, Any], data: pd.DataFrame
) -> None:
    _version(registry, fitted["a"], data, champion=True)
    second = _version(registry, fitted["b"], data)
    registry.approve(second, comment="ok")
    service = InferenceService(
        registry.backend, ServeConfig(model="cancer@champion", poll_interval_s=0.05)
    )
    rows = data.head(1).to_dict(orient="records")

    async def load() -> list[Any]:
        service.start()
        results = await asyncio.gather(*(service.predict(rows) for _ in range(8)))
        moved = threading.Thread(target=registry.set_alias, args=("cancer", "champion", 2))
        moved.start()  # while requests keep coming
        deadline = time.monotonic() + 30
        after = 0  # batches answered since the first answer of version 2
        while after < 5:
            assert time.monotonic() < deadline, "the watcher never swapped to version 2"
            batch = await asyncio.gather(*(service.predict(rows) for _ in range(8)))
            results.extend(batch)
            after += any(r.version == 2 for r in results)
        moved.join()
        return results

    results = _run(service, load())
    versions = [r.version for r in results]
    assert set(versions) == {1, 2}  # both served, no request failed
    first_two = versions.index(2)
    assert all(v == 2 for v in versions[first_two:])  # once swapped, never back


def test_micro_batching_merges_concurrent_requests(
    registry: ModelRegistry, fitted: dict[str, Any], data: pd.DataFrame
) -> None:
    _version(registry, fitted["a"], data, champion=True)
    service = InferenceService(
        registry.backend,
        ServeConfig(model="cancer@champion", max_batch=16, max_wait_ms=20, poll_interval_s=0),
    )
    rows = [r for r in data.head(32).to_dict(orient="records")]

    async def burst() -> list[Any]:
        return await asyncio.gather(*(service.predict([r]) for r in rows))

    results = _run(service, burst())
    expected = fitted["a"].predict(data.head(32))
    assert [r.predictions[0] for r in results] == expected.tolist()
    calls = service.metrics.value("loopml_batch_rows_count")
    assert calls < 32  # fewer model calls than requests
    assert service.metrics.value("loopml_batch_rows_sum") == 32
    assert np.isfinite(results[0].latency_ms)


def test_serving_the_checked_onnx_export(
    registry: ModelRegistry, fitted: dict[str, Any], data: pd.DataFrame
) -> None:
    ref = _version(registry, fitted["a"], data, champion=True)
    config = ServeConfig(model="cancer@champion", runtime="onnx", poll_interval_s=0)
    with pytest.raises(NotFoundError, match="has no ONNX export"):
        InferenceService(registry.backend, config)
    auto = ServeConfig(model="cancer@champion", poll_interval_s=0)  # the default: auto
    assert InferenceService(registry.backend, auto).describe()["runtimes"]["champion"] == "native"
    registry.export_onnx(ref, holdout=data)
    assert InferenceService(registry.backend, auto).describe()["runtimes"]["champion"] == "onnx"
    service = InferenceService(registry.backend, config)
    rows = data.head(50)
    result = _run(service, service.predict(rows))
    assert result.predictions == fitted["a"].predict(rows).tolist()
    assert result.proba is not None
    np.testing.assert_allclose(
        [list(p.values()) for p in result.proba], fitted["a"].predict_proba(rows), atol=1e-5
    )


def test_the_log_reaches_the_log_store_while_serving(
    registry: ModelRegistry, fitted: dict[str, Any], data: pd.DataFrame, tmp_path: Any
) -> None:
    from loopml.store.logs import read_predictions

    _version(registry, fitted["a"], data, champion=True)
    logs = str(tmp_path / "logs")
    service = InferenceService(
        registry.backend,
        ServeConfig(
            model="cancer@champion",
            poll_interval_s=0,
            spool_dir=tmp_path / "spool",
            logs_url=logs,
            compact_interval_s=0.2,
        ),
    )

    async def serve() -> tuple[list[str], bool]:
        service.start()
        ids: list[str] = []
        for i in range(20):
            ids += (await service.predict(data.iloc[[i]])).ids
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the compactor runs while the service is up
            await asyncio.sleep(0.1)
            found = read_predictions(logs, model="cancer").column("prediction_id").to_pylist()
            if sorted(found) == sorted(ids):
                return ids, True
        return ids, False

    ids, while_serving = _run(service, serve())
    assert while_serving
    found = read_predictions(logs, model="cancer").column("prediction_id").to_pylist()
    assert sorted(found) == sorted(ids)  # all there, none twice after the final compaction
