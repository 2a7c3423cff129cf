"""Chunked uploads staged for the artifact proxy (:mod:`loopml.store.artifacts.uploads`), on
a local store (completed by a rename) and on an fsspec object store (a verified copy), with
their offsets, limits, locks and the sweep of abandoned uploads."""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from loopml.core.entities import ArtifactUpload
from loopml.core.errors import (
    ArtifactIntegrityError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PayloadTooLargeError,
)
from loopml.store.artifacts import ContentAddressedStore, open_artifact_store
from loopml.store.artifacts.uploads import STALE_UPLOAD_S, ChunkedUploads, upload_id


@pytest.fixture(params=["local", "memory"])
def uploads(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ChunkedUploads]:
    if request.param == "local":
        yield ChunkedUploads(open_artifact_store(str(tmp_path / "artifacts")))
    else:
        store = open_artifact_store(f"memory://uploads-{uuid.uuid4().hex}")
        yield ChunkedUploads(store, tmp_path / "staging")


def _send(uploads: ChunkedUploads, data: bytes, piece: int) -> ArtifactUpload:
    digest = hashlib.sha256(data).hexdigest()
    state = uploads.start(digest, len(data))
    while state.offset < len(data):
        chunk = data[state.offset : state.offset + piece]
        state = uploads.append(state.upload_id, state.offset, [chunk], limit=piece)
    return uploads.complete(state.upload_id)


def test_an_upload_in_chunks_is_stored_and_its_staged_file_removed(
    uploads: ChunkedUploads,
) -> None:
    data = os.urandom(300_001)
    done = _send(uploads, data, 100_000)
    assert done.stored and done.offset == len(data)
    assert uploads.store.get_bytes(done.digest) == data
    assert list(uploads.folder.iterdir()) == []
    assert uploads.complete(done.upload_id) == done  # repeating it answers the same
    assert uploads.state(done.upload_id).stored
    assert uploads.start(done.digest, len(data)).stored  # dedupe: nothing to send


def test_a_local_store_completes_by_renaming_the_staged_file(tmp_path: Path) -> None:
    uploads = ChunkedUploads(open_artifact_store(str(tmp_path / "artifacts")))
    data = os.urandom(50_000)
    digest = hashlib.sha256(data).hexdigest()
    state = uploads.start(digest, len(data))
    staged = uploads.folder / state.upload_id
    inode = staged.stat().st_ino
    uploads.append(state.upload_id, 0, [data[:20_000], data[20_000:]], limit=len(data))
    uploads.complete(state.upload_id)
    stored = tmp_path / "artifacts" / "objects" / digest[:2] / digest[2:]
    assert stored.stat().st_ino == inode  # moved, not copied
    assert uploads.folder == tmp_path / "artifacts" / "uploads"


def test_offsets_limits_and_the_announced_size(uploads: ChunkedUploads) -> None:
    data = os.urandom(1000)
    state = uploads.start(hashlib.sha256(data).hexdigest(), len(data))
    name = state.upload_id
    with pytest.raises(ConflictError, match="Send it from offset 0"):
        uploads.append(name, 10, [data[10:20]], limit=100)
    with pytest.raises(PayloadTooLargeError, match="over the limit of 100 bytes"):
        uploads.append(name, 0, [data[:60], data[60:120]], limit=100)
    assert uploads.state(name).offset == 0  # nothing of a refused chunk stays
    uploads.append(name, 0, [data[:900]], limit=1000)
    with pytest.raises(InvalidArgumentError, match="past the 1,000 bytes announced"):
        uploads.append(name, 900, [data[900:], b"extra"], limit=1000)
    assert uploads.state(name).offset == 900
    with pytest.raises(ConflictError, match="holds 900 of its 1,000 bytes"):
        uploads.complete(name)
    uploads.abort(name)
    with pytest.raises(NotFoundError, match="No upload"):
        uploads.state(name)
    with pytest.raises(InvalidArgumentError, match="is not an upload id"):
        uploads.state("../../etc/passwd")


def test_bytes_that_do_not_hash_to_the_digest_are_not_stored(uploads: ChunkedUploads) -> None:
    data = os.urandom(5000)
    digest = hashlib.sha256(data).hexdigest()
    state = uploads.start(digest, len(data))
    uploads.append(state.upload_id, 0, [data[::-1]], limit=len(data))
    with pytest.raises(ArtifactIntegrityError, match="Nothing was stored"):
        uploads.complete(state.upload_id)
    assert not uploads.store.exists(digest)
    assert list(uploads.folder.iterdir()) == []


def test_two_writers_at_the_same_offset_never_interleave(uploads: ChunkedUploads) -> None:
    data = os.urandom(400_000)
    state = uploads.start(hashlib.sha256(data).hexdigest(), len(data))
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def write() -> None:
        start.wait()
        pieces = (data[i : i + 10_000] for i in range(0, 200_000, 10_000))
        try:
            uploads.append(state.upload_id, 0, pieces, limit=len(data))
            outcomes.append("written")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=write) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "written"]
    assert uploads.state(state.upload_id).offset == 200_000


def test_abandoned_uploads_are_swept_when_the_staging_opens(tmp_path: Path) -> None:
    store: ContentAddressedStore = open_artifact_store(str(tmp_path / "artifacts"))
    uploads = ChunkedUploads(store)
    old = uploads.start("a" * 64, 10)
    fresh = uploads.start("b" * 64, 10)
    past = time.time() - STALE_UPLOAD_S - 60
    os.utime(uploads.folder / old.upload_id, (past, past))
    again = ChunkedUploads(store)
    assert again.swept == 1
    assert sorted(p.name for p in again.folder.iterdir()) == [fresh.upload_id]
    assert upload_id("b" * 64, 10) == fresh.upload_id
