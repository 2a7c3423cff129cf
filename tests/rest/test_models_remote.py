"""The model registry through a real ``loopml server`` (SQLite and PostgreSQL), by the SDK's
remote mode: reads, reviews and alias moves with each role's token; the rules enforced on the
server; the actor of each event the token's user."""

from __future__ import annotations

import itertools
import threading

import numpy as np
import pytest

from loopml.core.entities import ApprovalStatus, Role
from loopml.core.errors import (
    AccessDeniedError,
    ApprovalRequiredError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    UnapprovedVersionWarning,
)
from tests.rest.live_server import LiveServer
from tests.rest.registry_seed import Clients, frame, seed, server_store


def test_reads_through_the_server(live_server: LiveServer, unique: str, clients: Clients) -> None:
    seeded = seed(live_server, unique)
    viewer = clients(Role.VIEWER)
    models = viewer.models
    assert unique in [m.name for m in models.list_models()]
    assert [v.version for v in models.versions(unique)] == [1, 2]
    assert models.get(f"{unique}@1") == seeded.versions[0]
    assert models.get(f"{unique}@latest") == seeded.versions[1]
    assert models.manifest(f"{unique}@2").files
    lineage = models.lineage(f"{unique}@1")
    assert lineage.version == seeded.versions[0]
    assert [(d.ref, role) for d, role in lineage.datasets] == [(seeded.dataset.ref, "train")]
    used = models.models_from_dataset(seeded.dataset.ref)
    assert sorted(v.version for v, _ in used) == [1, 2]
    with pytest.raises(NotFoundError, match="no alias 'champion'"):
        models.get(f"{unique}@champion")
    with pytest.raises(NotFoundError, match="Did you mean"):
        models.versions(unique + "x")
    with pytest.raises(InvalidArgumentError):
        models.get(f"{unique}@not an alias")


def test_editor_may_not_approve_or_move_champion(
    live_server: LiveServer, unique: str, clients: Clients
) -> None:
    seed(live_server, unique)
    editor = clients(Role.EDITOR)
    before = editor.events(subject=f"model:{unique}@")
    with pytest.raises(AccessDeniedError, match="editor.*approve"):
        editor.models.approve(f"{unique}@1", comment="looks fine")
    with pytest.raises(AccessDeniedError, match="move champion"):
        editor.models.set_alias(unique, "champion", 1)
    with pytest.raises(AccessDeniedError, match="move champion"):
        editor.models.rollback(unique, reason="bad day")
    assert editor.models.get(f"{unique}@1").approval is ApprovalStatus.PENDING
    assert editor.models.aliases(unique) == {}
    assert editor.events(subject=f"model:{unique}@") == before  # nothing recorded
    assert editor.events(subject=f"alias:{unique}*", kind="alias.moved") == []


def test_approver_approves_and_moves_champion_as_itself(
    live_server: LiveServer, unique: str, clients: Clients
) -> None:
    seed(live_server, unique)
    approver = clients(Role.APPROVER)
    with pytest.raises(ApprovalRequiredError, match="approved"):
        approver.models.set_alias(unique, "champion", 1)  # 409: not approved yet
    assert approver.models.aliases(unique) == {}
    approved = approver.models.approve(f"{unique}@1", comment="beats the baseline")
    assert approved.approval is ApprovalStatus.APPROVED
    assert approved.reviewer == "approver-user"
    move = approver.models.set_alias(unique, "champion", 1, reason="first release")
    assert (move.to_version, move.actor) == (1, "approver-user")
    assert approver.models.get(f"{unique}@champion").version == 1
    moved = [e for e in approver.events(kind="alias.moved") if e.event_id == move.event_id]
    assert len(moved) == 1
    assert moved[0].actor == "approver-user"
    assert moved[0].address == "127.0.0.1"
    assert moved[0].reason == "first release"
    reviewed = approver.events(subject=f"model:{unique}@1", kind="model.approved")
    assert [e.actor for e in reviewed] == ["approver-user"]
    # the latest version is pending while a champion exists: the bare name warns, as embedded
    with pytest.warns(UnapprovedVersionWarning, match=f"{unique}@champion"):
        assert approver.models.get(unique).version == 2
    with pytest.raises(ConflictError, match="champion"):
        approver.models.reject(f"{unique}@1", comment="changed my mind")


def test_editor_moves_other_aliases_rolls_back_and_loads(
    live_server: LiveServer, unique: str, clients: Clients
) -> None:
    seed(live_server, unique)
    editor = clients(Role.EDITOR)
    models = editor.models
    models.set_alias(unique, "challenger", 1, reason="try one")
    models.set_alias(unique, "challenger", 2, reason="try two")
    with pytest.raises(InvalidArgumentError, match="reason"):
        models.rollback(unique, alias="challenger", reason="")
    back = models.rollback(unique, alias="challenger", reason="two was worse")
    assert (back.from_version, back.to_version, back.rollback) == (2, 1, True)
    history = models.alias_history(unique, "challenger")
    assert [(m.from_version, m.to_version) for m in history] == [(None, 1), (1, 2), (2, 1)]
    assert {m.actor for m in history} == {"editor-user"}
    removed = models.remove_alias(unique, "challenger", reason="done")
    assert removed.to_version is None
    assert models.aliases(unique) == {}
    with pytest.raises(NotFoundError, match="no alias 'challenger'"):
        models.remove_alias(unique, "challenger")


def test_concurrent_clients_moving_one_alias_lose_no_move(
    live_server: LiveServer, unique: str, clients: Clients
) -> None:
    seed(live_server, unique, versions=3)
    editors = [clients(Role.EDITOR) for _ in range(6)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(editors))

    def move(index: int) -> None:
        try:
            start.wait()
            for round_ in range(3):
                version = (index + round_) % 3 + 1
                editors[index].models.set_alias(unique, "challenger", version, reason=f"{index}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=move, args=(i,)) for i in range(len(editors))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    history = editors[0].models.alias_history(unique, "challenger")
    assert len(history) == 18  # every move recorded, none lost
    for before, after in itertools.pairwise(history):
        assert after.from_version == before.to_version  # each saw the one before it
    assert editors[0].models.aliases(unique)["challenger"] == history[-1].to_version


def test_remote_signatures_match_the_services() -> None:
    """Every public method of a service has a remote twin with the same signature."""
    import inspect

    from loopml.client.remote.datasets import RemoteDatasets
    from loopml.client.remote.deployments import RemoteDeployments
    from loopml.client.remote.evaluations import RemoteEvaluations
    from loopml.client.remote.models import RemoteModels
    from loopml.client.remote.monitoring import RemoteMonitoring
    from loopml.data import DatasetService
    from loopml.evaluation import EvaluationService
    from loopml.health import MonitorService
    from loopml.registry import ModelRegistry
    from loopml.serving.deployments import DeploymentService

    pairs = [
        (ModelRegistry, RemoteModels),
        (DatasetService, RemoteDatasets),
        (EvaluationService, RemoteEvaluations),
        (DeploymentService, RemoteDeployments),
        (MonitorService, RemoteMonitoring),
    ]
    for service, proxy in pairs:
        for name, member in inspect.getmembers(service):
            if name.startswith("_") or not inspect.isfunction(member):
                continue
            assert hasattr(proxy, name), f"{proxy.__name__} lacks {name}"
            theirs = inspect.signature(member)
            ours = inspect.signature(getattr(proxy, name))
            assert list(ours.parameters) == list(theirs.parameters), (service, name)
            for key, parameter in theirs.parameters.items():
                assert ours.parameters[key].kind == parameter.kind, (service, name, key)
                assert ours.parameters[key].default == parameter.default, (service, name, key)


def test_loaded_model_predicts_like_the_embedded_one(
    live_server: LiveServer, unique: str, clients: Clients
) -> None:
    seed(live_server, unique)
    viewer = clients(Role.VIEWER)
    rows = frame().drop(columns="target").head(20)
    remote = viewer.models.load(f"{unique}@2").predict(rows)
    from loopml.registry import ModelRegistry

    local = ModelRegistry(server_store(live_server)).load(f"{unique}@2").predict(rows)
    assert np.array_equal(np.asarray(remote), np.asarray(local))


def test_register_remotely_packages_here_and_registers_there(
    live_server: LiveServer, unique: str, clients: Clients
) -> None:
    from sklearn.linear_model import LogisticRegression

    editor = clients(Role.EDITOR)
    data = frame()
    dataset = editor.datasets.register(f"{unique}-data", data, target="target")
    X, y = data.drop(columns="target"), data["target"]
    version = editor.models.register(
        LogisticRegression(max_iter=3000).fit(X, y),
        unique,
        training_data=dataset.ref,
        description="remote",
        tags={"team": "risk"},
    )
    assert (version.ref, version.created_by) == (f"{unique}@1", "editor-user")
    assert version.training_data == dataset.ref
    assert version.tags == {"team": "risk"}
    assert version.signature.input_names == tuple(X.columns)
    events = editor.events(subject=f"model:{unique}@1", kind="model.registered")
    assert [e.actor for e in events] == ["editor-user"]
    # the package the server stored loads there and predicts like the fitted object
    from loopml.registry import ModelRegistry

    on_server = ModelRegistry(server_store(live_server)).load(version.ref)
    fitted = LogisticRegression(max_iter=3000).fit(X, y)
    assert np.array_equal(np.asarray(on_server.predict(X)), fitted.predict(X))
    viewer = clients(Role.VIEWER)
    with pytest.raises(AccessDeniedError, match="write"):
        viewer.models.register(LogisticRegression(max_iter=3000).fit(X, y), unique, input_example=X)
    assert [v.version for v in viewer.models.versions(unique)] == [1]


def test_a_remote_run_logs_its_data_and_model_with_lineage(
    live_server: LiveServer, unique: str, clients: Clients
) -> None:
    from sklearn.linear_model import LogisticRegression

    editor = clients(Role.EDITOR)
    data = frame()
    X, y = data.drop(columns="target"), data["target"]
    train = editor.datasets.register(f"{unique}-train", data, target="target")
    holdout = editor.datasets.register(f"{unique}-holdout", data.tail(100), target="target")
    with editor.start_run(unique, name="fit") as run:
        run.log_input(holdout, role="eval")
        version = run.log_model(
            LogisticRegression(max_iter=3000).fit(X, y), unique, training_data=train.ref
        )
    assert version.run_id == run.run_id
    lineage = editor.models.lineage(version.ref)
    assert lineage.run is not None and lineage.run.run_id == run.run_id
    assert sorted((d.ref, role) for d, role in lineage.datasets) == [
        (holdout.ref, "eval"),
        (train.ref, "train"),
    ]
    assert editor.datasets.runs_using(train.ref) == [(run.run_id, "train")]
    inputs = editor.datasets.inputs_of(run.run_id)
    assert sorted(role for _, role in inputs) == ["eval", "train"]


def test_export_onnx_here_and_record_it_there(
    live_server: LiveServer, unique: str, clients: Clients
) -> None:
    seeded = seed(live_server, unique, versions=1)
    editor = clients(Role.EDITOR)
    rows = frame().drop(columns="target")
    exported = editor.models.export_onnx(f"{unique}@1", holdout=seeded.dataset.ref, rows=200)
    export = exported.export("onnx")
    assert export is not None and export.created_by == "editor-user"
    assert export.check["rows"] == 200 and export.check["holdout"] == seeded.dataset.ref
    events = editor.events(subject=f"model:{unique}@1", kind="model.exported")
    assert [e.actor for e in events] == ["editor-user"]
    onnx = editor.models.load(f"{unique}@1", runtime="onnx").predict(rows.head(50))
    native = editor.models.load(f"{unique}@1").predict(rows.head(50))
    assert np.array_equal(np.asarray(onnx), np.asarray(native))
    # the native package posted as an "export" is refused: not an ONNX copy
    import httpx

    answer = httpx.post(
        f"{live_server.url}/api/v1/models/{unique}/versions/1/exports",
        json={"manifest_digest": seeded.versions[0].manifest_digest, "check": {"rows": 1}},
        headers=live_server.headers(Role.EDITOR),
    )
    assert answer.status_code == 422 and "not an ONNX copy" in answer.json()["error"]
    assert len(editor.models.get(f"{unique}@1").exports) == 1
