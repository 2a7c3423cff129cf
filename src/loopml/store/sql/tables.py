"""The metadata schema: one :class:`~sqlalchemy.MetaData` with every table of the metadata store.

This module describes the schema at the head revision; the Alembic migrations under
``migrations/versions/`` build the same schema step by step (a test compares the two).

Conventions:

- times are integer milliseconds since the epoch (``BigInteger``);
- metric values are doubles; NaN is stored as ``value = NULL, is_nan = true`` because SQLite
  silently turns NaN into NULL, while +inf and -inf are stored as they are;
- child tables reference ``runs`` with ``ON DELETE CASCADE`` so purging a run removes
  everything logged on it;
- strings compare and sort by code point on both backends (``COLLATE "C"`` on PostgreSQL);
- ``params``, ``tags``, ``latest_metrics`` and ``run_artifacts`` are ``WITHOUT ROWID`` tables
  on SQLite: rows are clustered by ``(run_id, key)``, so probing one key of a run in a filter
  and reading every key of a run are single B-tree range reads;
- the ``(key, value)`` indexes on ``params`` and ``tags`` exist on SQLite only: a PostgreSQL
  B-tree entry cannot hold a long value (about 2.7 kB at most), so PostgreSQL gets a ``key``
  index instead and matches values through the ``(run_id, key)`` primary key;
- dataset versions are keyed by ``(name, version)`` and unique by ``(name, content_hash)``:
  the constraints, not a lock, make concurrent registrations of one name safe. Their schema
  and profile are JSON text. ``dataset_parents`` and ``run_inputs`` (all-key tables) are
  ``WITHOUT ROWID`` on SQLite; ``dataset_versions`` keeps its rowid because its JSON rows
  can be large. Purging a run removes its inputs and unlinks the versions registered in it.
- ``events`` is the append-only audit log, hash-chained: ``seq`` numbers the entries 1, 2,
  3... without gaps in the order of writing (assigned under the log's lock, see
  :mod:`~loopml.store.sql.event_store`) and breaks ties between events of the same
  millisecond; ``prev_hash`` and ``hash`` chain each entry to the one before
  (:mod:`loopml.core.audit_chain`); ``client`` and ``address`` say where the change came
  from; ``event_id`` is unique; links and data are JSON text. Its indexes serve "the history
  of one object" (``subject, at``) and "every event of a kind" (``kind, at``).
- ``metric_batches`` holds the idempotency key of each metric batch a server applied,
  written in the transaction of its points: a batch sent again is applied once.
- ``api_tokens`` holds the API tokens by id, each with the SHA-256 of its text (never the
  text), its user, role, expiry, last use and revocation.
- model versions are keyed by ``(name, version)`` like dataset versions; their signature and
  tags are JSON text, their package lives in the artifact store (``manifest_digest``).
  ``model_inputs`` links a version to the dataset versions it was trained and validated on
  (indexed by dataset, for "which models came from this data"); ``model_aliases`` holds where
  each alias points now (its moves are events); ``model_exports`` the checked ONNX copies.
- ``model_log`` orders the changes of each model, its alias moves and reviews, by ``seq``:
  numbered per model in the write transaction that holds the model's lock, so in commit order
  (neither the time of an event nor ``events.seq``, a PostgreSQL sequence taken before the
  lock, is). The change itself is its event, joined by ``event_id``.
- ``evaluations`` indexes evaluations of model versions; the full result is a JSON document in
  the artifact store (``digest``), the row keeps a summary for listings.
- ``labels`` holds the ground truth that arrives after a prediction, keyed by ``(model,
  row_id)`` (a prediction id or the caller's row id): a label logged again replaces the row.
  The label is JSON text, so classes of any JSON type come back as they were given;
  ``received_at`` is when it was stored, ``event_at`` the event time the caller gave (or NULL).
  ``WITHOUT ROWID`` on SQLite: rows are clustered by the key, so a model's labels are one range.
- ``monitor_results`` holds one row per window of a stored monitor run (``run_id`` groups
  them): the window as JSON, with the columns listings and charts filter and sort on
  (subject, model version, window index, start and end, rows, dataset drift, drift share)
  and the run's alerts on that window. Indexed by ``(subject, created_at)`` and
  ``(created_at)`` (newest first, over one subject or all).
- ``deployments`` holds each deployment's current record: its version, the champion's model
  name (indexed, for "which deployments serve this model") and the routes, fallback,
  guardrails and runtime as JSON (``spec_json``); a deleted deployment's row is gone.
  ``deployment_log`` numbers every change of a deployment by its version (create, set,
  delete), joined to its event by ``event_id``, and outlives a delete, so numbering goes on
  when the name is created again. The ``(name, version)`` key makes a second writer of the
  same version fail, under the deployment's lock as well.
- ``loop_runs`` holds the automation agent's loop runs, one per trigger occurrence of a policy:
  unique by ``(policy, trigger_key)``, so a trigger is claimed once whoever claims it; the
  lease (``lease_holder``, ``lease_expires_at``) says which agent advances it; ``state_json``
  what its steps produced. ``loop_steps`` holds each finished step, keyed by ``(run_id, seq)``
  and joined to its ``loop.*`` event. ``loop_agents`` holds the running agents by name (their
  heartbeat), ``loop_policies`` each policy as last loaded and when it was first run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

#: Length limits of keys and values (validated in the service; the columns just fit them).
KEY_LENGTH = 250
PARAM_VALUE_LENGTH = 6000
TAG_VALUE_LENGTH = 8000
NAME_LENGTH = 500
PATH_LENGTH = 1000
ID_LENGTH = 32
DATASET_NAME_LENGTH = 250
ROLE_LENGTH = 64
HASH_LENGTH = 64
CLIENT_LENGTH = 250
ADDRESS_LENGTH = 100
EVENT_KIND_LENGTH = 64
SUBJECT_LENGTH = 600
MODEL_NAME_LENGTH = 250
ALIAS_LENGTH = 64
FLAVOR_LENGTH = 64
STATUS_LENGTH = 16
ROW_ID_LENGTH = 250
BATCH_KEY_LENGTH = 64

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

#: Indexes that exist on one dialect only (see the module docstring), by name.
DIALECT_ONLY_INDEXES = {
    "ix_params_key_value": "sqlite",
    "ix_tags_key_value": "sqlite",
    "ix_params_key": "postgresql",
    "ix_tags_key": "postgresql",
}


def _text(length: int) -> sa.types.TypeEngine[str]:
    """A string column that compares and sorts by code point on every backend ("C" collation
    on PostgreSQL, SQLite's default BINARY), so filters and orders cannot disagree."""
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


#: 64-bit integer primary key that is still SQLite's auto-incrementing rowid.
_AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _run_fk() -> sa.ForeignKey:
    return sa.ForeignKey("runs.run_id", ondelete="CASCADE")


experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("experiment_id", _text(ID_LENGTH), primary_key=True),
    sa.Column("name", _text(NAME_LENGTH), nullable=False, unique=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("description", sa.Text(), nullable=False, server_default=""),
    sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", _text(ID_LENGTH), primary_key=True),
    sa.Column(
        "experiment_id",
        _text(ID_LENGTH),
        sa.ForeignKey("experiments.experiment_id"),
        nullable=False,
    ),
    sa.Column("name", _text(NAME_LENGTH), nullable=False),
    sa.Column("status", _text(16), nullable=False),
    sa.Column("start_time", sa.BigInteger(), nullable=False),
    sa.Column("end_time", sa.BigInteger(), nullable=True),
    sa.Column("parent_run_id", _text(ID_LENGTH), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false()),
    # The run's summary: its params, latest metrics and tags as JSON objects, refreshed from
    # the tables below in the same transaction as every write (see summary.py). Filters use
    # the indexed tables; reads take one row per run instead of one row per value.
    sa.Column("params_json", sa.Text(), nullable=True),
    sa.Column("metrics_json", sa.Text(), nullable=True),
    sa.Column("tags_json", sa.Text(), nullable=True),
    sa.Index("ix_runs_experiment_id_start_time", "experiment_id", "start_time"),
    sa.Index("ix_runs_parent_run_id", "parent_run_id"),
)

params = sa.Table(
    "params",
    metadata,
    sa.Column("run_id", _text(ID_LENGTH), _run_fk(), primary_key=True),
    sa.Column("key", _text(KEY_LENGTH), primary_key=True),
    sa.Column("value", _text(PARAM_VALUE_LENGTH), nullable=False),
    sqlite_with_rowid=False,
)
sa.Index("ix_params_key_value", params.c.key, params.c.value).ddl_if(
    dialect=DIALECT_ONLY_INDEXES["ix_params_key_value"]
)
sa.Index("ix_params_key", params.c.key).ddl_if(dialect=DIALECT_ONLY_INDEXES["ix_params_key"])

tags = sa.Table(
    "tags",
    metadata,
    sa.Column("run_id", _text(ID_LENGTH), _run_fk(), primary_key=True),
    sa.Column("key", _text(KEY_LENGTH), primary_key=True),
    sa.Column("value", _text(TAG_VALUE_LENGTH), nullable=False),
    sqlite_with_rowid=False,
)
sa.Index("ix_tags_key_value", tags.c.key, tags.c.value).ddl_if(
    dialect=DIALECT_ONLY_INDEXES["ix_tags_key_value"]
)
sa.Index("ix_tags_key", tags.c.key).ddl_if(dialect=DIALECT_ONLY_INDEXES["ix_tags_key"])

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", _AUTO_ID, primary_key=True, autoincrement=True),
    sa.Column("run_id", _text(ID_LENGTH), _run_fk(), nullable=False),
    sa.Column("key", _text(KEY_LENGTH), nullable=False),
    sa.Column("value", sa.Double(), nullable=True),
    sa.Column("is_nan", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("step", sa.BigInteger(), nullable=False),
    sa.Column("timestamp", sa.BigInteger(), nullable=False),
    sa.Index("ix_metrics_run_id_key_step", "run_id", "key", "step"),
)

latest_metrics = sa.Table(
    "latest_metrics",
    metadata,
    sa.Column("run_id", _text(ID_LENGTH), _run_fk(), primary_key=True),
    sa.Column("key", _text(KEY_LENGTH), primary_key=True),
    sa.Column("value", sa.Double(), nullable=True),
    sa.Column("is_nan", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("step", sa.BigInteger(), nullable=False),
    sa.Column("timestamp", sa.BigInteger(), nullable=False),
    sa.Index("ix_latest_metrics_key_value", "key", "value"),
    sqlite_with_rowid=False,
)

run_artifacts = sa.Table(
    "run_artifacts",
    metadata,
    sa.Column("run_id", _text(ID_LENGTH), _run_fk(), primary_key=True),
    sa.Column("path", _text(PATH_LENGTH), primary_key=True),
    sa.Column("digest", _text(64), nullable=False),
    sa.Column("size", sa.BigInteger(), nullable=False),
    sqlite_with_rowid=False,
)

dataset_versions = sa.Table(
    "dataset_versions",
    metadata,
    sa.Column("name", _text(DATASET_NAME_LENGTH), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("content_hash", _text(HASH_LENGTH), nullable=False),
    sa.Column("artifact_digest", _text(HASH_LENGTH), nullable=False),
    sa.Column("rows", sa.BigInteger(), nullable=False),
    sa.Column("size_bytes", sa.BigInteger(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("created_by", _text(KEY_LENGTH), nullable=False),
    sa.Column(
        "run_id",
        _text(ID_LENGTH),
        sa.ForeignKey("runs.run_id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("split", _text(ROLE_LENGTH), nullable=True),
    sa.Column("schema_json", sa.Text(), nullable=False),
    sa.Column("profile_json", sa.Text(), nullable=False),
    sa.UniqueConstraint("name", "content_hash"),
    sa.Index("ix_dataset_versions_run_id", "run_id"),
)

dataset_parents = sa.Table(
    "dataset_parents",
    metadata,
    sa.Column("name", _text(DATASET_NAME_LENGTH), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("parent_name", _text(DATASET_NAME_LENGTH), primary_key=True),
    sa.Column("parent_version", sa.Integer(), primary_key=True),
    sa.ForeignKeyConstraint(
        ["name", "version"],
        ["dataset_versions.name", "dataset_versions.version"],
        ondelete="CASCADE",
    ),
    sa.ForeignKeyConstraint(
        ["parent_name", "parent_version"],
        ["dataset_versions.name", "dataset_versions.version"],
    ),
    sa.Index("ix_dataset_parents_parent_name_parent_version", "parent_name", "parent_version"),
    sqlite_with_rowid=False,
)

run_inputs = sa.Table(
    "run_inputs",
    metadata,
    sa.Column("run_id", _text(ID_LENGTH), _run_fk(), primary_key=True),
    sa.Column("name", _text(DATASET_NAME_LENGTH), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("role", _text(ROLE_LENGTH), primary_key=True),
    sa.ForeignKeyConstraint(
        ["name", "version"],
        ["dataset_versions.name", "dataset_versions.version"],
    ),
    sa.Index("ix_run_inputs_name_version", "name", "version"),
    sqlite_with_rowid=False,
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", _AUTO_ID, primary_key=True, autoincrement=True),
    sa.Column("event_id", _text(ID_LENGTH), nullable=False, unique=True),
    sa.Column("kind", _text(EVENT_KIND_LENGTH), nullable=False),
    sa.Column("subject", _text(SUBJECT_LENGTH), nullable=False),
    sa.Column("actor", _text(KEY_LENGTH), nullable=False),
    sa.Column("at", sa.BigInteger(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("links_json", sa.Text(), nullable=False),
    sa.Column("data_json", sa.Text(), nullable=False),
    sa.Column("client", _text(CLIENT_LENGTH), nullable=False, server_default=""),
    sa.Column("address", _text(ADDRESS_LENGTH), nullable=False, server_default=""),
    sa.Column("prev_hash", _text(HASH_LENGTH), nullable=False, server_default=""),
    sa.Column("hash", _text(HASH_LENGTH), nullable=False, server_default=""),
    sa.Index("ix_events_subject_at", "subject", "at"),
    sa.Index("ix_events_kind_at", "kind", "at"),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("name", _text(MODEL_NAME_LENGTH), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("flavor", _text(FLAVOR_LENGTH), nullable=False),
    sa.Column("manifest_digest", _text(HASH_LENGTH), nullable=False),
    sa.Column("signature_json", sa.Text(), nullable=False),
    sa.Column("size_bytes", sa.BigInteger(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("created_by", _text(KEY_LENGTH), nullable=False),
    sa.Column(
        "run_id",
        _text(ID_LENGTH),
        sa.ForeignKey("runs.run_id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column("code_commit", _text(HASH_LENGTH), nullable=True),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("tags_json", sa.Text(), nullable=False),
    sa.Column("approval", _text(STATUS_LENGTH), nullable=False),
    sa.Column("reviewer", _text(KEY_LENGTH), nullable=True),
    sa.Column("review_comment", sa.Text(), nullable=False),
    sa.Column("reviewed_at", sa.BigInteger(), nullable=True),
    sa.Index("ix_model_versions_run_id", "run_id"),
)

model_inputs = sa.Table(
    "model_inputs",
    metadata,
    sa.Column("name", _text(MODEL_NAME_LENGTH), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("dataset_name", _text(DATASET_NAME_LENGTH), primary_key=True),
    sa.Column("dataset_version", sa.Integer(), primary_key=True),
    sa.Column("role", _text(ROLE_LENGTH), primary_key=True),
    sa.ForeignKeyConstraint(
        ["name", "version"],
        ["model_versions.name", "model_versions.version"],
        ondelete="CASCADE",
    ),
    sa.ForeignKeyConstraint(
        ["dataset_name", "dataset_version"],
        ["dataset_versions.name", "dataset_versions.version"],
    ),
    sa.Index("ix_model_inputs_dataset_name_dataset_version", "dataset_name", "dataset_version"),
    sqlite_with_rowid=False,
)

model_aliases = sa.Table(
    "model_aliases",
    metadata,
    sa.Column("name", _text(MODEL_NAME_LENGTH), primary_key=True),
    sa.Column("alias", _text(ALIAS_LENGTH), primary_key=True),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(
        ["name", "version"],
        ["model_versions.name", "model_versions.version"],
    ),
    sqlite_with_rowid=False,
)

model_log = sa.Table(
    "model_log",
    metadata,
    sa.Column("name", _text(MODEL_NAME_LENGTH), primary_key=True),
    sa.Column("seq", sa.Integer(), primary_key=True),
    sa.Column("event_id", _text(ID_LENGTH), sa.ForeignKey("events.event_id"), nullable=False),
    sqlite_with_rowid=False,
)

model_exports = sa.Table(
    "model_exports",
    metadata,
    sa.Column("name", _text(MODEL_NAME_LENGTH), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("manifest_digest", _text(HASH_LENGTH), primary_key=True),
    sa.Column("format", _text(FLAVOR_LENGTH), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("created_by", _text(KEY_LENGTH), nullable=False),
    sa.Column("check_json", sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(
        ["name", "version"],
        ["model_versions.name", "model_versions.version"],
        ondelete="CASCADE",
    ),
)

model_explanations = sa.Table(
    "model_explanations",
    metadata,
    sa.Column("explanation_id", _text(ID_LENGTH), primary_key=True),
    sa.Column("name", _text(MODEL_NAME_LENGTH), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("method", _text(ROLE_LENGTH), nullable=False),
    sa.Column("dataset", _text(SUBJECT_LENGTH), nullable=True),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("created_by", _text(KEY_LENGTH), nullable=False),
    sa.Column("body_json", sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(
        ["name", "version"],
        ["model_versions.name", "model_versions.version"],
        ondelete="CASCADE",
    ),
    sa.Index("ix_model_explanations_name_version", "name", "version", "created_at"),
)

evaluations = sa.Table(
    "evaluations",
    metadata,
    sa.Column("evaluation_id", _text(ID_LENGTH), primary_key=True),
    sa.Column("name", _text(MODEL_NAME_LENGTH), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("baseline", _text(SUBJECT_LENGTH), nullable=True),
    sa.Column("task", _text(ROLE_LENGTH), nullable=False),
    sa.Column("datasets_json", sa.Text(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("created_by", _text(KEY_LENGTH), nullable=False),
    sa.Column("digest", _text(HASH_LENGTH), nullable=False),
    sa.Column("summary_json", sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(
        ["name", "version"],
        ["model_versions.name", "model_versions.version"],
        ondelete="CASCADE",
    ),
    sa.Index("ix_evaluations_name_version_created_at", "name", "version", "created_at"),
)

labels = sa.Table(
    "labels",
    metadata,
    sa.Column("model", _text(MODEL_NAME_LENGTH), primary_key=True),
    sa.Column("row_id", _text(ROW_ID_LENGTH), primary_key=True),
    sa.Column("label_json", sa.Text(), nullable=False),
    sa.Column("received_at", sa.BigInteger(), nullable=False),
    sa.Column("event_at", sa.BigInteger(), nullable=True),
    sqlite_with_rowid=False,
)

monitor_results = sa.Table(
    "monitor_results",
    metadata,
    sa.Column("result_id", _text(ID_LENGTH), primary_key=True),
    sa.Column("run_id", _text(ID_LENGTH), nullable=False),
    sa.Column("subject", _text(SUBJECT_LENGTH), nullable=False),
    sa.Column("model", _text(SUBJECT_LENGTH), nullable=True),
    sa.Column("window_index", sa.Integer(), nullable=False),
    sa.Column("start_ms", sa.BigInteger(), nullable=True),
    sa.Column("end_ms", sa.BigInteger(), nullable=True),
    sa.Column("rows", sa.BigInteger(), nullable=False),
    sa.Column("dataset_drift", sa.Boolean(), nullable=True),
    sa.Column("drift_share", sa.Float(), nullable=True),
    sa.Column("window_json", sa.Text(), nullable=False),
    sa.Column("alerts_json", sa.Text(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Index("ix_monitor_results_subject_created_at", "subject", "created_at"),
    sa.Index("ix_monitor_results_created_at", "created_at"),
    sa.Index("ix_monitor_results_run_id", "run_id"),
)


deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("name", _text(MODEL_NAME_LENGTH), primary_key=True),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("model", _text(MODEL_NAME_LENGTH), nullable=False),
    sa.Column("spec_json", sa.Text(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("created_by", _text(KEY_LENGTH), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    sa.Column("updated_by", _text(KEY_LENGTH), nullable=False),
    sa.Index("ix_deployments_model", "model"),
)

deployment_log = sa.Table(
    "deployment_log",
    metadata,
    sa.Column("name", _text(MODEL_NAME_LENGTH), primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("event_id", _text(ID_LENGTH), sa.ForeignKey("events.event_id"), nullable=False),
    sqlite_with_rowid=False,
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("token_id", _text(ID_LENGTH), primary_key=True),
    sa.Column("secret_hash", _text(HASH_LENGTH), nullable=False),
    sa.Column("user_name", _text(KEY_LENGTH), nullable=False),
    sa.Column("role", _text(STATUS_LENGTH), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("created_by", _text(KEY_LENGTH), nullable=False),
    sa.Column("expires_at", sa.BigInteger(), nullable=True),
    sa.Column("last_used_at", sa.BigInteger(), nullable=True),
    sa.Column("revoked_at", sa.BigInteger(), nullable=True),
    sa.Column("note", sa.Text(), nullable=False),
)


#: The idempotency key of each metric batch applied (written with its points), so a batch
#: sent again is applied once; ``applied_at`` orders them for pruning.
metric_batches = sa.Table(
    "metric_batches",
    metadata,
    sa.Column("batch_key", _text(BATCH_KEY_LENGTH), primary_key=True),
    sa.Column("points", sa.Integer(), nullable=False),
    sa.Column("applied_at", sa.BigInteger(), nullable=False, index=True),
    sqlite_with_rowid=False,
)


loop_runs = sa.Table(
    "loop_runs",
    metadata,
    sa.Column("run_id", _text(ID_LENGTH), primary_key=True),
    sa.Column("policy", _text(MODEL_NAME_LENGTH), nullable=False),
    sa.Column("trigger_key", _text(SUBJECT_LENGTH), nullable=False),
    sa.Column("trigger", _text(STATUS_LENGTH), nullable=False),
    sa.Column("status", _text(ROLE_LENGTH), nullable=False),
    sa.Column("step", _text(ROLE_LENGTH), nullable=False),
    sa.Column("state_json", sa.Text(), nullable=False),
    sa.Column("trigger_json", sa.Text(), nullable=False),
    sa.Column("created_at", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
    sa.Column("next_at", sa.BigInteger(), nullable=False),
    sa.Column("lease_holder", _text(KEY_LENGTH), nullable=True),
    sa.Column("lease_expires_at", sa.BigInteger(), nullable=True),
    sa.Column("steps_done", sa.Integer(), nullable=False),
    sa.UniqueConstraint("policy", "trigger_key"),
    sa.Index("ix_loop_runs_policy_created_at", "policy", "created_at"),
    sa.Index("ix_loop_runs_status_next_at", "status", "next_at"),
)

loop_steps = sa.Table(
    "loop_steps",
    metadata,
    sa.Column("run_id", _text(ID_LENGTH), sa.ForeignKey("loop_runs.run_id"), primary_key=True),
    sa.Column("seq", sa.Integer(), primary_key=True),
    sa.Column("step", _text(ROLE_LENGTH), nullable=False),
    sa.Column("outcome", _text(ROLE_LENGTH), nullable=False),
    sa.Column("holder", _text(KEY_LENGTH), nullable=False),
    sa.Column("started_at", sa.BigInteger(), nullable=False),
    sa.Column("ended_at", sa.BigInteger(), nullable=False),
    sa.Column("event_id", _text(ID_LENGTH), sa.ForeignKey("events.event_id"), nullable=False),
    sa.Column("detail_json", sa.Text(), nullable=False),
    sqlite_with_rowid=False,
)

loop_agents = sa.Table(
    "loop_agents",
    metadata,
    sa.Column("holder", _text(KEY_LENGTH), primary_key=True),
    sa.Column("token", _text(ID_LENGTH), nullable=False),
    sa.Column("host", _text(KEY_LENGTH), nullable=False),
    sa.Column("pid", sa.BigInteger(), nullable=False),
    sa.Column("started_at", sa.BigInteger(), nullable=False),
    sa.Column("seen_at", sa.BigInteger(), nullable=False),
    sa.Column("expires_at", sa.BigInteger(), nullable=False),
    sa.Column("policies_json", sa.Text(), nullable=False),
)

loop_policies = sa.Table(
    "loop_policies",
    metadata,
    sa.Column("name", _text(MODEL_NAME_LENGTH), primary_key=True),
    sa.Column("digest", _text(HASH_LENGTH), nullable=False),
    sa.Column("spec_json", sa.Text(), nullable=False),
    sa.Column("first_seen_at", sa.BigInteger(), nullable=False),
    sa.Column("updated_at", sa.BigInteger(), nullable=False),
)


def include_object_on(dialect: str) -> Callable[..., bool]:
    """Return Alembic's ``include_object`` hook for a dialect: it leaves out the indexes that
    exist on other dialects only, so autogenerate compares like with like."""

    def include_object(_obj: Any, name: str | None, type_: str, *_args: Any) -> bool:
        owner = DIALECT_ONLY_INDEXES.get(name or "") if type_ == "index" else None
        return owner is None or owner == dialect

    return include_object
