"""Contract suite of :class:`~loopml.store.protocols.DeploymentStore`, run on every backend."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator

import pytest

from loopml.core.entities import CanaryRoute, Deployment, Event
from loopml.core.errors import AlreadyExistsError, ConflictError, NotFoundError
from loopml.core.ids import new_event_id
from loopml.store.protocols import DeploymentChange, DeploymentStore, EventStore
from loopml.store.sql import SqlDeploymentStore, SqlEventStore
from loopml.store.sql.migrate import open_store_engine

GUARDRAILS = {
    "inputs": [{"column": "age", "min": 18, "max": 100, "action": "clip"}],
    "outputs": [{"threshold": 0.7}],
}


@pytest.fixture
def stores(db_url: str) -> Iterator[tuple[DeploymentStore, EventStore]]:
    db = open_store_engine(db_url)
    yield SqlDeploymentStore(db), SqlEventStore(db)
    db.dispose()


def record(name: str = "credit", version: int = 1, **kw: object) -> Deployment:
    fields: dict[str, object] = {
        "name": name,
        "champion": "credit-default@champion",
        "version": version,
        "created_at": 1_000,
        "created_by": "ada",
        "updated_at": 1_000 + version,
        "updated_by": "ada",
    }
    return Deployment(**(fields | kw))  # type: ignore[arg-type]


def event(name: str, kind: str, version: int, event_id: str | None = None) -> Event:
    return Event(
        event_id or new_event_id(),
        f"deployment.{kind}",
        f"deployment:{name}",
        "ada",
        1_000 + version,
        reason=f"change {version}",
        data={"version": version},
    )


def write(
    store: DeploymentStore, name: str, deployment: Deployment | None, kind: str = "changed"
) -> int:
    def work(change: DeploymentChange) -> int:
        version = change.last_version() + 1
        new = None if deployment is None else dataclasses.replace(deployment, version=version)
        change.write(version, new, event(name, kind, version))
        return version

    return store.change(name, work)


def test_a_record_round_trips_with_every_field(
    stores: tuple[DeploymentStore, EventStore],
) -> None:
    deployments, _ = stores
    full = record(
        canary=CanaryRoute("credit-default@challenger", 12.5),
        shadows=("credit-default@7", "other@2"),
        fallback="value:0",
        guardrails=GUARDRAILS,
        runtime="native",
    )
    bare = record("bare", fallback=None)
    assert deployments.get("credit") is None
    assert write(deployments, "credit", full, "created") == 1
    write(deployments, "bare", bare, "created")
    assert deployments.get("credit") == full
    assert deployments.get("bare") == bare
    assert [d.name for d in deployments.list_deployments()] == ["bare", "credit"]
    assert deployments.get("credit").to_dict() == full.to_dict()  # type: ignore[union-attr]


def test_changes_are_numbered_and_history_is_their_events(
    stores: tuple[DeploymentStore, EventStore],
) -> None:
    deployments, events = stores
    write(deployments, "credit", record(), "created")
    write(deployments, "credit", record(canary=CanaryRoute("credit-default@challenger", 0)))
    write(deployments, "credit", record(canary=CanaryRoute("credit-default@challenger", 20)))
    current = deployments.get("credit")
    assert current is not None and current.version == 3
    assert current.canary == CanaryRoute("credit-default@challenger", 20.0)
    assert [(e.kind, e.data["version"]) for e in deployments.history("credit")] == [
        ("deployment.created", 1),
        ("deployment.changed", 2),
        ("deployment.changed", 3),
    ]
    # the events are in the audit log too, under the deployment's subject
    assert len(events.list_events(subject="deployment:credit")) == 3
    assert deployments.history("never") == []


def test_delete_keeps_the_history_and_numbering_goes_on(
    stores: tuple[DeploymentStore, EventStore],
) -> None:
    deployments, _ = stores
    write(deployments, "credit", record(), "created")
    assert write(deployments, "credit", None, "deleted") == 2
    assert deployments.get("credit") is None
    assert deployments.list_deployments() == []
    assert write(deployments, "credit", record(), "created") == 3
    assert deployments.get("credit").version == 3  # type: ignore[union-attr]
    kinds = [e.kind for e in deployments.history("credit")]
    assert kinds == ["deployment.created", "deployment.deleted", "deployment.created"]
    with pytest.raises(NotFoundError, match="no deployment 'other' to delete"):
        write(deployments, "other", None, "deleted")
    assert deployments.history("other") == []


def test_a_version_out_of_sequence_is_refused_and_nothing_is_written(
    stores: tuple[DeploymentStore, EventStore],
) -> None:
    deployments, events = stores
    write(deployments, "credit", record(), "created")

    def stale(change: DeploymentChange) -> None:
        change.write(1, record(version=1), event("credit", "changed", 1))

    with pytest.raises(ConflictError, match="the next version is 2"):
        deployments.change("credit", stale)

    def mismatched(change: DeploymentChange) -> None:
        change.write(2, record(version=5), event("credit", "changed", 2))

    with pytest.raises(ConflictError, match="change 2 cannot be written"):
        deployments.change("credit", mismatched)

    def other_name(change: DeploymentChange) -> None:
        change.write(2, record("other", version=2), event("credit", "changed", 2))

    with pytest.raises(ConflictError, match="cannot write the record of 'other'"):
        deployments.change("credit", other_name)
    assert deployments.get("credit").version == 1  # type: ignore[union-attr]
    assert len(events.list_events(subject="deployment:credit")) == 1


def test_the_record_and_its_event_are_written_together_or_not_at_all(
    stores: tuple[DeploymentStore, EventStore],
) -> None:
    deployments, events = stores
    taken = new_event_id()
    events.append(Event(taken, "other.thing", "other:x", "ada", 1))

    def clash(change: DeploymentChange) -> None:
        change.write(1, record(), event("credit", "created", 1, event_id=taken))

    with pytest.raises(AlreadyExistsError, match=taken):
        deployments.change("credit", clash)
    assert deployments.get("credit") is None
    assert deployments.history("credit") == []


def test_concurrent_changes_each_see_the_one_before(
    stores: tuple[DeploymentStore, EventStore],
) -> None:
    """Eight threads, five changes each, every one a read-modify-write of the shadow list:
    under the deployment's lock no change is lost and versions are consecutive."""
    deployments, _ = stores
    write(deployments, "credit", record(), "created")
    errors: list[BaseException] = []

    def add_shadow(tag: str) -> None:
        def work(change: DeploymentChange) -> None:
            current = change.current()
            assert current is not None
            version = change.last_version() + 1
            new = dataclasses.replace(
                current, shadows=(*current.shadows, f"m@{tag}"), version=version
            )
            change.write(version, new, event("credit", "changed", version))

        deployments.change("credit", work)

    def worker(i: int) -> None:
        try:
            for j in range(5):
                add_shadow(f"s{i}-{j}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    final = deployments.get("credit")
    assert final is not None and final.version == 41
    assert sorted(final.shadows) == sorted(f"m@s{i}-{j}" for i in range(8) for j in range(5))
    assert [e.data["version"] for e in deployments.history("credit")] == list(range(1, 42))
