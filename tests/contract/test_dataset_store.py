"""Contract suite of :class:`~loopml.store.protocols.DatasetStore`, run on every backend.

The dataset store shares its engine with the tracking store (runs are the inputs' owners).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass

import orjson
import pytest

from loopml.core.entities import (
    ColumnProfile,
    ColumnRole,
    ColumnSchema,
    DatasetProfile,
    DatasetSchema,
    DatasetVersion,
    Event,
    Experiment,
    NumericSummary,
    Run,
    RunStatus,
)
from loopml.core.entities.data import OTHER
from loopml.core.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from loopml.core.ids import RunId, new_event_id, new_experiment_id, new_run_id
from loopml.store.protocols import DatasetStore, EventStore, TrackingStore
from loopml.store.sql import SqlDatasetStore, SqlEventStore, SqlTrackingStore
from loopml.store.sql.migrate import open_store_engine


@dataclass
class Stores:
    tracking: TrackingStore
    datasets: DatasetStore
    events: EventStore


@pytest.fixture
def stores(db_url: str) -> Iterator[Stores]:
    db = open_store_engine(db_url)
    tracking = SqlTrackingStore.from_engine(db)
    yield Stores(tracking=tracking, datasets=SqlDatasetStore(db), events=SqlEventStore(db))
    tracking.close()


SCHEMA = DatasetSchema(
    columns=(
        ColumnSchema("age", "int64", ColumnRole.NUMERIC, nullable=False),
        ColumnSchema(
            "city",
            "string",
            ColumnRole.CATEGORICAL,
            nullable=True,
            categories=("paris", "lyon"),
            other_bucket=True,
        ),
        ColumnSchema("default", "bool", ColumnRole.TARGET, nullable=False, categories=("0", "1")),
    ),
    target="default",
)
PROFILE = DatasetProfile(
    rows=100,
    columns=(
        ColumnProfile(
            "age",
            count=100,
            nulls=0,
            distinct=40,
            numeric=NumericSummary(
                min=18.0,
                max=math.inf,
                mean=41.5,
                std=12.25,
                quantiles={"0.5": 40.0, "0.9": 63.0},
                bin_edges=(18.0, 40.0, 62.0, 90.0),
                bin_counts=(50, 40, 10),
            ),
        ),
        ColumnProfile(
            "city",
            count=100,
            nulls=5,
            distinct=7,
            frequencies={"paris": 60, "lyon": 30, OTHER: 5},
        ),
        ColumnProfile("default", count=100, nulls=0, distinct=2, frequencies={"0": 80, "1": 20}),
    ),
)


def draft(name: str = "credit", content: str = "a", **kw: object) -> DatasetVersion:
    fields: dict[str, object] = {
        "name": name,
        "version": 0,
        "content_hash": content * 64,
        "artifact_digest": "d" * 64,
        "rows": 100,
        "size_bytes": 2048,
        "created_at": 1_700_000_000_000,
        "created_by": "ada",
        "schema": SCHEMA,
        "profile": PROFILE,
        "description": "loans",
    }
    fields.update(kw)
    return DatasetVersion(**fields)  # type: ignore[arg-type]


def make_run(stores: Stores, start_time: int = 1000) -> RunId:
    experiment = stores.tracking.get_experiment_by_name("exp")
    if experiment is None:
        experiment = Experiment(new_experiment_id(), "exp", 0)
        stores.tracking.create_experiment(experiment)
    run = Run(new_run_id(), experiment.experiment_id, "run", RunStatus.RUNNING, start_time)
    stores.tracking.create_run(run)
    return run.run_id


# -- registration ----------------------------------------------------------------------------


def test_versions_are_numbered_from_one_and_content_is_registered_once(stores: Stores) -> None:
    ds = stores.datasets
    first, created = ds.create_version(draft(version=42))
    assert (first.version, created) == (1, True)
    assert first == dataclasses.replace(draft(), version=1)
    again, created = ds.create_version(draft(created_at=5, created_by="bob"))
    assert (again, created) == (first, False)  # the stored one, not the new draft
    second, created = ds.create_version(draft(content="b"))
    assert (second.version, created) == (2, True)
    other, _ = ds.create_version(draft(name="churn", content="a"))
    assert other.version == 1  # numbering and content identity are per name
    assert [v.version for v in ds.list_versions("credit")] == [1, 2]


def test_reads_return_the_stored_entity(stores: Stores) -> None:
    ds = stores.datasets
    v1, _ = ds.create_version(draft())
    v2, _ = ds.create_version(draft(content="b", description=""))
    c1, _ = ds.create_version(draft(name="churn"))
    assert ds.get_version("credit", 1) == v1
    assert ds.get_latest("credit") == v2
    assert ds.list_versions("credit") == [v1, v2]
    assert ds.list_datasets() == [c1, v2]  # by name, latest of each


def test_schema_and_profile_round_trip_through_json(stores: Stores) -> None:
    stores.datasets.create_version(draft())
    got = stores.datasets.get_version("credit", 1)
    assert got.schema == SCHEMA
    assert got.profile == PROFILE
    age = got.profile.column("age").numeric
    assert age is not None and age.max == math.inf
    assert got.profile.column("city").frequencies == {"paris": 60, "lyon": 30, OTHER: 5}
    assert got.schema.column("city").categories == ("paris", "lyon")
    # The entity's dict form survives strict JSON too (what the REST API returns).
    assert DatasetVersion.from_dict(orjson.loads(orjson.dumps(got.to_dict()))) == got


def test_parents_children_and_splits(stores: Stores) -> None:
    ds = stores.datasets
    base, _ = ds.create_version(draft(name="raw"))
    extra, _ = ds.create_version(draft(name="extra"))
    train, _ = ds.create_version(
        draft(name="train", parents=("raw@1", "extra@1", "raw@1"), split="train")
    )
    test, _ = ds.create_version(draft(name="test", parents=("raw@1",), split="test"))
    assert train.parents == ("extra@1", "raw@1")  # once each, in (name, version) order
    assert ds.get_version("train", 1) == train
    assert (ds.get_version("test", 1).split, ds.get_version("test", 1).parents) == (
        "test",
        ("raw@1",),
    )
    assert ds.children(base.name, base.version) == [test, train]
    assert ds.children(extra.name, 1) == [train]
    assert ds.children("train", 1) == []
    assert ds.children("nope", 1) == []


def test_unknown_parent_or_run_writes_nothing(stores: Stores) -> None:
    ds = stores.datasets
    ds.create_version(draft(name="raw"))
    with pytest.raises(NotFoundError, match=r"parent 'raw@2' does not exist.*has no version 2"):
        ds.create_version(draft(name="train", parents=("raw@2",)))
    with pytest.raises(NotFoundError, match=r"parent 'rwa@1' .*No dataset named 'rwa'"):
        ds.create_version(draft(name="train", parents=("rwa@1",)))
    with pytest.raises(InvalidArgumentError, match=r"'raw' is not of the form 'name@version'"):
        ds.create_version(draft(name="train", parents=("raw",)))
    missing = new_run_id()
    with pytest.raises(NotFoundError, match=rf"run '{missing}' does not exist"):
        ds.create_version(draft(name="train", run_id=missing))
    with pytest.raises(NotFoundError, match="No dataset named 'train'"):
        ds.get_latest("train")


def registered(version: DatasetVersion) -> Event:
    """The ``on_created`` callback of the tests: the event of a registration."""
    return Event(
        event_id=new_event_id(),
        kind="dataset.registered",
        subject=f"dataset:{version.ref}",
        actor=version.created_by,
        at=version.created_at,
        links={"dataset": version.name},
        data={"rows": version.rows, "version": version.version},
    )


def test_the_event_of_a_registration_is_stored_with_the_version(stores: Stores) -> None:
    seen: list[DatasetVersion] = []

    def on_created(version: DatasetVersion) -> Event:
        seen.append(version)
        return registered(version)

    first, created = stores.datasets.create_version(draft(), on_created=on_created)
    second, _ = stores.datasets.create_version(draft(content="b"), on_created=on_created)
    assert created and seen == [first, second]  # called with the numbered, stored version
    (e1, e2) = stores.events.list_events(subject_prefix="dataset:credit@")
    assert (e1.subject, e1.kind, dict(e1.data)) == (
        "dataset:credit@1",
        "dataset.registered",
        {"rows": 100, "version": 1},
    )
    assert e2.subject == "dataset:credit@2"


def test_no_event_when_the_content_already_existed(stores: Stores) -> None:
    stores.datasets.create_version(draft(), on_created=registered)
    calls: list[DatasetVersion] = []

    def on_created(version: DatasetVersion) -> Event:
        calls.append(version)
        return registered(version)

    again, created = stores.datasets.create_version(draft(created_by="bob"), on_created=on_created)
    assert (again.version, created, calls) == (1, False, [])
    assert len(stores.events.list_events()) == 1


def test_a_failing_on_created_writes_neither_version_nor_event(stores: Stores) -> None:
    def on_created(version: DatasetVersion) -> Event:
        raise RuntimeError(f"cannot describe {version.ref}")

    with pytest.raises(RuntimeError, match=r"cannot describe credit@1"):
        stores.datasets.create_version(draft(), on_created=on_created)
    with pytest.raises(NotFoundError, match="No dataset named 'credit'"):
        stores.datasets.get_latest("credit")
    assert stores.events.list_events() == []


def test_an_event_that_cannot_be_written_writes_no_version(stores: Stores) -> None:
    stored = registered(draft())
    stores.events.append(stored)

    def duplicate(version: DatasetVersion) -> Event:
        return dataclasses.replace(registered(version), event_id=stored.event_id)

    with pytest.raises(AlreadyExistsError, match=rf"event with id '{stored.event_id}'"):
        stores.datasets.create_version(draft(), on_created=duplicate)
    with pytest.raises(NotFoundError, match="No dataset named 'credit'"):
        stores.datasets.get_latest("credit")
    assert stores.events.list_events() == [stored]


def test_not_found_messages(stores: Stores) -> None:
    ds = stores.datasets
    for content in "abc":
        ds.create_version(draft(content=content))
    with pytest.raises(
        NotFoundError,
        match=r"^Dataset 'credit' has no version 7; it has versions 1-3 \(latest 3\)\.$",
    ):
        ds.get_version("credit", 7)
    expected = (
        r"^No dataset named 'credi'\. Did you mean 'credit'\? List them with `loopml data list`\.$"
    )
    for call in (
        lambda: ds.get_latest("credi"),
        lambda: ds.list_versions("credi"),
        lambda: ds.get_version("credi", 1),
    ):
        with pytest.raises(NotFoundError, match=expected):
            call()
    with pytest.raises(NotFoundError, match=r"^No dataset named 'zzz'\. List them with"):
        ds.get_latest("zzz")
    assert ds.list_datasets()[0].version == 3


# -- lineage of runs -------------------------------------------------------------------------


def test_inputs_of_runs(stores: Stores) -> None:
    ds = stores.datasets
    v1, _ = ds.create_version(draft())
    v2, _ = ds.create_version(draft(content="b"))
    early, late = make_run(stores, start_time=10), make_run(stores, start_time=20)
    ds.log_input(late, "credit", 1, "train")
    ds.log_input(late, "credit", 1, "train")  # idempotent
    ds.log_input(late, "credit", 2, "eval")
    ds.log_input(late, "credit", 1, "eval")
    ds.log_input(early, "credit", 1, "train")
    assert ds.inputs_of(late) == [(v1, "eval"), (v1, "train"), (v2, "eval")]
    assert ds.inputs_of(make_run(stores)) == []
    assert ds.runs_using("credit", 1) == [(early, "train"), (late, "eval"), (late, "train")]
    assert ds.runs_using("credit", 2) == [(late, "eval")]
    assert ds.runs_using("credit", 9) == []


def test_input_errors(stores: Stores) -> None:
    ds = stores.datasets
    ds.create_version(draft())
    run_id = make_run(stores)
    missing = new_run_id()
    with pytest.raises(NotFoundError, match=rf"Run '{missing}' does not exist"):
        ds.log_input(missing, "credit", 1, "train")
    with pytest.raises(NotFoundError, match=rf"Run '{missing}' does not exist"):
        ds.inputs_of(missing)
    with pytest.raises(NotFoundError, match=r"Dataset 'credit' has no version 2; it has version 1"):
        ds.log_input(run_id, "credit", 2, "train")
    with pytest.raises(NotFoundError, match="No dataset named 'other'"):
        ds.log_input(run_id, "other", 1, "train")
    assert ds.inputs_of(run_id) == []


def test_purging_a_run_removes_its_inputs_and_unlinks_its_datasets(stores: Stores) -> None:
    ds = stores.datasets
    run_id = make_run(stores)
    made, _ = ds.create_version(draft(run_id=run_id))
    assert made.run_id == run_id
    ds.log_input(run_id, "credit", 1, "train")
    stores.tracking.purge_run(run_id)
    assert ds.runs_using("credit", 1) == []
    assert ds.get_version("credit", 1) == dataclasses.replace(made, run_id=None)
