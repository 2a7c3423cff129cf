"""A run's life is in the audit log: created, ended, resumed, deleted, restored, purged; what
is logged on it (metric points, params, tags) is not."""

from __future__ import annotations

import pytest

from loopml.core.entities import Event, RunStatus
from loopml.core.errors import NotFoundError
from loopml.core.ids import new_event_id
from loopml.core.origin import Origin, acting_as
from loopml.governance import verify_chain
from loopml.tracking import TrackingService


def kinds(service: TrackingService, run_id: str) -> list[str]:
    return [e.kind for e in service.backend.events.list_events(subject=f"run:{run_id}")]


def test_a_runs_life_is_in_the_log(service: TrackingService) -> None:
    parent = service.create_run(experiment="audit", name="parent")
    child = service.create_run(name="child", parent_run_id=parent.run_id)
    service.log_params(child.run_id, {"lr": 0.1})
    service.log_metric(child.run_id, "loss", 0.5, step=1)
    service.set_tags(child.run_id, {"team": "a"})
    service.end_run(child.run_id, status=RunStatus.FAILED, error="boom")
    service.resume_run(child.run_id)
    service.end_run(child.run_id)
    service.delete_run(child.run_id)
    service.restore_run(child.run_id)
    service.delete_run(child.run_id, purge=True)
    assert kinds(service, child.run_id) == [
        "run.created",
        "run.ended",
        "run.resumed",
        "run.ended",
        "run.deleted",
        "run.restored",
        "run.purged",
    ]
    created, failed, resumed, *_ = service.backend.events.list_events(subject=f"run:{child.run_id}")
    assert created.links == {"experiment": parent.experiment_id, "parent": parent.run_id}
    assert created.data == {"name": "child", "experiment": "audit"}
    assert failed.data == {"status": "FAILED"}
    assert resumed.data == {"from": "FAILED"}
    assert kinds(service, parent.run_id) == ["run.created"]
    assert verify_chain(service.backend.events).intact


def test_the_actor_and_origin_of_a_request(service: TrackingService) -> None:
    with acting_as(Origin(client="loopml-server/0.1.0", address="192.0.2.4", user="grace")):
        run = service.create_run(experiment="audit")
    (event,) = service.backend.events.list_events(subject=f"run:{run.run_id}")
    assert (event.actor, event.client, event.address) == (
        "grace",
        "loopml-server/0.1.0",
        "192.0.2.4",
    )


def test_a_change_of_a_missing_run_writes_no_event(service: TrackingService) -> None:
    with pytest.raises(NotFoundError):
        service.store.end_run(
            "f" * 32,  # type: ignore[arg-type]
            status=RunStatus.FINISHED,
            end_time=1,
            event=Event(new_event_id(), "run.ended", f"run:{'f' * 32}", "ada", 1),
        )
    assert service.backend.events.list_events() == []
