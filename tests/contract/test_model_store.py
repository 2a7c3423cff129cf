"""Contract suite of :class:`~loopml.store.protocols.ModelStore`, run on every backend."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from loopml.core.entities import (
    ApprovalStatus,
    ColumnRole,
    ColumnSchema,
    Event,
    Experiment,
    ModelExport,
    ModelOutput,
    ModelSignature,
    ModelVersion,
    Run,
    RunStatus,
    TaskKind,
)
from loopml.core.errors import AlreadyExistsError, ConflictError, NotFoundError
from loopml.core.ids import RunId, new_event_id, new_experiment_id, new_run_id
from loopml.store.protocols import (
    DatasetStore,
    EventStore,
    ModelChange,
    ModelStore,
    TrackingStore,
)
from loopml.store.sql import SqlDatasetStore, SqlEventStore, SqlModelStore, SqlTrackingStore
from loopml.store.sql.migrate import open_store_engine
from tests.contract.test_dataset_store import draft as dataset_draft


@dataclass
class Stores:
    tracking: TrackingStore
    datasets: DatasetStore
    events: EventStore
    models: ModelStore


@pytest.fixture
def stores(db_url: str) -> Iterator[Stores]:
    db = open_store_engine(db_url)
    tracking = SqlTrackingStore.from_engine(db)
    yield Stores(
        tracking=tracking,
        datasets=SqlDatasetStore(db),
        events=SqlEventStore(db),
        models=SqlModelStore(db),
    )
    tracking.close()


SIGNATURE = ModelSignature(
    inputs=(
        ColumnSchema("age", "int64", ColumnRole.NUMERIC, nullable=False),
        ColumnSchema("city", "string", ColumnRole.CATEGORICAL, True, ("paris", "lyon")),
    ),
    output=ModelOutput(TaskKind.BINARY, "int64", classes=(0, 1), has_proba=True),
)


def draft(name: str = "credit-default", **kw: object) -> ModelVersion:
    fields: dict[str, object] = {
        "name": name,
        "version": 0,
        "flavor": "sklearn",
        "manifest_digest": "m" * 64,
        "signature": SIGNATURE,
        "size_bytes": 4096,
        "created_at": 1_700_000_000_000,
        "created_by": "ada",
        "description": "gbm",
        "tags": {"team": "risk"},
    }
    fields.update(kw)
    return ModelVersion(**fields)  # type: ignore[arg-type]


def registered(kind: str = "model.registered") -> object:
    def build(version: ModelVersion) -> Event:
        return Event(new_event_id(), kind, f"model:{version.ref}", version.created_by, 1)

    return build


def make_run(stores: Stores) -> RunId:
    experiment = stores.tracking.get_experiment_by_name("exp")
    if experiment is None:
        experiment = Experiment(new_experiment_id(), "exp", 0)
        stores.tracking.create_experiment(experiment)
    run = Run(new_run_id(), experiment.experiment_id, "run", RunStatus.RUNNING, 1000)
    stores.tracking.create_run(run)
    return run.run_id


def moved(alias: str, to: int | None, previous: int | None, at: int = 2) -> Event:
    return Event(
        new_event_id(),
        "alias.moved",
        "model:credit-default",
        "ada",
        at,
        data={"alias": alias, "from": previous, "to": to},
    )


def move(models: ModelStore, alias: str, to: int | None, at: int = 2) -> int | None:
    """Move an alias through a change, recording where it pointed before."""

    def work(change: ModelChange) -> int | None:
        previous = change.aliases().get(alias)
        change.move_alias(alias, to, moved(alias, to, previous, at))
        return previous

    return models.change("credit-default", work)


def test_versions_are_numbered_per_name_and_read_back_equal(stores: Stores) -> None:
    models = stores.models
    first = models.create_version(draft(version=42))
    assert first == dataclasses.replace(draft(), version=1)
    second = models.create_version(draft(manifest_digest="n" * 64))
    other = models.create_version(draft(name="churn"))
    assert (second.version, other.version) == (2, 1)
    assert models.get_version("credit-default", 1) == first
    assert models.list_versions("credit-default") == [first, second]
    listed = models.list_models()
    assert [(m.name, m.latest_version, m.versions) for m in listed] == [
        ("churn", 1, 1),
        ("credit-default", 2, 2),
    ]
    assert json.loads(json.dumps(first.to_dict())) == first.to_dict()
    assert ModelVersion.from_dict(first.to_dict()) == first


def test_lineage_links_run_and_datasets_both_ways(stores: Stores) -> None:
    run_id = make_run(stores)
    train, _ = stores.datasets.create_version(dataset_draft(content="a"))
    valid, _ = stores.datasets.create_version(dataset_draft(content="b"))
    version = stores.models.create_version(
        draft(
            run_id=run_id, training_data=train.ref, validation_data=valid.ref, code_commit="c" * 40
        )
    )
    stored = stores.models.get_version(version.name, version.version)
    assert (stored.run_id, stored.training_data, stored.validation_data, stored.code_commit) == (
        run_id,
        "credit@1",
        "credit@2",
        "c" * 40,
    )
    assert stores.models.versions_using_dataset("credit", 1) == [(stored, "train")]
    assert stores.models.versions_using_dataset("credit", 2) == [(stored, "validation")]
    assert stores.models.versions_using_dataset("credit", 9) == []
    assert stores.models.versions_of_run(run_id) == [stored]


def test_unknown_run_or_dataset_registers_nothing(stores: Stores) -> None:
    with pytest.raises(NotFoundError, match=r"run '0+' does not exist"):
        stores.models.create_version(draft(run_id=RunId("0" * 32)))
    with pytest.raises(NotFoundError, match=r"train dataset 'credit@7' does not exist"):
        stores.models.create_version(draft(training_data="credit@7"), on_created=registered())  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match="No model named 'credit-default'"):
        stores.models.list_versions("credit-default")
    assert stores.events.list_events() == []


def test_version_and_event_are_written_together(stores: Stores) -> None:
    version = stores.models.create_version(draft(), on_created=registered())  # type: ignore[arg-type]
    assert [e.subject for e in stores.events.list_events()] == [f"model:{version.ref}"]
    taken = stores.events.list_events()[0].event_id

    def duplicate(v: ModelVersion) -> Event:
        return Event(taken, "model.registered", f"model:{v.ref}", "ada", 1)

    with pytest.raises(AlreadyExistsError, match="is already stored"):
        stores.models.create_version(draft(), on_created=duplicate)
    assert [v.version for v in stores.models.list_versions("credit-default")] == [1]


def test_missing_version_names_the_ones_that_exist(stores: Stores) -> None:
    stores.models.create_version(draft())
    stores.models.create_version(draft())
    with pytest.raises(NotFoundError, match=r"has no version 5; it has versions 1-2 \(latest 2\)"):
        stores.models.get_version("credit-default", 5)
    with pytest.raises(NotFoundError, match="Did you mean 'credit-default'"):
        stores.models.get_version("credit-defualt", 1)


def test_aliases_move_with_their_events(stores: Stores) -> None:
    models = stores.models
    models.create_version(draft())
    models.create_version(draft())
    assert models.get_aliases("credit-default") == {}
    assert move(models, "champion", 1, at=5) is None
    assert move(models, "champion", 2, at=6) == 1
    move(models, "challenger", 1, at=7)
    assert models.get_aliases("credit-default") == {"challenger": 1, "champion": 2}
    assert models.list_models()[0].aliases == {"challenger": 1, "champion": 2}
    history = [e.data for e in stores.events.list_events(kind="alias.moved")]
    assert [(d["alias"], d["from"], d["to"]) for d in history] == [
        ("champion", None, 1),
        ("champion", 1, 2),
        ("challenger", None, 1),
    ]
    assert [e.data for e in models.history("credit-default")] == history
    assert move(models, "challenger", None, at=8) == 1
    assert models.get_aliases("credit-default") == {"champion": 2}


def test_alias_to_a_missing_version_changes_nothing(stores: Stores) -> None:
    stores.models.create_version(draft())
    with pytest.raises(NotFoundError, match="has no version 3"):
        move(stores.models, "champion", 3)
    with pytest.raises(NotFoundError, match="has no alias 'champion'"):
        move(stores.models, "champion", None)
    with pytest.raises(NotFoundError, match="No model named 'churn'"):
        stores.models.change("churn", lambda change: change.version(1))
    assert stores.models.get_aliases("credit-default") == {}
    assert stores.events.list_events() == []
    assert stores.models.history("credit-default") == []


def test_a_change_that_raises_writes_nothing(stores: Stores) -> None:
    stores.models.create_version(draft())

    def work(change: ModelChange) -> None:
        change.move_alias("champion", 1, moved("champion", 1, None))
        raise ConflictError("refused after the move")

    with pytest.raises(ConflictError, match="refused after the move"):
        stores.models.change("credit-default", work)
    assert stores.models.get_aliases("credit-default") == {}
    assert stores.events.list_events() == []
    assert stores.models.history("credit-default") == []


def test_history_is_in_commit_order_whatever_the_times(stores: Stores) -> None:
    models = stores.models
    for _ in range(3):
        models.create_version(draft())
    for number, at in ((1, 30), (2, 20), (3, 10)):  # a clock that went back
        move(models, "champion", number, at=at)
    review = Event(new_event_id(), "model.rejected", "model:credit-default@1", "grace", 5)
    models.change(
        "credit-default",
        lambda change: change.review(
            1,
            status=ApprovalStatus.REJECTED,
            reviewer="grace",
            comment="leaks",
            at=5,
            event=review,
        ),
    )
    history = models.history("credit-default")
    assert [(e.kind, e.data.get("to")) for e in history] == [
        ("alias.moved", 1),
        ("alias.moved", 2),
        ("alias.moved", 3),
        ("model.rejected", None),
    ]
    assert [e.at for e in stores.events.list_events()] == [5, 10, 20, 30]  # the log by time


def _wait_until_a_backend_waits_for_a_lock(db_url: str) -> None:
    """On PostgreSQL, poll (against a deadline) until a session of this database waits for a
    lock. On SQLite, a write transaction waits in ``BEGIN IMMEDIATE``, which cannot be seen
    from outside; there the caller only knows the other thread is on its way."""
    if not db_url.startswith("postgresql"):
        return
    import time

    import sqlalchemy as sa

    engine = sa.create_engine(db_url)
    deadline = time.monotonic() + 60
    try:
        with engine.connect() as conn:
            while True:
                waiting = conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                ).scalar()
                conn.rollback()
                if waiting:
                    return
                assert time.monotonic() < deadline, "no session ever waited for the lock"
                threading.Event().wait(0.005)  # poll interval, not synchronization
    finally:
        engine.dispose()


def test_changes_of_one_model_run_one_after_the_other(stores: Stores, db_url: str) -> None:
    """A change that starts while another holds the model waits, then sees its commit."""
    models = stores.models
    models.create_version(draft())
    models.create_version(draft())
    inside = threading.Event()
    second_started = threading.Event()
    seen: list[dict[str, int]] = []

    def first(change: ModelChange) -> None:
        change.move_alias("champion", 1, moved("champion", 1, None))
        inside.set()
        assert second_started.wait(timeout=60)
        _wait_until_a_backend_waits_for_a_lock(db_url)  # the second waits for this commit

    def second(change: ModelChange) -> None:
        seen.append(change.aliases())
        previous = change.aliases().get("champion")
        change.move_alias("champion", 2, moved("champion", 2, previous))

    def run_second() -> None:
        assert inside.wait(timeout=60)
        second_started.set()
        models.change("credit-default", second)

    thread = threading.Thread(target=run_second)
    thread.start()
    models.change("credit-default", first)
    thread.join(timeout=60)
    assert seen == [{"champion": 1}]
    assert [(e.data["from"], e.data["to"]) for e in models.history("credit-default")] == [
        (None, 1),
        (1, 2),
    ]


def test_approval_and_export_are_recorded_with_events(stores: Stores) -> None:
    stores.models.create_version(draft())
    reviewed = stores.models.change(
        "credit-default",
        lambda change: change.review(
            1,
            status=ApprovalStatus.APPROVED,
            reviewer="grace",
            comment="AUC holds on every slice",
            at=9,
            event=Event(new_event_id(), "model.approved", "model:credit-default@1", "grace", 9),
        ),
    )
    assert (
        reviewed.approval,
        reviewed.reviewer,
        reviewed.review_comment,
        reviewed.reviewed_at,
    ) == (
        ApprovalStatus.APPROVED,
        "grace",
        "AUC holds on every slice",
        9,
    )
    export = ModelExport("onnx", "e" * 64, 10, "ada", {"rows": 500, "max_abs_diff": 1e-7})
    event = Event(new_event_id(), "model.exported", "model:credit-default@1", "ada", 10)
    after = stores.models.add_export("credit-default", 1, export, event=event)
    assert after.exports == (export,)
    assert after.export("onnx") == export
    assert stores.models.get_version("credit-default", 1) == after
    assert [e.kind for e in stores.events.list_events()] == ["model.approved", "model.exported"]
    assert [e.kind for e in stores.models.history("credit-default")] == ["model.approved"]
    with pytest.raises(NotFoundError, match="has no version 4"):
        stores.models.add_export("credit-default", 4, export, event=event)


def test_concurrent_registrations_get_distinct_numbers(stores: Stores) -> None:
    numbers: list[int] = []
    errors: list[BaseException] = []

    def register() -> None:
        try:
            for _ in range(5):
                numbers.append(stores.models.create_version(draft()).version)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(numbers) == list(range(1, 21))


def test_explanations_are_recorded_once_with_their_event(stores: Stores) -> None:
    from loopml.core.entities import FeatureImportance, ModelExplanation

    stores.models.create_version(draft())
    stores.models.create_version(draft())
    features = (FeatureImportance("age", 0.12, 0.01), FeatureImportance("city", -0.001, 0.002))

    def explanation(at: int, method: str) -> ModelExplanation:
        return ModelExplanation(
            explanation_id=new_event_id(),
            model="credit-default@1",
            method=method,
            dataset=None if method == "shap" else "credit@1",
            rows=500,
            features=features,
            created_at=at,
            created_by="ada",
            details={"scoring": "roc_auc", "repeats": 3, "baseline_score": 0.91},
        )

    first, second = explanation(10, "permutation"), explanation(11, "shap")
    for found in (second, first):  # recorded out of order: read back by time
        event = Event(new_event_id(), "model.explained", "model:credit-default@1", "ada", 12)
        assert stores.models.add_explanation("credit-default", 1, found, event=event) == found
    read = stores.models.list_explanations("credit-default", 1)
    assert [e.explanation_id for e in read] == [first.explanation_id, second.explanation_id]
    assert read[1] == second and read[0].dataset == "credit@1"
    assert read[0].features == features and read[0].details["repeats"] == 3
    assert stores.models.list_explanations("credit-default", 2) == []
    event = Event(new_event_id(), "model.explained", "model:credit-default@1", "ada", 13)
    with pytest.raises(AlreadyExistsError, match="stored already"):
        stores.models.add_explanation("credit-default", 1, first, event=event)
    with pytest.raises(NotFoundError):
        stores.models.add_explanation("credit-default", 9, explanation(14, "shap"), event=event)
    with pytest.raises(NotFoundError):
        stores.models.list_explanations("credit-default", 9)
    kinds = [e.kind for e in stores.events.list_events()]
    assert kinds.count("model.explained") == 2  # the refused ones wrote nothing
