"""The driver of a pipeline run: it traces the graph, checks it, writes the runs, and keeps
every step whose inputs are ready submitted to the executor, waiting with
``concurrent.futures.wait(FIRST_COMPLETED)``. There is no scheduler of loopml's own: the
executor runs what it is given, in parallel when it can.

When a step fails (after its retries) nothing new is submitted; the steps already running
finish and are recorded (finished steps are the cache, so a new run resumes after them), and
the pipeline run ends FAILED with the step and the error.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from loopml.core.entities import ArtifactEntry, DatasetVersion, RunStatus
from loopml.core.errors import InvalidArgumentError, StepFailedError
from loopml.core.ids import RunId
from loopml.pipelines import cache as tags
from loopml.pipelines.cache import cache_key, find_cached, input_hashes
from loopml.pipelines.driver_steps import DriverContext, DriverStep
from loopml.pipelines.executor import LazyExecutor
from loopml.pipelines.graph import Node, Trace, canonical_json
from loopml.pipelines.records import StepRecords, param_texts
from loopml.pipelines.result import PipelineRun, StepResult
from loopml.pipelines.returns import load_returns, resolve_returns, stored_in
from loopml.pipelines.values import StoredValue, load_value
from loopml.pipelines.worker import StepOutcome, StepTask

if TYPE_CHECKING:
    from loopml.core.settings import Settings
    from loopml.data import DatasetService
    from loopml.pipelines.pipeline_function import Pipeline
    from loopml.store.backend import Backend
    from loopml.tracking import TrackingService

InputRefs = dict[str, StoredValue | tuple[StoredValue, ...]]
StepEvent = Literal["running", "retrying", "finished", "failed"]
OnStep = Callable[[str, StepEvent, StepResult | None], None]

#: The pipeline run's artifact holding where its return values are stored.
OUTPUTS_FILE = "pipeline_outputs.json"


@dataclass
class _Running:
    """A step submitted to the executor."""

    node: Node
    run_id: RunId
    key: str
    task: StepTask
    started: float
    attempts: int = 1


@dataclass
class _Run:
    """The state of one pipeline run in the driver."""

    pipeline: Pipeline
    trace: Trace
    backend: Backend
    tracking: TrackingService
    datasets: DatasetService
    pool: LazyExecutor
    force: bool
    run_id: RunId
    records: StepRecords
    results: dict[str, StepResult] = field(default_factory=dict)
    outputs: dict[str, tuple[StoredValue, ...]] = field(default_factory=dict)
    versions: dict[str, DatasetVersion] = field(default_factory=dict)
    running: dict[concurrent.futures.Future[StepOutcome], _Running] = field(default_factory=dict)
    failure: tuple[str, RunId, BaseException] | None = None
    on_step: OnStep | None = None

    def tell(self, name: str, event: StepEvent, result: StepResult | None = None) -> None:
        if self.on_step is not None:
            self.on_step(name, event, result)

    @property
    def artifacts_url(self) -> str:
        return self.backend.artifacts.url


def run_pipeline(
    pipeline: Pipeline,
    params: dict[str, Any],
    *,
    executor: str,
    force: bool,
    max_workers: int | None,
    experiment: str | None,
    settings: Settings | None,
    on_step: OnStep | None = None,
) -> PipelineRun:
    """Run ``pipeline`` with bound ``params``; see :meth:`Pipeline.run`.

    ``on_step(name, event, result)`` is called in this thread as each step goes:
    ``"running"`` (submitted, or started in the driver; result None), ``"retrying"`` (it
    failed and runs again; None), ``"finished"`` (a hit or a new result) or ``"failed"``.
    """
    from loopml.core.settings import resolve_settings
    from loopml.data import DatasetService
    from loopml.store.backend import open_backend
    from loopml.tracking import TrackingService

    trace, returns = pipeline.trace(params)
    settings = settings if settings is not None else resolve_settings()
    pool = LazyExecutor(executor, max_workers=max_workers, settings=settings)
    backend = open_backend(settings)
    tracking = TrackingService(backend)
    started = time.perf_counter()
    with pool:
        _check_sendable(trace, pool, backend.artifacts.url)
        params_key = hashlib.sha256(canonical_json(params).encode()).hexdigest()
        resumed_from = _failed_before(tracking, pipeline.name, params_key)
        run_tags = {
            tags.TAG_PIPELINE: pipeline.name,
            tags.TAG_PIPELINE_SOURCE: pipeline.source,
            tags.TAG_PIPELINE_EXECUTOR: pool.name,
            tags.TAG_PIPELINE_PARAMS_KEY: params_key,
        }
        if resumed_from is not None:
            run_tags[tags.TAG_PIPELINE_RESUMED_FROM] = resumed_from
        top = tracking.create_run(
            experiment=experiment or pipeline.name, name=pipeline.name, tags=run_tags
        )
        state = _Run(
            pipeline=pipeline,
            trace=trace,
            backend=backend,
            tracking=tracking,
            datasets=DatasetService(backend),
            pool=pool,
            force=force,
            run_id=top.run_id,
            records=StepRecords(tracking, top.run_id),
            on_step=on_step,
        )
        try:
            if params:
                tracking.log_params(top.run_id, param_texts(params))
            _drive(state)
        except BaseException as exc:
            _abandon(state, exc)
            raise
    seconds = time.perf_counter() - started
    return _finish(state, returns, params, seconds, resumed_from)


def _check_sendable(trace: Trace, pool: LazyExecutor, artifacts_url: str) -> None:
    """Refuse, before anything runs, a step whose code cannot travel to the workers."""
    for node in trace.nodes.values():
        if node.step.in_driver:
            continue
        task = StepTask(node.name, node.step.fn, node.params, {}, node.step.outputs, artifacts_url)
        try:
            pool.check(task)
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(
                f"Step {node.name!r} cannot run on the {pool.name!r} executor: {exc}"
            ) from None


def _failed_before(tracking: TrackingService, pipeline: str, params_key: str) -> str | None:
    """The last run of this pipeline with these params, when it FAILED (this run resumes it)."""
    runs = tracking.search_runs(
        filter=f"tags.`{tags.TAG_PIPELINE}` = '{pipeline}' and "
        f"tags.`{tags.TAG_PIPELINE_PARAMS_KEY}` = '{params_key}'",
        limit=1,
    )
    if runs and runs[0].status is RunStatus.FAILED:
        return runs[0].run_id
    return None


# -- the loop -----------------------------------------------------------------------------


def _drive(state: _Run) -> None:
    pending = dict(state.trace.nodes)
    while pending or state.running:
        progressed = True
        while progressed and state.failure is None:  # hits and driver steps unlock others
            progressed = False
            for name, node in list(pending.items()):
                if node.upstream <= state.outputs.keys():
                    del pending[name]
                    _start(state, node)
                    progressed = True
                    if _has_failed(state):
                        break
        if not state.running:
            break
        done, _ = concurrent.futures.wait(
            list(state.running), return_when=concurrent.futures.FIRST_COMPLETED
        )
        for future in done:
            _collect(state, future, state.running.pop(future))
    for name in pending:
        state.results[name] = StepResult(False, 0.0, "", "", name, "NOT_RUN")


def _has_failed(state: _Run) -> bool:
    return state.failure is not None


def _inputs(state: _Run, node: Node) -> InputRefs:
    refs: InputRefs = {}
    for arg, value in node.inputs.items():
        if isinstance(value, tuple):
            refs[arg] = tuple(state.outputs[h.node][h.index] for h in value)
        else:
            refs[arg] = state.outputs[value.node][value.index]
    return refs


def _start(state: _Run, node: Node) -> None:
    began = time.perf_counter()
    step = node.step
    inputs = _inputs(state, node)
    code = step.code_identity()
    key = cache_key(code, node.params, inputs, step.outputs)
    hashes = input_hashes(inputs)
    if step.cache and not state.force:
        found = find_cached(state.tracking.store, state.backend.artifacts, key)
        if found is not None:
            source, outputs = found
            run_id = state.records.start(
                node.name, params=node.params, key=key, code=code, inputs=hashes, hit=True
            )
            seconds = time.perf_counter() - began
            cached_from = source.tags.get(tags.TAG_STEP_CACHED_FROM, source.run_id)
            state.records.finish(
                run_id,
                outputs,
                seconds=seconds,
                extra_tags={tags.TAG_STEP_CACHED_FROM: cached_from, **_lineage(source.tags)},
            )
            result = StepResult(
                cache_hit=True,
                seconds=seconds,
                run_id=run_id,
                cache_key=key,
                name=node.name,
                status="FINISHED",
                outputs=outputs,
                cached_from=cached_from,
            )
            _done(state, node, result)
            return
    run_id = state.records.start(
        node.name, params=node.params, key=key, code=code, inputs=hashes, hit=False
    )
    state.tell(node.name, "running")
    if isinstance(step, DriverStep):
        _run_in_driver(state, node, step=step, run_id=run_id, key=key, inputs=inputs, began=began)
        return
    task = StepTask(node.name, step.fn, node.params, inputs, step.outputs, state.artifacts_url)
    _submit(state, _Running(node, run_id, key, task, began))


def _lineage(run_tags: Mapping[str, str]) -> dict[str, str]:
    """What a cached driver step read or wrote, carried to the run that reuses it."""
    from loopml.pipelines.driver_steps import TAG_READ, TAG_WROTE

    return {k: v for k, v in run_tags.items() if k in (TAG_READ, TAG_WROTE)}


def _submit(state: _Run, running: _Running) -> None:
    try:
        future = state.pool.submit(running.task)
    except Exception as exc:  # the executor was shut down, the cluster went away
        _failed(
            state,
            running.node,
            run_id=running.run_id,
            key=running.key,
            error=exc,
            attempts=running.attempts,
        )
        return
    state.running[future] = running


def _collect(
    state: _Run, future: concurrent.futures.Future[StepOutcome], running: _Running
) -> None:
    node = running.node
    try:
        outcome = future.result()
    except Exception as exc:
        if running.attempts <= node.step.retries and state.failure is None:
            running.attempts += 1
            state.tell(node.name, "retrying")
            _submit(state, running)
            return
        _failed(
            state,
            node,
            run_id=running.run_id,
            key=running.key,
            error=exc,
            attempts=running.attempts,
        )
        return
    seconds = time.perf_counter() - running.started
    state.records.finish(
        running.run_id,
        outcome.outputs,
        seconds=seconds,
        extra_tags={
            tags.TAG_STEP_ATTEMPTS: str(running.attempts),
            tags.TAG_STEP_WORKER: f"{outcome.host}:{outcome.pid}",
            tags.TAG_STEP_STARTED: repr(outcome.started_at),
            tags.TAG_STEP_ENDED: repr(outcome.ended_at),
        },
    )
    result = StepResult(
        cache_hit=False,
        seconds=seconds,
        run_id=running.run_id,
        cache_key=running.key,
        name=node.name,
        status="FINISHED",
        outputs=outcome.outputs,
        started_at=outcome.started_at,
        ended_at=outcome.ended_at,
        attempts=running.attempts,
    )
    _done(state, node, result)


def _run_in_driver(
    state: _Run,
    node: Node,
    *,
    step: DriverStep,
    run_id: RunId,
    key: str,
    inputs: InputRefs,
    began: float,
) -> None:
    ctx = DriverContext(
        backend=state.backend,
        tracking=state.tracking,
        datasets=state.datasets,
        pipeline_run=state.run_id,
        step_run=run_id,
        versions=state.versions,
    )
    started = time.time()
    try:
        outputs = step.execute(ctx, node.params, inputs)
    except Exception as exc:
        _failed(state, node, run_id=run_id, key=key, error=exc, attempts=1)
        return
    seconds = time.perf_counter() - began
    state.records.finish(run_id, outputs, seconds=seconds, extra_tags=ctx.tags)
    result = StepResult(
        cache_hit=False,
        seconds=seconds,
        run_id=run_id,
        cache_key=key,
        name=node.name,
        status="FINISHED",
        outputs=outputs,
        started_at=started,
        ended_at=time.time(),
        attempts=1,
    )
    _done(state, node, result)


def _done(state: _Run, node: Node, result: StepResult) -> None:
    state.results[node.name] = result
    state.outputs[node.name] = result.outputs
    state.tell(node.name, "finished", result)


def _failed(
    state: _Run, node: Node, *, run_id: RunId, key: str, error: BaseException, attempts: int
) -> None:
    state.records.fail(run_id, error, attempts=attempts)
    text = f"{type(error).__name__}: {error}"
    state.results[node.name] = StepResult(
        False, 0.0, run_id, key, node.name, "FAILED", attempts=attempts, error=text
    )
    if state.failure is None:
        state.failure = (node.name, run_id, error)
    state.tell(node.name, "failed", state.results[node.name])


def _abandon(state: _Run, error: BaseException) -> None:
    """The driver itself stopped (Ctrl-C, a store error): end every open run."""
    status = RunStatus.FAILED if isinstance(error, Exception) else RunStatus.KILLED
    for future, running in state.running.items():
        future.cancel()
        state.tracking.end_run(running.run_id, status=status, error=error)
    state.running.clear()
    state.pool.shutdown(wait=False, cancel_futures=True)
    state.tracking.end_run(state.run_id, status=status, error=error)


# -- the end ------------------------------------------------------------------------------


def _finish(
    state: _Run,
    returns: Any,
    params: dict[str, Any],
    seconds: float,
    resumed_from: str | None,
) -> PipelineRun:
    tracking = state.tracking
    steps = {name: state.results[name] for name in state.trace.nodes}
    hits = sum(s.cache_hit for s in steps.values())
    summary = {tags.TAG_PIPELINE_HITS: f"{hits}/{len(steps)}"}
    if state.failure is not None:
        name, step_run, error = state.failure
        tracking.set_tags(state.run_id, summary)
        message = (
            f"Step {name!r} of pipeline {state.pipeline.name!r} failed: "
            f"{type(error).__name__}: {error}"
        )
        tracking.end_run(state.run_id, status=RunStatus.FAILED, error=message)
        result = _pipeline_run(
            state,
            RunStatus.FAILED,
            steps=steps,
            params=params,
            seconds=seconds,
            resumed_from=resumed_from,
        )
        done = [n for n, s in steps.items() if s.status == "FINISHED"]
        raise StepFailedError(
            f"{message.rstrip('.')}. Pipeline run {state.run_id} is FAILED; the step's run "
            f"{step_run} holds the traceback. The steps that finished "
            f"({', '.join(done) or 'none'}) are cached: run the pipeline again with the same "
            "parameters to resume after them.",
            step=name,
            run_id=state.run_id,
            step_run_id=step_run,
            pipeline_run=result,
        ) from error
    resolved = resolve_returns(returns, lambda node: state.outputs[node])
    tracking.artifacts.log_bytes(state.run_id, json.dumps(resolved).encode(), OUTPUTS_FILE)
    tracking.store.add_artifacts(
        state.run_id,
        [ArtifactEntry(f"outputs/{o.filename}", o.digest, o.size) for o in stored_in(resolved)],
    )
    tracking.set_tags(state.run_id, summary)
    tracking.end_run(state.run_id, status=RunStatus.FINISHED)
    result = _pipeline_run(
        state,
        RunStatus.FINISHED,
        steps=steps,
        params=params,
        seconds=seconds,
        resumed_from=resumed_from,
    )
    result = replace(result, output_refs=resolved)
    artifacts = state.backend.artifacts
    return result.with_outputs(load_returns(resolved, lambda s: load_value(artifacts, s)))


def _pipeline_run(
    state: _Run,
    status: RunStatus,
    *,
    steps: dict[str, StepResult],
    params: dict[str, Any],
    seconds: float,
    resumed_from: str | None,
) -> PipelineRun:
    return PipelineRun(
        run_id=state.run_id,
        pipeline=state.pipeline.name,
        status=status,
        steps=steps,
        params=params,
        executor=state.pool.name,
        seconds=seconds,
        resumed_from=resumed_from,
    )
