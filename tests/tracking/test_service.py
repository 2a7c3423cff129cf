"""The tracking service on every backend: the rules written once above the stores.

Each scenario runs twice per backend: on the service itself (embedded), and on the remote
SDK's stand-in for it (``LoopmlClient(...).service`` with ``server_url`` set) talking to a real
server over HTTP on 127.0.0.1 that serves a fresh store of the same backend (artifact bytes
through its artifact proxy).
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from loopml.client import LoopmlClient
from loopml.client.remote.connection import close_shared_transports
from loopml.client.remote.tracking import RemoteTracking
from loopml.core.entities import MetricPoint, Run, RunStatus
from loopml.core.errors import (
    ArtifactIntegrityError,
    ConflictError,
    FilterSyntaxError,
    InvalidArgumentError,
    NotFoundError,
)
from loopml.core.ids import RunId
from loopml.core.settings import Settings
from loopml.store.backend import open_backend
from loopml.tracking import TrackingService
from tests.rest.live_server import serve_in_thread


@pytest.fixture(params=["embedded", "remote"])
def service(request: pytest.FixtureRequest, settings: Settings) -> Iterator[TrackingService]:
    """The tracking service, or the remote SDK's stand-in for it (see the module docstring)."""
    if request.param == "embedded":
        yield TrackingService(open_backend(settings))
        return
    with serve_in_thread(settings) as server:
        remote = replace(settings, server_url=server.url, token=server.token)
        client = LoopmlClient(settings=remote)
        assert isinstance(client.service, RemoteTracking)
        yield client.service
        client.service.writer.close()
        close_shared_transports()


def _fresh(service: TrackingService) -> TrackingService:
    """Another service on the same store or server, with no state cached from ``service``."""
    if isinstance(service, RemoteTracking):
        other: object = RemoteTracking(service.transport, service.settings)
        return other  # type: ignore[return-value]
    return TrackingService(service.backend)


def _stored(service: TrackingService, run_id: str) -> Run:
    """The run as stored, without writing the points this process has buffered."""
    if isinstance(service, RemoteTracking):
        return _fresh(service).get_run(run_id)  # a writer of its own, with nothing buffered
    return service.store.get_run(RunId(run_id))


def test_run_lifecycle_and_latest_metrics(service: TrackingService) -> None:
    run = service.create_run(experiment="exp", name="first", tags={"team": "risk"})
    assert run.status is RunStatus.RUNNING and run.name == "first"
    service.log_params(run.run_id, {"max_depth": 6, "lr": 0.1})
    for step in range(5):
        service.log_metric(run.run_id, "loss", 1.0 / (step + 1), step=step)
    service.log_metrics(run.run_id, {"auc": 0.91, "acc": 0.8})
    service.end_run(run.run_id)
    stored = service.get_run(run.run_id)
    assert stored.status is RunStatus.FINISHED and stored.end_time is not None
    assert stored.params == {"max_depth": "6", "lr": "0.1"}
    assert stored.metrics == {"loss": pytest.approx(0.2), "auc": 0.91, "acc": 0.8}
    assert stored.tags["team"] == "risk"
    history = service.get_metric_history(run.run_id, "loss")
    assert [p.step for p in history] == [0, 1, 2, 3, 4]


def test_params_are_write_once(service: TrackingService) -> None:
    run = service.create_run(experiment="exp")
    service.log_params(run.run_id, {"max_depth": 6})
    service.log_params(run.run_id, {"max_depth": "6"})  # same value again is fine
    with pytest.raises(ConflictError, match=r"max_depth.*6.*write-once.*8"):
        service.log_params(run.run_id, {"max_depth": 8, "new": 1})
    assert service.get_run(run.run_id).params == {"max_depth": "6"}  # nothing of the call


def test_nan_and_infinities_are_stored_faithfully(service: TrackingService) -> None:
    run = service.create_run(experiment="exp")
    service.log_metrics(run.run_id, {"nan": float("nan"), "pinf": math.inf, "ninf": -math.inf})
    metrics = service.get_run(run.run_id).metrics
    assert math.isnan(metrics["nan"])
    assert metrics["pinf"] == math.inf and metrics["ninf"] == -math.inf


def test_bad_metric_value_is_refused_and_earlier_points_are_kept(service: TrackingService) -> None:
    run = service.create_run(experiment="exp")
    service.log_metric(run.run_id, "auc", 0.5)
    with pytest.raises(InvalidArgumentError, match="Metric 'auc' must be a real number"):
        service.log_metric(run.run_id, "auc", "high")
    with pytest.raises(InvalidArgumentError, match="Metric key must not be empty"):
        service.log_metric(run.run_id, "", 1.0)
    assert service.get_run(run.run_id).metrics == {"auc": 0.5}


def test_an_ended_run_is_immutable(service: TrackingService) -> None:
    run = service.create_run(experiment="exp")
    service.end_run(run.run_id)
    other = _fresh(service)  # a fresh service has no cached state
    for write in (
        lambda: other.log_params(run.run_id, {"a": 1}),
        lambda: other.log_metric(run.run_id, "m", 1.0),
        lambda: other.set_tags(run.run_id, {"a": "b"}),
        lambda: other.log_artifact(run.run_id, b"x", name="x.bin"),
    ):
        with pytest.raises(ConflictError, match="FINISHED: an ended run is immutable"):
            write()


def test_resume_reopens_failed_runs_but_not_finished_ones(service: TrackingService) -> None:
    run = service.create_run(experiment="exp")
    service.log_metric(run.run_id, "m", 1.0, step=0)
    service.end_run(run.run_id, status=RunStatus.FAILED, error=RuntimeError("boom"))
    failed = service.get_run(run.run_id)
    assert failed.status is RunStatus.FAILED and "RuntimeError: boom" in (failed.error or "")
    resumed = service.resume_run(run.run_id)
    assert resumed.status is RunStatus.RUNNING and resumed.end_time is None
    service.log_metric(run.run_id, "m", 2.0, step=1)
    service.end_run(run.run_id)
    assert service.get_run(run.run_id).metrics["m"] == 2.0
    with pytest.raises(ConflictError, match="FINISHED, and finished runs are immutable"):
        service.resume_run(run.run_id)


def test_nested_runs_record_their_parent(service: TrackingService) -> None:
    parent = service.create_run(experiment="exp", name="sweep")
    child = service.create_run(experiment="exp", name="trial", parent_run_id=parent.run_id)
    assert service.get_run(child.run_id).parent_run_id == parent.run_id
    found = service.search_runs("exp", filter=f"parent_run_id = '{parent.run_id}'")
    assert [r.run_id for r in found] == [child.run_id]


def test_log_batch_writes_at_once(service: TrackingService) -> None:
    run = service.create_run(experiment="exp")
    points = [MetricPoint("m", float(i), i, 1_000 + i) for i in range(1000)]
    service.log_batch(run.run_id, metrics=points, params={"p": 1}, tags={"t": "v"})
    assert _stored(service, run.run_id).metrics["m"] == 999.0  # no flush needed
    assert len(service.get_metric_history(run.run_id, "m")) == 1000


def test_search_returns_a_frame_or_runs(service: TrackingService) -> None:
    for i in range(6):
        run = service.create_run(
            experiment="exp", name=f"r{i}", tags={"team": "risk" if i % 2 else "ops"}
        )
        service.log_params(run.run_id, {"max_depth": i % 3})
        service.log_metric(run.run_id, "auc", 0.7 + i / 100)
        service.end_run(run.run_id)
    frame = service.search_frame(
        "exp", filter="metrics.auc > 0.71 and tags.team = 'risk'", order_by=["metrics.auc desc"]
    )
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["name"]) == ["r5", "r3"]
    assert {
        "run_id",
        "experiment",
        "status",
        "start_time",
        "params.max_depth",
        "metrics.auc",
        "tags.team",
    } <= set(frame.columns)
    assert str(frame["start_time"].dtype).startswith("datetime64")
    assert list(frame["experiment"]) == ["exp", "exp"]
    runs = service.search_runs("exp", filter="params.max_depth = 0", limit=1)
    assert len(runs) == 1 and isinstance(runs[0], Run)
    assert json.loads(json.dumps(runs[0].to_dict())) == runs[0].to_dict()
    assert Run.from_dict(runs[0].to_dict()) == runs[0]


def test_search_errors_point_at_the_problem(service: TrackingService) -> None:
    service.create_run(experiment="churn")
    with pytest.raises(NotFoundError, match="No experiment named 'chrun'. Did you mean 'churn'"):
        service.search_runs("chrun")
    with pytest.raises(FilterSyntaxError, match="Expected a value") as info:
        service.search_runs("churn", filter="metrics.auc >> 0.8")
    assert "^" in str(info.value)
    with pytest.raises(InvalidArgumentError, match="limit must be"):
        service.search_runs("churn", limit=-1)


def test_empty_search_has_the_base_columns(service: TrackingService) -> None:
    service.create_run(experiment="exp")
    frame = service.search_frame("exp", filter="metrics.nothing > 1")
    assert len(frame) == 0 and "run_id" in frame.columns


def test_artifacts_of_every_kind_round_trip(service: TrackingService, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import plotly.graph_objects as go
    from matplotlib.figure import Figure

    run = service.create_run(experiment="exp")
    file = tmp_path / "notes.txt"
    file.write_text("hello")
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"\x00\x01")
    (folder / "sub" / "b.txt").write_text("b")
    frame = pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})
    fig = Figure()
    fig.add_subplot().plot([1, 2, 3])
    service.log_artifact(run.run_id, file)
    service.log_artifact(run.run_id, folder, artifact_path="outputs")
    service.log_artifact(run.run_id, b"raw", name="raw.bin")
    service.log_artifact(run.run_id, frame, name="frame.parquet")
    service.log_artifact(run.run_id, fig)
    service.log_artifact(run.run_id, go.Figure(go.Scatter(x=[1], y=[2])))
    service.log_dict(run.run_id, {"a": 1, "nan": float("nan")}, "config.json")
    paths = [a.path for a in service.list_artifacts(run.run_id)]
    assert paths == sorted(
        [
            "notes.txt",
            "outputs/model/a.bin",
            "outputs/model/sub/b.txt",
            "raw.bin",
            "frame.parquet",
            "figure.png",
            "figure.plotly.json",
            "config.json",
        ]
    )
    assert service.read_artifact(run.run_id, "notes.txt") == b"hello"
    assert service.read_artifact(run.run_id, "figure.png").startswith(b"\x89PNG")
    assert json.loads(service.read_artifact(run.run_id, "config.json")) == {"a": 1, "nan": "nan"}
    import io

    back = pd.read_parquet(io.BytesIO(service.read_artifact(run.run_id, "frame.parquet")))
    pd.testing.assert_frame_equal(back, frame)
    dest = service.download_artifacts(run.run_id, "outputs", tmp_path / "dl")
    assert (dest / "model" / "sub" / "b.txt").read_text() == "b"


def test_artifact_errors(service: TrackingService, tmp_path: Path) -> None:
    run = service.create_run(experiment="exp")
    with pytest.raises(InvalidArgumentError, match="needs a file name"):
        service.log_artifact(run.run_id, b"x")
    with pytest.raises(NotFoundError, match="no such file or folder"):
        service.log_artifact(run.run_id, tmp_path / "missing.txt")
    with pytest.raises(InvalidArgumentError, match="Cannot log an object of type set"):
        service.log_artifact(run.run_id, {1, 2})
    with pytest.raises(InvalidArgumentError, match="must end in .json, .yaml or .yml"):
        service.log_dict(run.run_id, {"a": 1}, "config.txt")
    service.log_artifact(run.run_id, b"payload", name="data.bin")
    with pytest.raises(NotFoundError, match="no artifact 'dat.bin'. Did you mean 'data.bin'"):
        service.read_artifact(run.run_id, "dat.bin")


def test_a_tampered_artifact_is_refused(service: TrackingService) -> None:
    run = service.create_run(experiment="exp")
    (entry,) = service.log_artifact(run.run_id, b"original bytes", name="m.bin")
    root = Path(service.settings.artifacts_url)
    obj = next(p for p in root.rglob("*") if p.is_file() and p.name == entry.digest[2:])
    obj.write_bytes(b"changed bytes!")
    with pytest.raises(ArtifactIntegrityError, match=entry.digest):
        service.read_artifact(run.run_id, "m.bin")


def test_delete_hides_and_purge_removes(service: TrackingService) -> None:
    keep = service.create_run(experiment="exp")
    gone = service.create_run(experiment="exp")
    service.delete_run(gone.run_id)
    assert [r.run_id for r in service.search_runs("exp")] == [keep.run_id]
    assert len(service.search_runs("exp", include_deleted=True)) == 2
    service.delete_run(gone.run_id, purge=True)
    with pytest.raises(NotFoundError, match=f"Run '{gone.run_id}' does not exist"):
        service.get_run(gone.run_id)


def test_run_id_prefixes(service: TrackingService) -> None:
    run = service.create_run(experiment="exp")
    assert service.resolve_run_id(run.run_id[:6]) == run.run_id
    with pytest.raises(InvalidArgumentError, match="at least 4"):
        service.resolve_run_id("ab")
    with pytest.raises(NotFoundError, match="No run id starts with"):
        service.resolve_run_id("ffff" if not run.run_id.startswith("ffff") else "0000")
    with pytest.raises(InvalidArgumentError, match="is not a run id"):
        service.get_run("not-an-id")


def test_capture_records_git_state_and_environment(
    service: TrackingService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    (repo / "train.py").write_text("print(1)\n")
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "init"], cwd=repo, check=True)
    (repo / "train.py").write_text("print(2)\n")
    # the entry point decides which repository is recorded (here: the script's, not pytest's)
    monkeypatch.setattr("loopml.tracking.capture._entry_point", lambda: repo / "train.py")
    run = service.create_run(experiment="exp", capture=True)
    tags = service.get_run(run.run_id).tags
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert tags["loopml.git.commit"] == commit
    assert tags["loopml.git.dirty"] == "true"
    assert tags["loopml.env.python"].count(".") == 2
    assert tags["loopml.env.host"] and tags["loopml.user"]
    assert tags["loopml.source.entry_point"] == str(repo / "train.py")
    diff = service.read_artifact(run.run_id, "loopml/git.diff").decode()
    assert "-print(1)" in diff and "+print(2)" in diff
    reqs = service.read_artifact(run.run_id, "loopml/requirements.txt").decode()
    assert any(line.startswith("pandas==") for line in reqs.splitlines())
