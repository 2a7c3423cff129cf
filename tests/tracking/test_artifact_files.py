"""Artifacts on a local folder (issue 13 §5): a logged folder never stores a file from outside
it through a symbolic link, and the ``.part`` files of writers that were killed are removed
when the store is opened, while those of live writers are left alone."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.core.errors import InvalidArgumentError
from loopml.store.artifacts import ContentAddressedStore
from loopml.store.artifacts.atomic import STALE_AFTER_S, part_name
from loopml.tracking import TrackingService

DEADLINE_S = 120.0


# -- symbolic links in a logged folder --------------------------------------------------------


def _outputs(tmp_path: Path) -> Path:
    folder = tmp_path / "outputs"
    (folder / "plots").mkdir(parents=True)
    (folder / "model.txt").write_text("weights")
    (folder / "plots" / "roc.txt").write_text("curve")
    return folder


def test_a_link_out_of_the_folder_is_refused_and_nothing_is_stored(
    service: TrackingService, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    folder = _outputs(tmp_path)
    (folder / "passwd").symlink_to(secret)
    (folder / "etc").symlink_to(tmp_path)  # a folder outside, too
    run = service.create_run(experiment="exp")
    with pytest.raises(
        InvalidArgumentError,
        match=r"2 symbolic link\(s\) in it lead out of it or nowhere \(etc -> .*outside the "
        r"folder\); passwd -> .*secret.txt \(outside the folder\)\).*Nothing was stored",
    ):
        service.log_artifact(run.run_id, folder)
    assert service.list_artifacts(run.run_id) == []


def test_a_dangling_link_and_a_loop_are_refused(service: TrackingService, tmp_path: Path) -> None:
    folder = _outputs(tmp_path)
    (folder / "gone").symlink_to(folder / "missing.txt")
    (folder / "plots" / "up").symlink_to(folder)
    run = service.create_run(experiment="exp")
    with pytest.raises(
        InvalidArgumentError, match=r"gone -> .*\(points to nothing\); plots/up -> .*\(a loop\)"
    ):
        service.log_artifact(run.run_id, folder)
    assert service.list_artifacts(run.run_id) == []


def test_links_inside_the_folder_are_stored_as_what_they_point_to(
    service: TrackingService, tmp_path: Path
) -> None:
    folder = _outputs(tmp_path)
    (folder / "latest.txt").symlink_to("model.txt")  # relative, inside
    (folder / "figures").symlink_to(folder / "plots")  # a folder inside
    run = service.create_run(experiment="exp")
    service.log_artifact(run.run_id, folder)
    stored = {
        e.path: service.read_artifact(run.run_id, e.path)
        for e in service.list_artifacts(run.run_id)
    }
    assert stored == {
        "outputs/figures/roc.txt": b"curve",
        "outputs/latest.txt": b"weights",
        "outputs/model.txt": b"weights",
        "outputs/plots/roc.txt": b"curve",
    }


# -- partial writes of killed writers ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "artifact_path"),
    [
        ("../escape.txt", None),
        ("model.txt", "/etc"),
        ("model.txt", "../.."),
        ("model.txt", "a/../../b"),
        ("..\\escape.txt", None),
        ("C:/escape.txt", None),
        ("bad\x00name.txt", None),
    ],
)
def test_artifact_paths_that_could_escape_are_refused_and_nothing_is_stored(
    service: TrackingService, tmp_path: Path, name: str, artifact_path: str | None
) -> None:
    run = service.create_run(experiment="exp")
    source = tmp_path / "model.txt"
    source.write_text("weights")
    with pytest.raises(InvalidArgumentError, match=r"Artifact path .* is not valid"):
        service.log_artifact(run.run_id, source, name=name, artifact_path=artifact_path)
    with pytest.raises(InvalidArgumentError, match=r"Artifact path .* is not valid"):
        service.log_artifact(run.run_id, b"raw", name=name, artifact_path=artifact_path)
    assert service.list_artifacts(run.run_id) == []


@pytest.mark.parametrize("path", ["../model.txt", "/etc/passwd", "a/../model.txt", "x\x00"])
def test_reading_or_downloading_an_escaping_path_is_refused(
    service: TrackingService, tmp_path: Path, path: str
) -> None:
    run = service.create_run(experiment="exp")
    service.log_artifact(run.run_id, b"weights", name="model.txt")
    with pytest.raises(InvalidArgumentError, match=r"Artifact path .* is not valid"):
        service.read_artifact(run.run_id, path)
    with pytest.raises(InvalidArgumentError, match=r"Artifact path .* is not valid"):
        service.download_artifacts(run.run_id, path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def _wait_for(condition: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.002)


def _parts(root: Path) -> list[Path]:
    tmp = root / "tmp"
    return sorted(tmp.glob("*.part")) if tmp.is_dir() else []


@pytest.fixture
def live_writer(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A process in the middle of a local write: it streams its stdin into the store and
    waits for more, holding its ``.part`` file."""
    root = tmp_path / "artifacts"
    code = textwrap.dedent(
        f"""
        import sys
        from loopml.store.artifacts import ObjectFS
        ObjectFS({str(root)!r}).write_stream("objects/live/object", sys.stdin.buffer.raw)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(b"x" * 1_000_000)
    proc.stdin.flush()
    _wait_for(lambda: any(p.stat().st_size >= 1_000_000 for p in _parts(root)), "the live write")
    yield proc, root
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    proc.stdin.close()


def test_kill_9_mid_write_leaves_a_part_that_the_next_open_removes(
    tmp_path: Path, live_writer: tuple[subprocess.Popen[bytes], Path]
) -> None:
    live, root = live_writer
    [live_part] = _parts(root)
    big = tmp_path / "big.bin"
    with big.open("wb") as fh:  # sparse: hashing and copying it costs no disk to read
        fh.truncate(512 * 2**20)
    code = textwrap.dedent(
        f"""
        from loopml.store.artifacts import ContentAddressedStore
        ContentAddressedStore({str(root)!r}).put_file({str(big)!r})
        """
    )
    writer = subprocess.Popen([sys.executable, "-c", code])
    _wait_for(
        lambda: any(p != live_part and p.stat().st_size > 0 for p in _parts(root)),
        "the large write to be under way",
    )
    assert writer.poll() is None, "the write finished before it could be killed"
    writer.send_signal(signal.SIGKILL)
    assert writer.wait(timeout=DEADLINE_S) == -signal.SIGKILL
    [killed_part] = [p for p in _parts(root) if p != live_part]
    assert f"-{writer.pid}." in killed_part.name

    store = ContentAddressedStore(str(root))  # opening sweeps tmp/

    assert _parts(root) == [live_part]
    assert store.partial_writes.removed == 1 and store.partial_writes.in_progress == 1
    assert store.partial_writes.removed_bytes > 0
    assert live.stdin is not None
    live.stdin.write(b"y")
    live.stdin.flush()
    live.stdin.close()  # the live writer finishes: its object appears whole
    assert live.wait(timeout=DEADLINE_S) == 0
    assert (root / "objects" / "live" / "object").read_bytes() == b"x" * 1_000_000 + b"y"
    assert _parts(root) == []
    blob = store.put_file(big)  # and the killed write can simply be done again
    assert blob.size == 512 * 2**20 and store.exists(blob.digest)


def _fake_part(tmp: Path, name: str, *, age_s: float = 0.0) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / name
    path.write_bytes(b"partial")
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def _name_for(pid: int, host: str | None = None) -> str:
    name = part_name("object")
    if pid != os.getpid():
        name = name.replace(f"-{os.getpid()}.", f"-{pid}.")
    if host is not None:
        name = name.replace(name.split(".")[2].split("-")[0], host)
    return name


def test_the_sweep_rule(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    tmp = root / "tmp"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    hour = STALE_AFTER_S
    removed = {
        "dead writer here": _fake_part(tmp, _name_for(gone.pid)),
        "other host, untouched an hour": _fake_part(tmp, _name_for(1, "0" * 8), age_s=hour + 5),
        "old name, untouched an hour": _fake_part(tmp, ".object.0123456789ab.part", age_s=hour + 5),
    }
    kept = {
        "live writer here, however old": _fake_part(tmp, _name_for(os.getpid()), age_s=10 * hour),
        "other host, recent": _fake_part(tmp, _name_for(1, "0" * 8), age_s=hour - 60),
        "old name, recent": _fake_part(tmp, ".object.ba9876543210.part", age_s=60),
    }
    locked = _fake_part(tmp, _name_for(gone.pid).replace("object", "locked"))
    holder = os.open(locked, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # as a writer on another host sharing the folder would
    try:
        store = ContentAddressedStore(str(root))
        left = set(_parts(root))
        assert {what for what, path in removed.items() if path in left} == set()
        assert {what for what, path in kept.items() if path not in left} == set()
        assert locked in left
        assert store.partial_writes.removed == 3 and store.partial_writes.in_progress == 4
    finally:
        os.close(holder)
    ContentAddressedStore(str(root))  # the lock is gone, and so is its writer
    assert locked not in set(_parts(root))


def test_a_writer_in_this_process_keeps_its_part(tmp_path: Path) -> None:
    """Another thread of the same process opens the store while a write is under way."""
    root = tmp_path / "artifacts"
    read_fd, write_fd = os.pipe()
    store = ContentAddressedStore(str(root))
    failure: list[BaseException] = []

    def write() -> None:
        try:
            with os.fdopen(read_fd, "rb", buffering=0) as source:
                store._fs.write_stream("objects/aa/bb", source)
        except BaseException as exc:  # reported by the assertion below
            failure.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    os.write(write_fd, b"z" * 100_000)
    _wait_for(lambda: any(p.stat().st_size >= 100_000 for p in _parts(root)), "the write")
    assert ContentAddressedStore(str(root)).partial_writes.in_progress == 1
    os.close(write_fd)
    thread.join(timeout=DEADLINE_S)
    assert failure == [] and (root / "objects" / "aa" / "bb").read_bytes() == b"z" * 100_000
