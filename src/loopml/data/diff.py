"""Diff of two dataset versions: schema changes, row counts and, when both declare the same
key, rows added, removed and changed (DuckDB joins on the key; no Python row loops)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml.core.entities import DatasetDiff, DatasetVersion

if TYPE_CHECKING:
    import pyarrow as pa


def diff_versions(
    old: DatasetVersion, new: DatasetVersion, old_table: pa.Table, new_table: pa.Table
) -> DatasetDiff:
    """Compare two versions given their rows.

    Rows are matched on the key both versions declare (``register(..., key=...)``); a row is
    *changed* when any column present in both versions differs (nulls compare equal to nulls).
    """
    import dataclasses

    old_types = {f.name: str(f.type) for f in old_table.schema}
    new_types = {f.name: str(f.type) for f in new_table.schema}
    changes = {
        n: (old_types[n], new_types[n])
        for n in old_types
        if n in new_types and old_types[n] != new_types[n]
    }
    columns_only = DatasetDiff(
        old=old.ref,
        new=new.ref,
        added_columns=tuple(n for n in new_types if n not in old_types),
        removed_columns=tuple(n for n in old_types if n not in new_types),
        type_changes=changes,
        old_rows=old_table.num_rows,
        new_rows=new_table.num_rows,
    )
    key = old.schema.key if old.schema.key and old.schema.key == new.schema.key else None
    if key is None or key not in old_types or key not in new_types:
        return columns_only
    shared = [n for n in old_types if n in new_types and n != key]
    added, removed, changed = _row_changes(old_table, new_table, key, shared, changes)
    return dataclasses.replace(
        columns_only, key=key, rows_added=added, rows_removed=removed, rows_changed=changed
    )


def _row_changes(
    old_table: pa.Table,
    new_table: pa.Table,
    key: str,
    shared: list[str],
    changes: dict[str, tuple[str, str]],
) -> tuple[int, int, int]:
    """Rows added, removed and changed by key, counted by DuckDB over the two tables with
    their columns renamed ``k, c0, c1, ...``: DuckDB never parses a user's column name (its
    identifiers ignore case, so ``A`` and ``a`` would be one column)."""
    import duckdb

    aliases = ["k"] + [f"c{j}" for j in range(len(shared))]
    old_table = old_table.select([key, *shared]).rename_columns(aliases)
    new_table = new_table.select([key, *shared]).rename_columns(aliases)
    k = "k"
    differs = (
        " OR ".join(
            f"CAST(o.c{j} AS VARCHAR) IS DISTINCT FROM CAST(n.c{j} AS VARCHAR)"
            if n in changes
            else f"o.c{j} IS DISTINCT FROM n.c{j}"
            for j, n in enumerate(shared)
        )
        or "FALSE"
    )
    con = duckdb.connect()
    try:
        con.register("o", old_table)
        con.register("n", new_table)
        row = con.execute(
            f"""
            SELECT
              (SELECT count(*) FROM n ANTI JOIN o ON n.{k} = o.{k}),
              (SELECT count(*) FROM o ANTI JOIN n ON o.{k} = n.{k}),
              (SELECT count(*) FROM o JOIN n ON o.{k} = n.{k} WHERE {differs})
            """
        ).fetchone()
    finally:
        con.close()
    added, removed, changed = row if row is not None else (0, 0, 0)
    return int(added), int(removed), int(changed)
