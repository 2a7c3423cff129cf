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
from loopml.core.errors import AlreadyExistsError, NotFoundError
from loopml.core.ids import RunId, new_event_id, new_experiment_id, new_run_id
from loopml.store.protocols import DatasetStore, EventStore, ModelStore, TrackingStore
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


def moved(name: str, alias: str, to: int | None) -> object:
    def build(previous: int | None) -> Event:
        return Event(
            new_event_id(),
            "alias.moved",
            f"model:{name}",
            "ada",
            2,
            data={"alias": alias, "from": previous, "to": to},
        )

    return build


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

    with pytest.raises(AlreadyExistsError):
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
    assert (
        models.set_alias(
            "credit-default", "champion", 1, at=5, event=moved("credit-default", "champion", 1)
        )
        is None
    )  # type: ignore[arg-type]
    assert (
        models.set_alias(
            "credit-default", "champion", 2, at=6, event=moved("credit-default", "champion", 2)
        )
        == 1
    )  # type: ignore[arg-type]
    models.set_alias(
        "credit-default", "challenger", 1, at=7, event=moved("credit-default", "challenger", 1)
    )  # type: ignore[arg-type]
    assert models.get_aliases("credit-default") == {"challenger": 1, "champion": 2}
    assert models.list_models()[0].aliases == {"challenger": 1, "champion": 2}
    history = [e.data for e in stores.events.list_events(kind="alias.moved")]
    assert [(d["alias"], d["from"], d["to"]) for d in history] == [
        ("champion", None, 1),
        ("champion", 1, 2),
        ("challenger", None, 1),
    ]
    assert (
        models.set_alias(
            "credit-default",
            "challenger",
            None,
            at=8,
            event=moved("credit-default", "challenger", None),
        )
        == 1
    )  # type: ignore[arg-type]
    assert models.get_aliases("credit-default") == {"champion": 2}


def test_alias_to_a_missing_version_changes_nothing(stores: Stores) -> None:
    stores.models.create_version(draft())
    with pytest.raises(NotFoundError, match="has no version 3"):
        stores.models.set_alias(
            "credit-default", "champion", 3, at=1, event=moved("credit-default", "champion", 3)
        )  # type: ignore[arg-type]
    with pytest.raises(NotFoundError, match="has no alias 'champion'"):
        stores.models.set_alias(
            "credit-default",
            "champion",
            None,
            at=1,
            event=moved("credit-default", "champion", None),
        )  # type: ignore[arg-type]
    assert stores.models.get_aliases("credit-default") == {}
    assert stores.events.list_events() == []


def test_approval_and_export_are_recorded_with_events(stores: Stores) -> None:
    stores.models.create_version(draft())
    reviewed = stores.models.set_approval(
        "credit-default",
        1,
        status=ApprovalStatus.APPROVED,
        reviewer="grace",
        comment="AUC holds on every slice",
        at=9,
        event=Event(new_event_id(), "model.approved", "model:credit-default@1", "grace", 9),
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
    with pytest.raises(NotFoundError):
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
