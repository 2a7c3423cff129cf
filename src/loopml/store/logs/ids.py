"""Which row ids name a logged prediction: :func:`known_ids`, for the delayed-label join.

A label names its row by the prediction id the server returned or by the caller's own id
(``caller_id``). The row may already be in the log store (Parquet) or still in a spool folder
(JSON Lines segments not compacted yet), so both are searched: the spool first, then the log
store, so that a segment compacted meanwhile is found in one or the other. The Parquet files
are joined with the ids as an Arrow table in DuckDB; files written before the ``caller_id``
column existed are read with ``union_by_name`` (and a log store without that column at all
matches on ``prediction_id`` alone). Spool segments are bounded in size and parsed line by
line (a torn last line of a dead writer is skipped).
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any

import orjson

from loopml.core.errors import StoreError
from loopml.store.logs.orphans import spool_folders
from loopml.store.logs.spool import NEW_SUFFIX, OPEN_SUFFIX, SEALED_SUFFIX, SEGMENT_PREFIX

#: The columns a label's row id may match, in the order they are tried.
ID_COLUMNS = ("prediction_id", "caller_id")


def known_ids(
    logs_url: str | None, spool_root: Path | None, model: str, ids: Collection[str]
) -> set[str]:
    """Return the ids of ``ids`` that name a logged prediction of ``model``.

    Args:
        logs_url: The log store (a folder or an fsspec URL); None to search the spool only.
        spool_root: A spool folder, or a folder of spool folders (``.loopml/spool``); None to
            search the log store only.
        model: The model name.
        ids: The row ids to look for (prediction ids or callers' ids).

    Returns:
        The ids found, as a set (empty when nothing was logged yet).

    Raises:
        StoreError: The log store cannot be read.

    Example:
        >>> import tempfile
        >>> known_ids(tempfile.mkdtemp(), None, "churn", ["a1"])
        set()
    """
    wanted = {str(i) for i in ids}
    if not wanted:
        return set()
    found = set() if spool_root is None else _in_spool(Path(spool_root), model, wanted)
    if logs_url is not None and len(found) < len(wanted):
        found |= _in_log_store(logs_url, model, wanted - found)
    return found


def _in_spool(root: Path, model: str, wanted: set[str]) -> set[str]:
    found: set[str] = set()
    for folder in spool_folders(root):
        for path in sorted(folder.glob(f"{SEGMENT_PREFIX}*")):
            if path.name.endswith(NEW_SUFFIX):
                continue
            candidates = [path]
            if path.name.endswith(OPEN_SUFFIX):  # it may be sealed (renamed) meanwhile
                stem = path.name[: -len(OPEN_SUFFIX)]
                candidates.append(path.with_name(stem + SEALED_SUFFIX))
            for candidate in candidates:
                try:
                    with open(candidate, "rb") as handle:
                        _scan_segment(handle, model, wanted, found)
                    break
                except FileNotFoundError:  # compacted meanwhile: the log store has it
                    continue
    return found


def _scan_segment(lines: Any, model: str, wanted: set[str], found: set[str]) -> None:
    loads = orjson.loads
    for line in lines:
        try:
            row = loads(line)
        except orjson.JSONDecodeError:
            continue  # a torn last line
        if not isinstance(row, dict) or row.get("model") != model:
            continue
        for column in ID_COLUMNS:
            value = row.get(column)
            if value is not None and str(value) in wanted:
                found.add(str(value))


def _in_log_store(logs_url: str, model: str, wanted: set[str]) -> set[str]:
    import duckdb
    import pyarrow as pa

    from loopml.store.logs.reader import _source

    con = duckdb.connect()
    try:
        source = _source(con, logs_url)
        if source is None:
            return set()
        scan = "read_parquet($files, hive_partitioning=true, union_by_name=true)"
        try:
            columns = set(
                con.sql(f"SELECT * FROM {scan} LIMIT 0", params={"files": source}).columns
            )
        except duckdb.IOException as exc:
            if "No files found" in str(exc):
                return set()
            raise StoreError(f"Could not read the log store at {logs_url}: {exc}") from exc
        wanted_table = pa.table({"id": pa.array(sorted(wanted), pa.string())})
        con.register("wanted", wanted_table)
        matches = [
            f'SELECT id FROM wanted WHERE id IN (SELECT "{column}" FROM {scan} '
            'WHERE "model" = $model)'
            for column in ID_COLUMNS
            if column in columns
        ]
        params: dict[str, Any] = {"files": source, "model": model}
        try:
            rows = con.sql(" UNION ".join(matches), params=params).fetchall()
        except duckdb.Error as exc:
            raise StoreError(f"Could not read the log store at {logs_url}: {exc}") from exc
    finally:
        con.close()
    return {str(row[0]) for row in rows}
