"""Many processes registering versions of one dataset into one fresh store at once."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from loopml.core.entities import DatasetProfile, DatasetSchema, DatasetVersion
from loopml.store.sql import SqlDatasetStore
from loopml.store.sql.migrate import open_store_engine

#: Contents of the six registrations: three distinct, three the same.
CONTENTS = ("a", "b", "c", "d", "d", "d")


def _register(url: str, content: str, barrier: Any) -> tuple[int, bool]:
    """Open the store, wait for the others, register one version; return (number, created)."""
    db = open_store_engine(url)
    try:
        store = SqlDatasetStore(db)
        draft = DatasetVersion(
            name="credit",
            version=0,
            content_hash=content * 64,
            artifact_digest="f" * 64,
            rows=1,
            size_bytes=1,
            created_at=0,
            created_by="proc",
            schema=DatasetSchema(columns=()),
            profile=DatasetProfile(rows=1, columns=()),
        )
        barrier.wait()
        stored, created = store.create_version(draft)
        return stored.version, created
    finally:
        db.dispose()


@pytest.mark.slow
def test_concurrent_registrations_number_versions_without_gaps(fresh_db_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    manager = context.Manager()
    try:
        barrier = manager.Barrier(len(CONTENTS))
        with context.Pool(len(CONTENTS)) as pool:
            results = [
                pool.apply_async(_register, (fresh_db_url, content, barrier))
                for content in CONTENTS
            ]
            outcomes = [result.get(timeout=240) for result in results]
    finally:
        manager.shutdown()

    db = open_store_engine(fresh_db_url)
    try:
        versions = SqlDatasetStore(db).list_versions("credit")
    finally:
        db.dispose()
    assert [v.version for v in versions] == [1, 2, 3, 4]
    assert sorted(v.content_hash[0] for v in versions) == ["a", "b", "c", "d"]
    by_content = {v.content_hash[0]: v.version for v in versions}
    assert sum(created for _, created in outcomes) == 4
    for content, (number, _) in zip(CONTENTS, outcomes, strict=True):
        assert number == by_content[content]  # the same content got the same version
