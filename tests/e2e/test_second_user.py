"""Issue 18's closing test: a second user, in another process with only the server's URL and an
editor's token, does the tracking, datasets, registry and evaluation stages through a real
``loopml server --auth token`` (SQLite and PostgreSQL); the approver's actions are refused to
them with nothing changed; the first process (an approver) then approves and moves
``champion``; ``loopml audit verify`` passes, and names a row edited in the database.

The second user is :mod:`tests.e2e.second_user`, which writes what it saw to a JSON file; this
test reads everything back through its own client and compares."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loopml.cli import main as cli_main
from loopml.client import LoopmlClient
from loopml.core.entities import ApprovalStatus, Role, RunStatus
from loopml.core.settings import resolve_settings
from loopml.store.sql.engine import StoreEngine
from tests.rest.live_server import LiveServer
from tests.rest.registry_seed import server_store

ROOT = Path(__file__).resolve().parents[2]
SPOOFED_USER = "mallory-says-she-is-admin"


@pytest.fixture
def approver(live_server: LiveServer, tmp_path: Path) -> Iterator[LoopmlClient]:
    """The first process's client: remote, with the approver's token."""
    overrides = {
        "home": tmp_path / "approver" / ".loopml",
        "server_url": live_server.url,
        "token": live_server.tokens[Role.APPROVER],
    }
    yield LoopmlClient(settings=resolve_settings(overrides))
    from loopml.client.remote.connection import close_shared_transports

    close_shared_transports()


def second_user(server: LiveServer, prefix: str, work: Path) -> dict[str, Any]:
    """Run the second user's script in a process of its own, with an environment holding no
    store: the server's URL, an editor's token, and a user name it has no right to claim."""
    work.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(work),
        "PYTHONPATH": str(ROOT),
        "LOOPML_SERVER_URL": server.url,
        "LOOPML_TOKEN": server.tokens[Role.EDITOR],
        "LOOPML_USER": SPOOFED_USER,  # a client-chosen name: the audit log must ignore it
    }
    facts = work / "facts.json"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-m", "tests.e2e.second_user", prefix, str(facts)],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    loaded: dict[str, Any] = json.loads(facts.read_text())
    loaded["cpu_s"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return loaded


def test_a_second_user_does_every_stage_through_the_server(
    live_server: LiveServer,
    approver: LoopmlClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    started = time.perf_counter()
    prefix = f"e2e{uuid.uuid4().hex[:8]}"
    facts = second_user(live_server, prefix, tmp_path / "second")
    elapsed = time.perf_counter() - started
    assert facts["env"] == ["LOOPML_SERVER_URL", "LOOPML_TOKEN", "LOOPML_USER"]
    code, out, err = facts["doctor"]  # the server answers and takes the token
    assert code == 0 and f"server: {live_server.url}" in out, out + err

    check_datasets(facts["datasets"], approver)
    check_datasets_extra(facts["datasets_extra"], facts["datasets"]["name"])
    check_tracking(facts["tracking"], approver)
    check_registry(facts["registry"], approver)
    check_registry_extra(facts["registry_extra"], facts["registry"])
    check_evaluation(facts["evaluation"], facts["registry"]["ref"], approver)
    check_evaluation_extra(facts["evaluation_extra"], approver)
    check_audit_actors(prefix, facts, approver)

    # the first process, an approver, does what the editor could not
    ref, name = facts["registry"]["ref"], facts["registry"]["name"]
    approved = approver.models.approve(ref, comment="reviewed the evaluation")
    assert approved.approval is ApprovalStatus.APPROVED and approved.reviewer == "approver-user"
    move = approver.models.set_alias(name, "champion", approved.version, reason="first release")
    assert (move.to_version, move.actor) == (approved.version, "approver-user")
    assert approver.models.get(f"{name}@champion").version == approved.version

    # the audit log: intact, then an edited row of the second user's is found and named
    assert audit_verify(live_server, monkeypatch, capsys)["intact"]
    target = next(
        e
        for e in server_store(live_server).events.entries()
        if e.event.subject == f"model:{ref}" and e.event.kind == "model.registered"
    )
    edit_row(live_server, target.seq, "actor", "approver-user")
    try:
        report = audit_verify(live_server, monkeypatch, capsys)
        assert not report["intact"]
        assert report["problem"]["seq"] == target.seq
        assert report["problem"]["event_id"] == target.event.event_id
        assert report["problem"]["problem"] == "edited"
    finally:  # the session's server is shared: put the row back as it was
        edit_row(live_server, target.seq, "actor", target.event.actor)
    assert audit_verify(live_server, monkeypatch, capsys)["intact"]
    print(  # after the CLI's output is captured, so that pytest -s shows it
        f"second user: {elapsed:.1f} s wall, {facts['cpu_s']:.1f} s CPU, stages (cumulative) "
        f"{ {k: round(v, 1) for k, v in facts['times'].items()} }; "
        f"whole test: {time.perf_counter() - started:.1f} s"
    )


def audit_verify(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> dict[str, Any]:
    """``loopml audit verify --json`` on the server's host (its store's own settings); its
    exit code agrees with the report."""
    with monkeypatch.context() as env:
        for var in [k for k in os.environ if k.startswith("LOOPML_")]:
            env.delenv(var)
        env.setenv("LOOPML_HOME", str(server.home))
        if server.db_url:
            env.setenv("LOOPML_DB_URL", server.db_url)
        capsys.readouterr()
        code = cli_main(["audit", "verify", "--json"])
        out, err = capsys.readouterr()
    report: dict[str, Any] = json.loads(out)
    assert code == (0 if report["intact"] else 1), err
    return report


def edit_row(server: LiveServer, seq: int, column: str, value: str) -> None:
    """``UPDATE events SET column = value WHERE seq = ...``, as someone with the database's
    credentials (psql, sqlite3) would, around loopml."""
    url = server.db_url or f"sqlite:///{server.home / 'loopml.db'}"
    db = StoreEngine(url)
    try:
        db.write(
            lambda conn: conn.exec_driver_sql(
                f"UPDATE events SET {column} = ? WHERE seq = ?"
                if url.startswith("sqlite")
                else f"UPDATE events SET {column} = %s WHERE seq = %s",
                (value, seq),
            )
        )
    finally:
        db.dispose()


def check_datasets(seen: dict[str, Any], client: LoopmlClient) -> None:
    """Registration (the same rows twice: one version), schema and profile, validation of a
    good and a bad batch (SDK and CLI), a reproducible split, a diff."""
    assert seen["first"] == seen["again"] == f"{seen['name']}@1"
    assert seen["second"] == f"{seen['name']}@2" and seen["rows"] == [400, 569]
    assert seen["profile_radius_max"] == seen["radius_max"]  # the profile of the real rows
    assert seen["schema_columns"][0] == "id" and "target" in seen["schema_columns"]
    assert seen["cli_show_rows"] == 569
    assert seen["good_ok"] and not seen["bad_ok"]
    assert seen["bad_kinds"] == ["missing_column", "type_change"]
    code, out, _ = seen["cli_validate"]
    assert code == 1 and "FAILED" in out and "texture" in out
    assert seen["split"] == seen["split_again"]  # the same seed: the same versions
    assert seen["split_rows"]["train"] + seen["split_rows"]["test"] == 569
    assert seen["split_parents"] == {"train": [seen["second"]], "test": [seen["second"]]}
    assert seen["diff_rows_added"] == seen["cli_diff_rows_added"] == 169
    assert seen["saved_ok"] and seen["expectations"] == ["expectation_failed"]
    code, out, err = seen["cli_register"]
    assert code == 0 and seen["recent"] in out, err
    assert seen["recent_rows"] == 169
    # what the server holds, read by the first process
    train = client.datasets.get(seen["split"]["train"])
    assert train.rows == seen["split_rows"]["train"] and train.created_by == "editor-user"
    assert len(client.datasets.load(seen["split"]["train"])) == train.rows


def check_tracking(seen: dict[str, Any], client: LoopmlClient) -> None:
    """Every value the second user logged, read back by the first process."""
    experiment = seen["experiment"]
    for run_id, logged in seen["children"].items():
        run = client.get_run(run_id)
        assert run.status is RunStatus.FINISHED and run.parent_run_id == seen["parent"]
        assert run.params == {"C": str(logged["C"]), "max_iter": "500"}
        assert run.metrics["auc"] == logged["auc"]
        assert run.metrics["accuracy"] == logged["accuracy"]
        assert run.tags["stage"] == "candidate" and run.tags["batch"] == "yes"
        history = client.get_metric_history(run_id, "loss")
        assert [(p.step, p.value) for p in history] == list(enumerate(logged["loss"]))
        grad = client.get_metric_history(run_id, "grad")
        assert [(p.step, p.timestamp) for p in grad] == [
            (i, 1_700_000_000_000 + i) for i in range(5)
        ]
        paths = {a.path for a in client.list_artifacts(run_id)}
        assert {"notes.md", "plots/roc.txt", "plots/sub/pr.txt", "config.json"} <= paths
        assert client.read_artifact(run_id, "plots/sub/pr.txt") == b"pr curve points\n"
    assert sorted(seen["children"]) == seen["found_by_parent"]
    c1 = next(r for r, v in seen["children"].items() if v["C"] == 1.0)
    assert seen["found_by_filter"] == ([c1] if seen["children"][c1]["auc"] > 0.9 else [])
    best = max(seen["children"], key=lambda r: seen["children"][r]["auc"])
    assert seen["frame_first"] == best
    assert {"params.C", "metrics.auc", "tags.stage"} <= set(seen["frame_columns"])
    code, compared, _ = seen["compare"]
    assert code == 0 and "params.C" in compared and "metrics.auc" in compared
    assert [(p["step"], p["value"]) for p in seen["cli_history"]] == list(
        enumerate(seen["children"][best]["loss"])
    )
    assert seen["downloaded"] == ["plots/roc.txt", "plots/sub/pr.txt"]
    assert seen["read_back_notes"] == "# notes\n"
    status, error, metrics = seen["as_failed"]
    assert status == "FAILED" and "diverged at step 3" in error
    assert metrics == {"partial": 0.5}  # logged before the failure, kept
    failed = client.get_run(seen["failed"])
    assert failed.status is RunStatus.FINISHED  # failed, then resumed and finished
    history = client.get_metric_history(seen["failed"], "partial")
    assert [(p.step, p.value) for p in history] == [(0, 0.5), (1, 0.75)]
    failures = [e for e in client.events(subject=f"run:{seen['failed']}") if e.kind == "run.ended"]
    assert [e.data.get("status") for e in failures][:1] == ["FAILED"]
    assert seen["cli_failed"] == [seen["failed"]]
    parent = client.get_run(seen["parent"])
    assert parent.status is RunStatus.FINISHED and parent.tags["team"] == "risk"
    assert [e.name for e in client.list_experiments()].count(experiment) == 1
    train, test = sorted(ref for ref, _ in seen["inputs_of_parent"])[::-1]
    assert seen["inputs_of_parent"] == [[test, "eval"], [train, "train"]]
    assert seen["runs_using_train"] == [[seen["parent"], "train"]]
    # the failed run resumed: more artifacts of every kind, its metric's latest value
    status, metrics, paths = seen["resumed"]
    assert status == "FINISHED" and metrics == ["partial"]
    assert {"head.parquet", "raw/weights.bin", "resume.yaml"} <= set(paths)
    assert seen["resumed_head"] == 10 and bytes.fromhex(seen["resumed_bin"]) == b"\x00\x01weights"
    assert seen["experiments_cli"] == [0, True]
    for refused in (seen["delete_refused"][1], seen["cli_delete"][2]):
        assert "may not delete: that needs the role admin" in refused
    assert seen["cli_delete"][0] == 1
    assert not client.get_run(seen["failed"]).deleted


def check_registry(seen: dict[str, Any], client: LoopmlClient) -> None:
    """The model and its lineage as registered; the approver's actions refused (SDK and CLI,
    403, a message naming the role needed) and nothing changed by them."""
    version = client.models.get(seen["ref"])
    assert version.created_by == "editor-user" and version.run_id == seen["run_id"]
    assert [c.name for c in version.signature.inputs] == seen["signature"]
    assert seen["signature"] == [
        "radius",
        "texture",
        "perimeter",
        "area",
        "smoothness",
        "compactness",
    ]
    assert seen["classes"] == [0, 1]
    assert (version.training_data, version.validation_data) == (
        seen["training_data"],
        seen["validation_data"],
    )
    assert seen["lineage_run"] == seen["run_id"]
    assert seen["lineage_cli"]["run"]["run_id"] == seen["run_id"]
    assert [d["role"] for d in seen["lineage_cli"]["datasets"]] == ["train", "validation"]
    assert seen["predictions_equal"] and seen["proba_max_diff"] == 0.0 and seen["n_predicted"] > 100
    assert seen["challenger"] == ["challenger", version.version, "editor-user"]
    for what in ("approve", "champion"):
        kind, message = seen["refused"][what]
        assert kind == "AccessDeniedError"
        assert "editor-user" in message and "needs the role approver" in message
    for what in ("cli_approve", "cli_champion"):
        code, out, err = seen["refused"][what]
        assert code == 1 and out == "" and err.startswith("error: ") and "approver" in err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    # nothing changed: as the second user saw it, and as the server holds it now
    assert seen["approval_after"] == "pending" and seen["aliases_after"] == {"challenger": 1}
    assert client.models.get(f"{seen['name']}@2").approval is ApprovalStatus.PENDING
    assert version.approval is ApprovalStatus.PENDING and version.reviewer is None
    assert client.models.alias_history(seen["name"], "champion") == []
    kinds = [e.kind for e in client.events(subject=f"model:{seen['name']}@")]
    assert "model.approved" not in kinds and kinds.count("model.registered") == 2


def check_evaluation(seen: dict[str, Any], ref: str, client: LoopmlClient) -> None:
    """Metrics equal scikit-learn's on the same rows, slices per dataset, the gate, the stored
    report read back."""
    for name, metrics in seen["datasets"].items():
        assert metrics == pytest.approx(seen["expected"][name], abs=1e-12)
        assert len(seen["slices"][name]) == 3 and "large" in seen["slices"][name]
    assert len(seen["datasets"]) == 2
    assert seen["gate"][0] is True and all(seen["gate"][1])
    assert seen["stored_equal"] and seen["listed"] == [seen["id"]]
    assert seen["cli_show_id"] == seen["id"]
    code, out, err = seen["cli_gate"]
    assert code == 0 and "PASSED" in out, err
    name, size, has_json = seen["report"]
    assert name == "report.html" and size > 10_000 and has_json
    stored = client.evaluations.get(seen["id"])
    assert stored.created_by == "editor-user"
    gates = [e for e in client.events(subject=f"model:{ref}") if e.kind == "gate.passed"]
    assert len(gates) == 2 and {g.actor for g in gates} == {"editor-user"}


def check_audit_actors(prefix: str, facts: dict[str, Any], client: LoopmlClient) -> None:
    """Every change the second user made is in the audit log as the token's user (never the
    name its environment claimed), with its program and address."""
    runs = {
        f"run:{run_id}"
        for run_id in [
            *facts["tracking"]["children"],
            facts["tracking"]["parent"],
            facts["tracking"]["failed"],
            facts["registry"]["run_id"],
        ]
    }
    events = [e for e in client.events(limit=None) if prefix in e.subject or e.subject in runs]
    kinds = {e.kind for e in events}
    assert {
        "dataset.registered",
        "run.created",
        "run.ended",
        "model.registered",
        "alias.moved",
        "evaluation.created",
        "gate.passed",
    } <= kinds
    assert {e.actor for e in events} == {"editor-user"}
    assert SPOOFED_USER not in {e.actor for e in events}
    assert {e.address for e in events} == {"127.0.0.1"}
    assert {e.client.split("/")[0] for e in events} == {"loopml-sdk", "loopml-cli"}


def check_datasets_extra(seen: dict[str, Any], name: str) -> None:
    """Hash splits (stable), batches, Arrow, the CLI's list and profile, the events, a dataset
    registered inside a run."""
    first, again = seen["hash_split"]
    assert first == again and seen["hash_rows"] == 569
    assert seen["batches"] == [200, 200, 169] and seen["arrow_rows"] == 400
    assert seen["cli_list"] == [0, True] and seen["cli_profile"][:2] == [0, True]
    assert seen["events"] == [
        ["dataset.registered", f"dataset:{name}@1", "editor-user"],
        ["dataset.registered", f"dataset:{name}@2", "editor-user"],
    ]
    inside, run = seen["inside_run"]
    assert inside == run


def check_registry_extra(seen: dict[str, Any], registered: dict[str, Any]) -> None:
    """A second version, free aliases moved, rolled back and removed by the editor; the
    manifest; models by dataset (SDK and CLI)."""
    name = registered["name"]
    assert seen["second"] == f"{name}@2"
    assert seen["rollback"] == ["challenger", 2, 1, True]
    assert seen["removed"] == ["staging", 2, None]
    assert seen["history"] == [
        [None, 1, "editor-user"],
        [1, 2, "editor-user"],
        [2, 1, "editor-user"],
    ]
    assert seen["manifest"] == ["sklearn", ["model.pkl"]]
    assert seen["from_data"] == [[f"{name}@1", "train"], [f"{name}@2", "train"]]
    assert seen["cli_from_data"] == [
        {"model": f"{name}@1", "role": "train"},
        {"model": f"{name}@2", "role": "train"},
    ]
    assert seen["cli_versions"] == [0, True] and "manifest" in seen["cli_show"]


def check_evaluation_extra(seen: dict[str, Any], client: LoopmlClient) -> None:
    """An evaluation against another version (paired difference), the CLI's evaluate, list
    and report."""
    candidate, baseline, diff = seen["delta"]
    assert diff == pytest.approx(candidate - baseline)
    code, evaluation_id, err = seen["cli_evaluate"]
    assert code == 0, err
    assert client.evaluations.get(evaluation_id).created_by == "editor-user"
    assert seen["cli_listed"] == 3 and seen["cli_report"] == [0, True, ""]
