"""Store protocols: small, one per aggregate. Logic shared by backends (validation, filter
parsing, write-once rules) lives above them in the services, written once.

Every backend runs the contract suites under ``tests/contract/``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol, TypeVar

from loopml.core.entities import (
    ApiToken,
    ApprovalStatus,
    ArtifactEntry,
    AuditEntry,
    Blob,
    DatasetVersion,
    Deployment,
    EvaluationRecord,
    Event,
    Experiment,
    LoopAgent,
    LoopPolicyRecord,
    LoopRun,
    LoopStep,
    MetricPoint,
    ModelExplanation,
    ModelExport,
    ModelVersion,
    MonitorResult,
    RegisteredModel,
    Run,
    RunStatus,
)
from loopml.core.ids import ExperimentId, RunId
from loopml.store.query import RunQuery

if TYPE_CHECKING:
    import pyarrow as pa

T = TypeVar("T")


class TrackingStore(Protocol):
    """Experiments, runs, params, metrics, tags and the artifact index of runs."""

    url: str

    def create_experiment(self, experiment: Experiment) -> None:
        """Insert a new experiment. Raises AlreadyExistsError when the name is taken."""

    def get_experiment(self, experiment_id: ExperimentId) -> Experiment:
        """Return one experiment. Raises NotFoundError."""

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """Return the experiment with that name, or None."""

    def list_experiments(self, *, include_deleted: bool = False) -> list[Experiment]:
        """Return experiments ordered by name."""

    def create_run(self, run: Run, *, event: Event | None = None) -> None:
        """Insert a new run (its params/tags/metrics maps are written too) and ``event`` in
        one transaction. Raises AlreadyExistsError for a duplicate id, NotFoundError for an
        unknown experiment."""

    def get_run(self, run_id: RunId) -> Run:
        """Return a run with its params, latest metrics and tags. Raises NotFoundError."""

    def end_run(
        self,
        run_id: RunId,
        *,
        status: RunStatus,
        end_time: int | None,
        error: str | None = None,
        event: Event | None = None,
    ) -> None:
        """Record the end of a run (or, with status RUNNING and end_time None, reopen it)
        and ``event`` in one transaction. Raises NotFoundError (and writes neither)."""

    def set_run_deleted(self, run_id: RunId, deleted: bool, *, event: Event | None = None) -> None:
        """Soft-delete (or restore) a run, with ``event``. Raises NotFoundError."""

    def purge_run(self, run_id: RunId, *, event: Event | None = None) -> None:
        """Remove a run and everything logged on it, with ``event``. Raises NotFoundError."""

    def log_params(self, run_id: RunId, params: Mapping[str, str]) -> None:
        """Insert params in one transaction. Re-logging the same value is a no-op; a different
        value for a stored key raises ConflictError naming the key, old and new value, and
        nothing of the call is written."""

    def set_tags(self, run_id: RunId, tags: Mapping[str, str]) -> None:
        """Insert or overwrite tags in one transaction."""

    def delete_tag(self, run_id: RunId, key: str) -> None:
        """Remove a tag. Raises NotFoundError when the run has no such tag."""

    def log_metrics(
        self, points: Sequence[tuple[RunId, MetricPoint]], *, batch_key: str | None = None
    ) -> bool:
        """Append metric points (of one or many runs) in one transaction and update each
        (run, key)'s latest value: highest step, then latest timestamp, then the later write.
        A batch whose ``batch_key`` (an idempotency key) was applied before writes nothing
        and returns False; the key is stored in the points' transaction. Raises
        NotFoundError for an unknown run and ConflictError for an ended one (read in the
        points' transaction), writing nothing."""

    def prune_batch_keys(self, *, applied_before: int, limit: int = 10_000) -> int:
        """Forget up to ``limit`` batch keys applied before ``applied_before`` (ms since the
        epoch), oldest first; return how many. A batch sent again after that is applied
        again."""

    def get_metric_history(self, run_id: RunId, key: str) -> list[MetricPoint]:
        """Return every point of one metric ordered by step, then timestamp."""

    def search_runs(self, query: RunQuery) -> list[Run]:
        """Return the runs matching ``query`` in its order, with params, metrics and tags."""

    def count_runs(self, query: RunQuery) -> int:
        """Return how many runs match ``query`` (ignoring its limit and offset)."""

    def add_artifacts(self, run_id: RunId, entries: Sequence[ArtifactEntry]) -> None:
        """Index files logged on a run; a path logged again points at the new blob."""

    def list_artifacts(self, run_id: RunId) -> list[ArtifactEntry]:
        """Return a run's artifact index ordered by path."""

    def describe(self) -> Mapping[str, str]:
        """Return facts for ``loopml doctor``: dialect, server version, schema revision."""

    def close(self) -> None:
        """Release connections."""


class DatasetStore(Protocol):
    """Dataset versions (immutable, numbered per name) and the lineage between runs and them."""

    def create_version(
        self,
        draft: DatasetVersion,
        *,
        on_created: Callable[[DatasetVersion], Event] | None = None,
    ) -> tuple[DatasetVersion, bool]:
        """Register a version atomically. ``draft.version`` is ignored: the store assigns the
        next number for ``draft.name`` (1 for a new name). When a version of that name with the
        same ``content_hash`` exists, nothing is written and that version is returned.

        When a version is created and ``on_created`` is given, the event it returns for the
        numbered version is appended in the same transaction (both or neither are stored).

        Returns:
            The stored version, and True when it was created (False when it existed).
        Raises:
            NotFoundError: A parent ref or the run does not exist.
        """

    def get_version(self, name: str, version: int) -> DatasetVersion:
        """Return one version. Raises NotFoundError (naming the versions that exist)."""

    def get_latest(self, name: str) -> DatasetVersion:
        """Return the highest version of a dataset. Raises NotFoundError."""

    def list_versions(self, name: str) -> list[DatasetVersion]:
        """Return every version of a dataset, oldest first. Raises NotFoundError."""

    def list_datasets(self) -> list[DatasetVersion]:
        """Return the latest version of every dataset, by name."""

    def children(self, name: str, version: int) -> list[DatasetVersion]:
        """Return the versions whose parents include ``name@version``."""

    def log_input(self, run_id: RunId, name: str, version: int, role: str) -> None:
        """Record that a run used a dataset version in a role (``train``, ``eval``...); logging
        the same (run, version, role) again is a no-op. Raises NotFoundError."""

    def inputs_of(self, run_id: RunId) -> list[tuple[DatasetVersion, str]]:
        """Return the dataset versions a run used, with their roles. Raises NotFoundError."""

    def runs_using(self, name: str, version: int) -> list[tuple[RunId, str]]:
        """Return the runs that used a dataset version, with their roles (oldest run first)."""


class ModelStore(Protocol):
    """Model versions (immutable, numbered per name), their dataset links, aliases, reviews,
    exports and explanations. Every move (alias, review, export) is written with its event."""

    def create_version(
        self,
        draft: ModelVersion,
        *,
        on_created: Callable[[ModelVersion], Event] | None = None,
    ) -> ModelVersion:
        """Register a version atomically: the store assigns the next number for the name and
        writes the version, its dataset links and the event ``on_created`` builds together.
        Raises NotFoundError for an unknown run or dataset version."""

    def get_version(self, name: str, version: int) -> ModelVersion:
        """Return one version. Raises NotFoundError (naming the versions that exist)."""

    def list_versions(self, name: str) -> list[ModelVersion]:
        """Return every version of a model, oldest first. Raises NotFoundError."""

    def list_models(self) -> list[RegisteredModel]:
        """Return every registered model by name."""

    def versions_of_run(self, run_id: RunId) -> list[ModelVersion]:
        """Return the versions registered from a run."""

    def versions_using_dataset(self, name: str, version: int) -> list[tuple[ModelVersion, str]]:
        """Return the versions trained (``train``) or validated (``validation``) on a dataset
        version, with the role."""

    def get_aliases(self, name: str) -> dict[str, int]:
        """Return a model's aliases (alias -> version)."""

    def change(self, name: str, work: Callable[[ModelChange], T]) -> T:
        """Run ``work`` on model ``name``'s aliases and reviews in one write transaction that
        holds the model's lock, so changes of one model run one after the other, each seeing
        what the previous one committed; return what ``work`` returned. ``work`` may be run
        again when the transaction is retried, so it must only read and write through the
        :class:`ModelChange` it gets."""

    def history(self, name: str) -> list[Event]:
        """Return a model's alias moves and reviews (their events) in commit order."""

    def add_export(
        self, name: str, version: int, export: ModelExport, *, event: Event
    ) -> ModelVersion:
        """Record a checked export and its event in one transaction. Raises NotFoundError."""

    def add_explanation(
        self, name: str, version: int, explanation: ModelExplanation, *, event: Event
    ) -> ModelExplanation:
        """Record an explanation of a version and its event in one transaction. Raises
        NotFoundError (no such version) or AlreadyExistsError (its id is taken)."""

    def list_explanations(self, name: str, version: int) -> list[ModelExplanation]:
        """Return a version's explanations, oldest first. Raises NotFoundError."""


class ModelChange(Protocol):
    """One model's aliases and reviews inside the write transaction of
    :meth:`ModelStore.change`: what is read here stays true until the transaction commits."""

    @property
    def name(self) -> str:
        """The model."""

    def version(self, number: int) -> ModelVersion:
        """Return one version. Raises NotFoundError (naming the versions that exist)."""

    def aliases(self) -> dict[str, int]:
        """Return the model's aliases (alias -> version)."""

    def history(self) -> list[Event]:
        """Return the model's alias moves and reviews (their events) in commit order."""

    def move_alias(self, alias: str, version: int | None, event: Event) -> None:
        """Point ``alias`` at ``version`` (None removes it) and append ``event`` to the
        model's history. Raises NotFoundError for a missing version, or removing a missing
        alias."""

    def review(
        self,
        version: int,
        *,
        status: ApprovalStatus,
        reviewer: str,
        comment: str,
        at: int,
        event: Event,
    ) -> ModelVersion:
        """Record a review of a version and append ``event`` to the model's history; return
        the reviewed version. Raises NotFoundError."""


class DeploymentStore(Protocol):
    """Deployment records (what a model server serves) and every change of them. Each change
    (create, set, delete) is written with its event; versions number the changes per name."""

    def get(self, name: str) -> Deployment | None:
        """Return the deployment's current record, or None (never created, or deleted)."""

    def list_deployments(self) -> list[Deployment]:
        """Return every deployment's current record, by name."""

    def change(self, name: str, work: Callable[[DeploymentChange], T]) -> T:
        """Run ``work`` on deployment ``name`` in one write transaction that holds the
        deployment's lock, so changes of one deployment run one after the other, each seeing
        what the previous one committed; return what ``work`` returned. ``work`` may be run
        again when the transaction is retried, so it must only read and write through the
        :class:`DeploymentChange` it gets (and read-only elsewhere)."""

    def history(self, name: str) -> list[Event]:
        """Return the events of the deployment's changes, by version (empty: never created)."""


class DeploymentChange(Protocol):
    """One deployment inside the write transaction of :meth:`DeploymentStore.change`: what
    is read here stays true until the transaction commits."""

    @property
    def name(self) -> str:
        """The deployment."""

    def current(self) -> Deployment | None:
        """Return the current record, or None (never created, or deleted)."""

    def last_version(self) -> int:
        """Return the highest version written for this name, deleted ones included (0:
        never written). The next change is this plus one."""

    def write(self, version: int, deployment: Deployment | None, event: Event) -> None:
        """Record change ``version`` (``last_version() + 1``) with its event: ``deployment``
        becomes the current record (its ``version`` must be ``version``), or None deletes it.
        Raises ConflictError for another version, NotFoundError deleting a missing one."""


class LoopStore(Protocol):
    """The automation agent's durable state: loop runs (one per trigger occurrence of a
    policy, claimed once by its key), their leases and finished steps, the running agents and
    the policies they run. Which trigger starts a run, what a step does and when a run may
    go on are the agent's rules (:mod:`loopml.automation`); the store makes each of its writes
    atomic and refuses a write whose premise no longer holds."""

    def claim(self, policy: str, work: Callable[[LoopClaim], T]) -> T:
        """Run ``work`` in one write transaction that holds the policy's lock, so claims of
        one policy run one after the other, each seeing the runs the previous one stored;
        return what ``work`` returned. ``work`` may be run again when the transaction is
        retried: it must only read and write through the :class:`LoopClaim` it gets."""

    def get_run(self, run_id: str) -> LoopRun:
        """Return one loop run. Raises NotFoundError."""

    def list_runs(
        self,
        *,
        policy: str | None = None,
        statuses: Collection[str] | None = None,
        due_by: int | None = None,
        limit: int | None = None,
    ) -> list[LoopRun]:
        """Return the runs matching every given filter (``due_by``: ``next_at`` at or before
        it), newest first; ``limit`` keeps the first N."""

    def run_ids_with_prefix(self, prefix: str, *, limit: int) -> list[str]:
        """Return up to ``limit`` run ids starting with ``prefix`` (lowercase hex)."""

    def steps(self, run_id: str) -> list[LoopStep]:
        """Return a run's finished steps in order. Raises NotFoundError for an unknown run."""

    def acquire(self, run_id: str, holder: str, *, now: int, ttl_ms: int) -> LoopRun | None:
        """Take (or keep) the run's lease for ``holder`` until ``now + ttl_ms`` when it is
        free, expired (``lease_expires_at < now``) or already ``holder``'s; return the run as
        leased, or None when another holder's lease runs. Raises NotFoundError."""

    def renew(self, run_ids: Collection[str], holder: str, *, now: int, ttl_ms: int) -> list[str]:
        """Extend ``holder``'s unexpired leases of these runs to ``now + ttl_ms``; return the
        ids renewed (a lease lost meanwhile is not)."""

    def release(self, run_id: str, holder: str) -> None:
        """Give up ``holder``'s lease of the run (no-op when it holds none)."""

    def advance(
        self,
        run: LoopRun,
        *,
        holder: str,
        now: int,
        from_step: str,
        step: LoopStep | None = None,
        event: Event | None = None,
    ) -> LoopRun:
        """Store ``run``'s new status, step, state, ``next_at`` and ``updated_at``, with the
        finished ``step`` and its ``event`` when given, in one transaction, only if
        ``holder`` holds an unexpired lease (at ``now``) and the stored run is still at
        ``from_step``. Returns the run as stored. Raises ConflictError when the lease was lost
        or the run moved on, and nothing is written."""

    def put_agent(self, agent: LoopAgent, *, replaces: str | None = None) -> None:
        """Register a running agent: insert it when its name is free, or replace the record
        whose token is ``replaces``. Raises ConflictError when the name is taken by another
        record (another token)."""

    def get_agent(self, holder: str) -> LoopAgent | None:
        """Return the agent registered under a name, or None."""

    def heartbeat(self, holder: str, token: str, *, now: int, expires_at: int) -> bool:
        """Record that the agent registered with ``token`` is alive; False when the name is
        no longer its own."""

    def remove_agent(self, holder: str, token: str) -> None:
        """Unregister the agent (no-op when the name is no longer its own)."""

    def save_policy(self, record: LoopPolicyRecord) -> LoopPolicyRecord:
        """Store a policy as loaded: a new one as given, a known one with its new digest,
        spec and ``updated_at`` but its first ``first_seen_at``. Returns what is stored."""

    def list_policies(self) -> list[LoopPolicyRecord]:
        """Return every policy an agent has run, by name."""


class LoopClaim(Protocol):
    """One policy's runs inside the write transaction of :meth:`LoopStore.claim`: what is
    read here stays true until the transaction commits."""

    @property
    def policy(self) -> str:
        """The policy."""

    def find(self, trigger_key: str) -> LoopRun | None:
        """Return the policy's run of this trigger key, or None (not claimed yet)."""

    def open_runs(self) -> list[LoopRun]:
        """Return the policy's runs that have not ended, oldest first."""

    def insert(self, run: LoopRun, event: Event) -> None:
        """Store a new run (its policy must be this one) with its event. Raises
        AlreadyExistsError when its trigger key is claimed already."""


class EvaluationStore(Protocol):
    """The index of model evaluations (their documents live in the artifact store)."""

    def add(self, record: EvaluationRecord, *, event: Event | None = None) -> None:
        """Write a record and its event in one transaction. Raises NotFoundError for an
        unknown model version."""

    def get(self, evaluation_id: str) -> EvaluationRecord:
        """Return one record. Raises NotFoundError."""

    def list_for(
        self, name: str, version: int | None = None, *, limit: int | None = None
    ) -> list[EvaluationRecord]:
        """Return a model's (or one version's) evaluations, newest first."""

    def ids_with_prefix(self, prefix: str, *, limit: int) -> list[str]:
        """Return up to ``limit`` evaluation ids starting with ``prefix`` (lowercase hex)."""


class EventStore(Protocol):
    """The append-only audit log of the loop's transitions, hash-chained: each entry has the
    next ``seq`` (1, 2, 3... without gaps) and the hash of the one before; appends are
    serialized, so the chain never forks."""

    def append(self, event: Event) -> None:
        """Write one event (never updated or deleted) at the end of the chain. Raises
        AlreadyExistsError for a duplicate ``event_id``."""

    def get_event(self, event_id: str) -> Event | None:
        """Return the event with this id, or None."""

    def entries(self, *, after: int = 0, limit: int = 1000) -> list[AuditEntry]:
        """Return up to ``limit`` chain entries with ``seq`` above ``after``, by ``seq``."""

    def head(self) -> AuditEntry | None:
        """Return the last entry of the chain, or None for an empty log."""

    def entry_with_hash(self, digest: str) -> AuditEntry | None:
        """Return the entry whose hash is ``digest``, or None (may scan the log)."""

    def rechain(self, *, check_key: str | None, event: Event) -> int:
        """Hash every entry again under the store's key, after checking each under
        ``check_key``, and append ``event``; all or nothing. Raises ConflictError naming an
        entry that does not check out."""

    def list_events(
        self,
        *,
        subject: str | None = None,
        subject_prefix: str | None = None,
        kind: str | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """Return events matching every given filter, oldest first (ties: order of writing).
        ``limit`` keeps the newest ones."""


class TokenStore(Protocol):
    """API tokens, kept by id with the SHA-256 of their text (never the text). Making and
    revoking a token are written with their events."""

    def add(self, token: ApiToken, secret_hash: str, *, event: Event) -> None:
        """Store a new token and its event in one transaction. Raises AlreadyExistsError for
        a duplicate ``token_id``."""

    def get(self, token_id: str) -> tuple[ApiToken, str] | None:
        """Return a token and the hash stored for it, or None."""

    def list_tokens(self) -> list[ApiToken]:
        """Return every token (revoked and expired ones too), oldest first."""

    def revoke(self, token_id: str, *, at: int, event: Event) -> ApiToken:
        """Mark a token revoked at ``at`` with its event, in one transaction, and return it;
        a token revoked already is returned as it is (nothing written). Raises
        NotFoundError."""

    def touch(self, token_id: str, at: int) -> None:
        """Record that a server accepted the token at ``at`` (no event: not a change)."""

    def ids_with_prefix(self, prefix: str, *, limit: int) -> list[str]:
        """Return up to ``limit`` token ids starting with ``prefix`` (lowercase hex)."""


class LabelStore(Protocol):
    """Delayed labels: the ground truth of logged predictions, one per ``(model, row_id)``.

    Checking labels against the model and matching them to logged predictions is the
    service's work (:mod:`loopml.health.labels`); the store keeps what it is given.
    """

    def put_labels(
        self,
        model: str,
        row_ids: Sequence[str],
        labels_json: Sequence[str],
        *,
        received_at: int,
        event_at: Sequence[int | None] | None = None,
    ) -> int:
        """Store labels (JSON text) for ``model``'s rows in one transaction, each replacing
        any label stored for its row id (last to arrive wins); return how many replaced one.
        Raises InvalidArgumentError when the lengths differ or a row id appears twice."""

    def get_labels(self, model: str, row_ids: Collection[str] | None = None) -> pa.Table:
        """Return the labels of ``model`` (only those of ``row_ids`` when given) as an Arrow
        table with the columns ``row_id``, ``label_json``, ``received_at`` and ``event_at``
        (ms since the epoch; null when not given), ordered by ``row_id``."""

    def count_labels(self, model: str) -> int:
        """Return how many labels are stored for ``model``."""


class MonitorResultStore(Protocol):
    """Stored monitor runs, one :class:`~loopml.core.entities.MonitorResult` per window."""

    def add(self, results: Sequence[MonitorResult], *, event: Event | None = None) -> None:
        """Write a run's windows and its event in one transaction (all or nothing). Raises
        AlreadyExistsError for a duplicate ``result_id``."""

    def list_results(
        self,
        *,
        subject: str | None = None,
        run_id: str | None = None,
        since: int | None = None,
        until: int | None = None,
        limit: int | None = None,
    ) -> list[MonitorResult]:
        """Return the windows matching every given filter, newest run first and, within a
        run, the latest window first. ``since``/``until`` bound ``created_at`` (inclusive,
        ms since the epoch); ``limit`` keeps the first N."""


class ArtifactStore(Protocol):
    """Content-addressed bytes: stored once under their SHA-256 digest, written atomically,
    verified on every read."""

    url: str

    def put_file(self, path: Path) -> Blob:
        """Store a local file's bytes (no-op when already stored) and return its blob."""

    def put_bytes(self, data: bytes) -> Blob:
        """Store bytes (no-op when already stored) and return their blob."""

    def exists(self, digest: str) -> bool:
        """Tell whether a blob is stored."""

    def get_bytes(self, digest: str) -> bytes:
        """Return a blob's bytes. Raises NotFoundError, or ArtifactIntegrityError when the
        stored bytes no longer hash to ``digest``."""

    def get_file(self, digest: str, dest: Path) -> Path:
        """Copy a blob to ``dest`` (atomically, verified before it appears). Raises as
        :meth:`get_bytes`."""

    def open(self, digest: str) -> BinaryIO:
        """Open a blob for streaming reads. The hash is checked when the stream reaches its
        end; a mismatch raises ArtifactIntegrityError from ``read``."""

    def delete(self, digest: str) -> None:
        """Remove a blob (no-op when absent)."""

    def describe(self) -> Mapping[str, str]:
        """Return facts for ``loopml doctor``: protocol, root, writable."""
