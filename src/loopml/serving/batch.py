"""Batch scoring: a file of rows in, a Parquet file of predictions out, in chunks, logged like
the server (route ``batch``), with each row's event time and id taken from columns of the file
when asked (``timestamp_column``, ``id_column``: checked whole before anything is scored).

The chunks are scored on an executor (``loopml.compute``): in this process by default, or in
parallel on a local process pool or Ray, where each worker loads the model once (the registry's
per-process cache) and the caller writes the chunks and the log in the input order."""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from loopml.compute import Executor, get_executor
from loopml.core.entities import ModelVersion
from loopml.core.errors import InvalidArgumentError, NotFoundError, did_you_mean
from loopml.core.settings import Settings
from loopml.registry import LoadedModel, ModelRegistry
from loopml.registry.loaded import RuntimeChoice
from loopml.serving.caller_rows import CallerRows, caller_ids, event_times
from loopml.serving.routing import BATCH

Progress = Callable[[int, int | None], None]


def _batches(source: Path, batch_size: int) -> tuple[Iterator[Any], int | None]:
    import pyarrow.csv as pv
    import pyarrow.parquet as pq

    if not source.exists():
        raise NotFoundError(f"No input file {source}. Pass a Parquet or CSV file of rows.")
    suffix = source.suffix.lower()
    if suffix in (".parquet", ".pq"):
        parquet = pq.ParquetFile(source)
        return parquet.iter_batches(batch_size=batch_size), parquet.metadata.num_rows
    if suffix == ".csv":
        reader = pv.open_csv(source, read_options=pv.ReadOptions(block_size=1 << 22))
        return iter(reader), None
    raise InvalidArgumentError(
        f"Cannot score {source}: use a .parquet or .csv file (got {suffix or 'no extension'})."
    )


def _caller_columns(
    source: Path, timestamp_column: str | None, id_column: str | None
) -> CallerRows | None:
    """The event times and ids of every row of ``source``, read from its columns and checked
    whole (ids unique in the file) before anything is scored or logged."""
    if timestamp_column is None and id_column is None:
        return None
    import pyarrow as pa
    import pyarrow.csv as pv
    import pyarrow.parquet as pq

    wanted = list(dict.fromkeys(c for c in (timestamp_column, id_column) if c is not None))
    csv = source.suffix.lower() == ".csv"
    names = pv.open_csv(source).schema.names if csv else pq.ParquetFile(source).schema_arrow.names
    for name in wanted:
        if name not in names:
            what = "event time" if name == timestamp_column else "id"
            raise InvalidArgumentError(
                f"{source} has no column {name!r} to take each row's {what} from; its columns "
                f"are {', '.join(names)}.{did_you_mean(name, names)}"
            )
    if csv:  # ids as written ('007' stays '007'); times as Arrow infers them (text or numbers)
        as_text = id_column is not None and id_column != timestamp_column
        types = {id_column: pa.string()} if as_text else {}
        options = pv.ConvertOptions(include_columns=wanted, column_types=types)
        table = pv.read_csv(source, convert_options=options)
    else:
        table = pq.read_table(source, columns=wanted)
    try:
        event_at = None
        if timestamp_column is not None:
            column = table[timestamp_column]
            temporal = pa.types.is_timestamp(column.type) or pa.types.is_date(column.type)
            times = column.to_pandas() if temporal else column.to_pylist()
            event_at = event_times(times, rows=table.num_rows)
        ids = None
        if id_column is not None:
            ids = caller_ids(table[id_column].to_pylist(), rows=table.num_rows)
    except InvalidArgumentError as exc:
        column_name = timestamp_column if event_at is None else id_column
        raise InvalidArgumentError(
            f"In the column {column_name!r} of {source}: {exc} (rows counted from 0)"
        ) from None
    return CallerRows(event_at=event_at, ids=ids)


def score_file(
    registry: ModelRegistry,
    model: str,
    source: Path,
    out: Path,
    *,
    batch_size: int = 50_000,
    log: bool = True,
    spool_dir: Path | None = None,
    logs_url: str | None = None,
    on_progress: Progress | None = None,
    runtime: RuntimeChoice = "native",
    timestamp_column: str | None = None,
    id_column: str | None = None,
    executor: str | Executor = "inprocess",
) -> int:
    """Score every row of ``source`` with ``model`` and write ``out`` (Parquet): the input
    columns, ``prediction``, one ``proba_<label>`` column per class, and ``prediction_id``.
    ``runtime`` is the model's own library (default), its checked ONNX export (``onnx``), or
    the export when there is one (``auto``, as the server). ``timestamp_column`` and
    ``id_column`` name columns of ``source`` holding each row's event time (ISO 8601 text,
    naive = UTC, epoch milliseconds, or a timestamp column) and the caller's id of it (unique
    in the file), logged as the rows' ``event_at`` and ``caller_id``; both are read and
    checked whole before anything is scored. ``executor`` scores the chunks: ``inprocess``
    (default, one after the other here), ``process`` or ``ray`` (in parallel, each worker
    loading the model once; the output and the log keep the input order), or an executor of
    :func:`loopml.compute.get_executor`, which is left open.

    Returns:
        The number of rows scored.

    Raises:
        InvalidArgumentError: A bad batch size, file type, an empty file, a time or id
            column that is missing or holds a bad value (named with its row), or an unknown
            executor.
        NotFoundError: No such file or model.
        ImportError: ``executor="ray"`` without Ray installed.
        WorkerDiedError: A worker died scoring a chunk, after the executor's retries.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgumentError(f"The batch size must be an int >= 1. Got {batch_size!r}.")
    loaded = registry.load(model, runtime=runtime)
    batches, total = _batches(Path(source), batch_size)
    caller = _caller_columns(Path(source), timestamp_column, id_column) if log else None
    settings = registry.backend.settings
    if isinstance(executor, str):
        pool, owned = get_executor(executor), True
    elif isinstance(executor, Executor):
        pool, owned = executor, False
    else:
        raise InvalidArgumentError(
            f"The executor must be a name (inprocess, process, ray) or an executor of "
            f"loopml.compute.get_executor. Got {executor!r} instead."
        )
    task: Callable[[Any], Any]
    if pool.pickles:  # a worker loads the model itself, once (the per-process cache)
        task = _Scorer(settings, loaded.version, loaded.runtime)
        in_flight = 2 * pool.parallelism  # chunks read ahead: workers busy, memory bounded
    else:
        task, in_flight = (lambda frame: _score(loaded, frame)), 1
    journal = None
    if log:
        from loopml.store.logs import PredictionLog

        spool = spool_dir or settings.home / "spool" / f"batch-{uuid.uuid4().hex[:12]}"
        journal = PredictionLog(spool)
    done = 0
    writer: Any = None
    tmp = Path(out).with_name(Path(out).name + ".partial")
    pending: deque[Future[Any]] = deque()

    def write(scored: Any) -> None:
        nonlocal writer, done
        table = pa.Table.from_pandas(scored, preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema)
        writer.write_table(table)
        if journal is not None:
            _journal(journal, loaded, scored, _rows_of(caller, done, done + len(scored)))
        done += len(scored)
        if on_progress is not None:
            on_progress(done, total)

    try:
        for batch in batches:
            pending.append(pool.submit(task, batch.to_pandas()))
            while len(pending) >= in_flight:
                write(pending.popleft().result())
        while pending:
            write(pending.popleft().result())
        if writer is None:
            raise InvalidArgumentError(f"{source} has no rows to score.")
        writer.close()
        writer = None
        tmp.replace(out)
    finally:
        for future in pending:  # a chunk failed: the rest are not written
            future.cancel()
        if owned:
            pool.shutdown(wait=True, cancel_futures=True)
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
        if journal is not None:
            journal.close()
            from loopml.store.logs.compaction import compact
            from loopml.store.logs.orphans import remove_if_done

            compact(journal.spool_dir, logs_url or settings.logs_url)
            remove_if_done(journal.spool_dir)
    return done


@dataclass(frozen=True)
class _Scorer:
    """Scores a chunk in a worker: the model is loaded there from the stores, once per worker
    process (the registry's cache), and only the version's record travels with each chunk."""

    settings: Settings
    version: ModelVersion
    runtime: RuntimeChoice

    def __call__(self, frame: Any) -> Any:
        from loopml.store.backend import open_backend

        loaded = ModelRegistry(open_backend(self.settings)).load(self.version, runtime=self.runtime)
        return _score(loaded, frame)


def _score(loaded: LoadedModel, frame: Any) -> Any:
    prepared = loaded.prepare(frame)
    out = frame.copy()
    out["prediction"] = loaded.raw.predict(prepared)
    if loaded.signature.output.has_proba:
        proba = np.asarray(loaded.raw.predict_proba(prepared), dtype=float)
        for i, label in enumerate(loaded.classes):
            out[f"proba_{label}"] = proba[:, i]
    out["prediction_id"] = [uuid.uuid4().hex for _ in range(len(out))]
    return out


def _rows_of(caller: CallerRows | None, start: int, stop: int) -> CallerRows:
    """The event times and ids of rows ``start`` to ``stop`` (None each when not given)."""
    if caller is None:
        return CallerRows()
    return CallerRows(
        event_at=None if caller.event_at is None else caller.event_at[start:stop],
        ids=None if caller.ids is None else caller.ids[start:stop],
    )


def _journal(journal: Any, loaded: LoadedModel, scored: Any, caller: CallerRows) -> None:
    from loopml.store.logs import PredictionRecord

    at = int(time.time() * 1000)
    inputs = scored[list(loaded.signature.input_names)].to_dict(orient="records")
    predictions = scored["prediction"].tolist()
    ids = scored["prediction_id"].tolist()
    version = loaded.version
    none: list[None] = [None] * len(ids)
    event_at: Sequence[int | None] = none if caller.event_at is None else caller.event_at
    caller_id: Sequence[str | None] = none if caller.ids is None else caller.ids
    journal.append_many(
        [
            PredictionRecord(
                prediction_id=ids[i],
                model=version.name,
                version=version.version,
                route=BATCH,
                at=at,
                latency_ms=0.0,
                inputs={str(k): _plain(v) for k, v in inputs[i].items()},
                output=_plain(predictions[i]),
                proba=None,
                request_key=None,
                error=None,
                event_at=event_at[i],
                caller_id=caller_id[i],
            )
            for i in range(len(ids))
        ],
        wait=True,  # a chunk larger than the queue is written here, never dropped
    )


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:  # noqa: PLR0124 - NaN check
        return None
    return value
