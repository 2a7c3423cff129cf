"""Schema migrations: fresh stores, older stores, stores from a newer loopml."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from loopml.core.entities import DatasetProfile, DatasetSchema, DatasetVersion, Event
from loopml.core.errors import SchemaVersionError
from loopml.store.sql import SqlDatasetStore, SqlEventStore, SqlModelStore, SqlTrackingStore
from loopml.store.sql.engine import StoreEngine
from loopml.store.sql.migrate import (
    HEAD_REVISION,
    KNOWN_REVISIONS,
    alembic_config,
    open_store_engine,
    read_revision,
    run_alembic,
    script_head,
)
from loopml.store.sql.tables import include_object_on, metadata
from tests.contract.test_model_store import draft as model_draft

RUN_ID, EXP_ID = "a" * 32, "e" * 32


def test_head_revision_is_the_script_head() -> None:
    from alembic.script import ScriptDirectory

    assert script_head() == HEAD_REVISION
    scripts = ScriptDirectory.from_config(alembic_config())
    assert tuple(reversed([s.revision for s in scripts.walk_revisions()])) == KNOWN_REVISIONS


def test_fresh_store_is_at_head(fresh_db_url: str) -> None:
    store = SqlTrackingStore(fresh_db_url)
    try:
        assert store.describe()["schema_revision"] == HEAD_REVISION
    finally:
        store.close()


def test_migrations_build_exactly_the_declared_tables(fresh_db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    SqlTrackingStore(fresh_db_url).close()
    db = StoreEngine(fresh_db_url)
    try:
        with db.read() as conn:
            include = include_object_on(conn.dialect.name)
            opts = {"compare_type": True, "include_object": include}
            context = MigrationContext.configure(conn, opts=opts)
            assert compare_metadata(context, metadata) == []
    finally:
        db.dispose()


def _write_0001_era_data(conn: sa.Connection) -> None:
    statements = [
        "INSERT INTO experiments (experiment_id, name, created_at, description, deleted) "
        "VALUES (:e, 'old', 1, 'from 0001', :f)",
        "INSERT INTO runs (run_id, experiment_id, name, status, start_time, deleted) "
        "VALUES (:r, :e, 'legacy', 'FINISHED', 10, :f)",
        "INSERT INTO params (run_id, key, value) VALUES (:r, 'lr', '0.1')",
        "INSERT INTO tags (run_id, key, value) VALUES (:r, 'team', 'a')",
        "INSERT INTO metrics (run_id, key, value, is_nan, step, timestamp) "
        "VALUES (:r, 'auc', 0.8, :f, 1, 5)",
        "INSERT INTO latest_metrics (run_id, key, value, is_nan, step, timestamp) "
        "VALUES (:r, 'auc', 0.8, :f, 1, 5)",
        "INSERT INTO latest_metrics (run_id, key, value, is_nan, step, timestamp) "
        "VALUES (:r, 'big', :inf, :f, 1, 5)",
        "INSERT INTO latest_metrics (run_id, key, value, is_nan, step, timestamp) "
        "VALUES (:r, 'small', :ninf, :f, 1, 5)",
        "INSERT INTO latest_metrics (run_id, key, value, is_nan, step, timestamp) "
        "VALUES (:r, 'gone', NULL, :t, 1, 5)",
    ]
    values = {"e": EXP_ID, "r": RUN_ID, "f": False, "t": True, "inf": math.inf, "ninf": -math.inf}
    for sql in statements:
        conn.execute(sa.text(sql), values)


def test_older_store_is_upgraded_and_keeps_its_data(fresh_db_url: str) -> None:
    db = StoreEngine(fresh_db_url)
    try:
        with db.connect(write=True) as conn:
            run_alembic(conn, "upgrade", "0001")
        assert read_revision(db) == "0001"
        with db.connect(write=True) as conn, conn.begin():
            _write_0001_era_data(conn)
            assert not sa.inspect(conn).has_table("run_artifacts")
    finally:
        db.dispose()

    store = SqlTrackingStore(fresh_db_url)
    try:
        run = store.get_run(RUN_ID)  # type: ignore[arg-type]
        metrics = dict(run.metrics)
        assert math.isnan(metrics.pop("gone"))  # the 0003 backfill keeps NaN and infinities
        assert (run.name, run.params, run.tags, metrics) == (
            "legacy",
            {"lr": "0.1"},
            {"team": "a"},
            {"auc": 0.8, "big": math.inf, "small": -math.inf},
        )
        assert store.get_experiment_by_name("old") is not None
        assert store.list_artifacts(run.run_id) == []  # the table 0002 added works
        assert store.describe()["schema_revision"] == HEAD_REVISION
    finally:
        store.close()


def test_store_at_0003_is_upgraded_to_datasets_and_keeps_its_runs(fresh_db_url: str) -> None:
    db = StoreEngine(fresh_db_url)
    try:
        with db.connect(write=True) as conn:
            run_alembic(conn, "upgrade", "0003")
        with db.connect(write=True) as conn, conn.begin():
            _write_0001_era_data(conn)
            conn.execute(  # at 0003 the summary columns are written with the run
                sa.text(
                    'UPDATE runs SET params_json = \'{"lr": "0.1"}\', '
                    'metrics_json = \'{"auc": 0.8}\', tags_json = \'{"team": "a"}\''
                )
            )
            assert not sa.inspect(conn).has_table("dataset_versions")
    finally:
        db.dispose()

    db = open_store_engine(fresh_db_url)
    try:
        assert read_revision(db) == HEAD_REVISION
        tracking = SqlTrackingStore.from_engine(db)
        datasets = SqlDatasetStore(db)
        run = tracking.get_run(RUN_ID)  # type: ignore[arg-type]
        assert (run.name, run.params, run.tags, run.metrics["auc"]) == (
            "legacy",
            {"lr": "0.1"},
            {"team": "a"},
            0.8,
        )
        # 0009 recomputes SQLite's metrics summaries from latest_metrics (all four keys).
        assert len(run.metrics) == (4 if db.dialect == "sqlite" else 1)
        assert [p.value for p in tracking.get_metric_history(run.run_id, "auc")] == [0.8]
        draft = DatasetVersion(
            name="credit",
            version=0,
            content_hash="c" * 64,
            artifact_digest="d" * 64,
            rows=1,
            size_bytes=1,
            created_at=0,
            created_by="ada",
            schema=DatasetSchema(columns=()),
            profile=DatasetProfile(rows=1, columns=()),
            run_id=run.run_id,
        )
        stored, created = datasets.create_version(draft)  # the tables 0004 added work
        datasets.log_input(run.run_id, "credit", 1, "train")
        assert (stored.version, created) == (1, True)
        assert datasets.inputs_of(run.run_id) == [(stored, "train")]
    finally:
        db.dispose()


def test_store_at_0004_is_upgraded_to_events_and_keeps_its_datasets(fresh_db_url: str) -> None:
    db = StoreEngine(fresh_db_url)
    try:
        with db.connect(write=True) as conn:
            run_alembic(conn, "upgrade", "0004")
        with db.connect(write=True) as conn, conn.begin():
            _write_0001_era_data(conn)
            conn.execute(
                sa.text(
                    "INSERT INTO dataset_versions (name, version, content_hash, "
                    "artifact_digest, rows, size_bytes, created_at, created_by, run_id, "
                    "description, split, schema_json, profile_json) VALUES ('credit', 1, "
                    ":c, :d, 7, 70, 5, 'ada', :r, 'loans', NULL, :schema, :profile)"
                ),
                {
                    "c": "c" * 64,
                    "d": "d" * 64,
                    "r": RUN_ID,
                    "schema": '{"columns": []}',
                    "profile": '{"rows": 7, "columns": []}',
                },
            )
            conn.execute(
                sa.text(
                    "INSERT INTO run_inputs (run_id, name, version, role) "
                    "VALUES (:r, 'credit', 1, 'train')"
                ),
                {"r": RUN_ID},
            )
            assert not sa.inspect(conn).has_table("events")
    finally:
        db.dispose()

    db = open_store_engine(fresh_db_url)
    try:
        assert read_revision(db) == HEAD_REVISION
        datasets = SqlDatasetStore(db)
        events = SqlEventStore(db)
        stored = datasets.get_version("credit", 1)
        assert (stored.rows, stored.created_by, stored.description, stored.run_id) == (
            7,
            "ada",
            "loans",
            RUN_ID,
        )
        assert datasets.inputs_of(stored.run_id) == [(stored, "train")]  # type: ignore[arg-type]
        assert events.list_events() == []

        def on_created(version: DatasetVersion) -> Event:
            return Event("f" * 32, "dataset.registered", f"dataset:{version.ref}", "ada", 6)

        draft = dataclasses.replace(stored, content_hash="e" * 64, run_id=None)
        second, created = datasets.create_version(draft, on_created=on_created)
        assert (second.version, created) == (2, True)  # the table 0005 added works
        assert [e.subject for e in events.list_events()] == ["dataset:credit@2"]
        # 0006's model tables work against the datasets and runs kept from before
        models = SqlModelStore(db)
        model = models.create_version(model_draft(run_id=RUN_ID, training_data="credit@1"))
        assert (model.ref, model.training_data) == ("credit-default@1", "credit@1")
        assert models.versions_using_dataset("credit", 1) == [(model, "train")]
    finally:
        db.dispose()


def test_store_at_0008_gets_summaries_with_every_digit(fresh_db_url: str) -> None:
    exact = 0.1 + 0.2  # 0.30000000000000004: SQLite's JSON wrote it as 0.3 before 0009
    db = StoreEngine(fresh_db_url)
    try:
        with db.connect(write=True) as conn:
            run_alembic(conn, "upgrade", "0008")
        with db.connect(write=True) as conn, conn.begin():
            _write_0001_era_data(conn)
            conn.execute(
                sa.text("UPDATE latest_metrics SET value = :v WHERE key = 'auc'"), {"v": exact}
            )
            conn.execute(sa.text("UPDATE runs SET metrics_json = '{\"auc\": 0.3}'"))
    finally:
        db.dispose()

    db = open_store_engine(fresh_db_url)
    try:
        assert read_revision(db) == HEAD_REVISION
        run = SqlTrackingStore.from_engine(db).get_run(RUN_ID)  # type: ignore[arg-type]
        if db.dialect == "sqlite":  # PostgreSQL's summaries were exact already: left as they are
            assert run.metrics["auc"] == exact
            assert (run.metrics["big"], run.metrics["small"]) == (math.inf, -math.inf)
            assert math.isnan(run.metrics["gone"])
        else:
            assert run.metrics["auc"] == 0.3
    finally:
        db.dispose()


def test_store_from_a_newer_loopml_is_refused(fresh_db_url: str) -> None:
    SqlTrackingStore(fresh_db_url).close()
    engine = sa.create_engine(fresh_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    finally:
        engine.dispose()
    message = (
        r"schema revision '0099', which this loopml does not know \(it knows "
        + ", ".join(KNOWN_REVISIONS)
        + r"\).*Upgrade loopml \(`pip install -U loopml`\)"
    )
    with pytest.raises(SchemaVersionError, match=message):
        SqlTrackingStore(fresh_db_url)


def test_downgrade_runs_back_to_empty(fresh_db_url: str) -> None:
    SqlTrackingStore(fresh_db_url).close()
    db = StoreEngine(fresh_db_url)
    try:
        with db.connect(write=True) as conn:
            run_alembic(conn, "downgrade", "base")
        assert read_revision(db) is None
        with db.read() as conn:
            assert sa.inspect(conn).get_table_names() == ["alembic_version"]
    finally:
        db.dispose()


def test_opening_a_store_at_head_does_not_import_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/loopml.db"
    SqlTrackingStore(url).close()
    code = (
        "import sys; from loopml.store.sql import SqlTrackingStore; "
        f"s = SqlTrackingStore({url!r}); s.close(); print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
