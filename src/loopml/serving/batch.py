"""Batch scoring: a file of rows in, a Parquet file of predictions out, in chunks, logged like
the server (route ``batch``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from loopml.core.errors import InvalidArgumentError, NotFoundError
from loopml.registry import LoadedModel, ModelRegistry
from loopml.registry.loaded import RuntimeChoice
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
) -> int:
    """Score every row of ``source`` with ``model`` and write ``out`` (Parquet): the input
    columns, ``prediction``, one ``proba_<label>`` column per class, and ``prediction_id``.
    ``runtime`` is the model's own library (default), its checked ONNX export (``onnx``), or
    the export when there is one (``auto``, as the server).

    Returns:
        The number of rows scored.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgumentError(f"The batch size must be an int >= 1. Got {batch_size!r}.")
    loaded = registry.load(model, runtime=runtime)
    batches, total = _batches(Path(source), batch_size)
    settings = registry.backend.settings
    journal = None
    if log:
        from loopml.store.logs import PredictionLog

        spool = spool_dir or settings.home / "spool" / f"batch-{uuid.uuid4().hex[:12]}"
        journal = PredictionLog(spool)
    done = 0
    writer: Any = None
    tmp = Path(out).with_name(Path(out).name + ".partial")
    try:
        for batch in batches:
            frame = batch.to_pandas()
            scored = _score(loaded, frame)
            table = pa.Table.from_pandas(scored, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
            if journal is not None:
                _journal(journal, loaded, scored)
            done += len(frame)
            if on_progress is not None:
                on_progress(done, total)
        if writer is None:
            raise InvalidArgumentError(f"{source} has no rows to score.")
        writer.close()
        writer = None
        tmp.replace(out)
    finally:
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


def _journal(journal: Any, loaded: LoadedModel, scored: Any) -> None:
    from loopml.store.logs import PredictionRecord

    at = int(time.time() * 1000)
    inputs = scored[list(loaded.signature.input_names)].to_dict(orient="records")
    predictions = scored["prediction"].tolist()
    ids = scored["prediction_id"].tolist()
    version = loaded.version
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
