"""The artifact proxy on a real ``loopml server`` per backend: chunked uploads checked against
their digest, resumed after the server restarts, refused when too large or from a viewer;
downloads streamed with ``Range`` and checked, a tampered stored blob found out."""

from __future__ import annotations

import hashlib
import os
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loopml.core.entities import ArtifactUpload, Blob, Role
from loopml.core.errors import (
    AccessDeniedError,
    ArtifactIntegrityError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PayloadTooLargeError,
)
from loopml.store.remote import RemoteArtifactStore, decode
from tests.conftest import BACKENDS, PG_SERVER
from tests.rest.cutting_proxy import CuttingProxy
from tests.rest.live_server import LiveServer, create_pg_database, drop_pg_database

CHUNK = 64 * 1024


def _store(server: LiveServer, role: Role, chunk_size: int = CHUNK) -> RemoteArtifactStore:
    return RemoteArtifactStore(server.url, server.tokens[role], chunk_size=chunk_size)


def _sent_chunks(store: RemoteArtifactStore) -> list[int]:
    """The body sizes of the chunks ``store`` sends from now on (seen on the wire)."""
    sizes: list[int] = []

    def seen(request: httpx.Request) -> None:
        if request.method == "PUT":
            sizes.append(int(request.headers["content-length"]))

    store.transport.http.event_hooks["request"].append(seen)
    return sizes


def _object(server: LiveServer, digest: str, root: Path | None = None) -> Path:
    return (root or server.home / "artifacts") / "objects" / digest[:2] / digest[2:]


def _api(server: LiveServer, path: str) -> str:
    return f"{server.url}/api/v1{path}"


def test_multi_chunk_file_round_trips_and_is_sent_once(
    live_server: LiveServer, tmp_path: Path
) -> None:
    data = os.urandom(5 * CHUNK + 17)
    source = tmp_path / "model.bin"
    source.write_bytes(data)
    with _store(live_server, Role.EDITOR) as editor, _store(live_server, Role.VIEWER) as viewer:
        sent = _sent_chunks(editor)
        blob = editor.put_file(source)
        assert blob == Blob(hashlib.sha256(data).hexdigest(), len(data))
        assert sent == [CHUNK] * 5 + [17]
        assert _object(live_server, blob.digest).read_bytes() == data
        assert viewer.exists(blob.digest)
        assert viewer.get_bytes(blob.digest) == data
        assert viewer.get_file(blob.digest, tmp_path / "copy.bin").read_bytes() == data
        with viewer.open(blob.digest) as stream:
            assert stream.read(100) == data[:100]
            assert stream.read() == data[100:]
        sent.clear()
        assert editor.put_file(source) == blob  # already stored: nothing is sent
        assert editor.put_bytes(data) == blob
        assert sent == []


def _peak_rss(pid: int) -> int:
    """The process's peak resident memory so far, in bytes (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


def test_a_large_file_is_never_whole_in_memory_on_either_side(
    live_server: LiveServer, tmp_path: Path
) -> None:
    size = 48 * 1024 * 1024
    source = tmp_path / "large.bin"
    with source.open("wb") as out:
        for _ in range(size // (1024 * 1024)):
            out.write(os.urandom(1024 * 1024))
    assert live_server.process is not None
    server_before = _peak_rss(live_server.process.pid)
    with _store(live_server, Role.EDITOR, chunk_size=2 * 1024 * 1024) as editor:
        tracemalloc.start()
        try:
            blob = editor.put_file(source)
            copy = editor.get_file(blob.digest, tmp_path / "copy.bin")
            _, client_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert blob.size == size and copy.stat().st_size == size
    assert client_peak < size // 8, f"the client peaked at {client_peak:,} bytes"
    server_growth = _peak_rss(live_server.process.pid) - server_before
    assert server_growth < size // 4, f"the server's peak grew by {server_growth:,} bytes"


def test_upload_resumes_after_the_server_restarts(live_server: LiveServer, tmp_path: Path) -> None:
    data = os.urandom(4 * CHUNK + 5)
    digest = hashlib.sha256(data).hexdigest()
    headers = live_server.headers(Role.EDITOR)
    started = httpx.post(
        _api(live_server, "/artifacts/uploads"),
        json={"digest": digest, "size": len(data)},
        headers=headers,
    ).json()
    assert started["offset"] == 0 and not started["stored"]
    upload = f"/artifacts/uploads/{started['upload_id']}"
    for offset in (0, CHUNK):
        answer = httpx.put(
            _api(live_server, upload),
            params={"offset": offset},
            content=data[offset : offset + CHUNK],
            headers=headers,
        )
        assert answer.status_code == 200, answer.text
    live_server.kill()  # kill -9 mid-upload: the staged bytes are on disk
    live_server.start()
    state = decode(ArtifactUpload, httpx.get(_api(live_server, upload), headers=headers).json())
    assert state.offset == 2 * CHUNK
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    with _store(live_server, Role.EDITOR) as editor:
        sent = _sent_chunks(editor)
        assert editor.put_file(source) == Blob(digest, len(data))
        assert sent == [CHUNK, CHUNK, 5]  # only what the server lacked
        assert editor.get_bytes(digest) == data
    assert httpx.get(_api(live_server, upload), headers=headers).json()["stored"] is True


def test_a_chunk_at_the_wrong_offset_is_a_conflict_naming_the_right_one(
    live_server: LiveServer,
) -> None:
    data = os.urandom(3 * CHUNK)
    digest = hashlib.sha256(data).hexdigest()
    headers = live_server.headers(Role.EDITOR)
    started = httpx.post(
        _api(live_server, "/artifacts/uploads"),
        json={"digest": digest, "size": len(data)},
        headers=headers,
    ).json()
    upload = _api(live_server, f"/artifacts/uploads/{started['upload_id']}")
    assert httpx.put(upload, params={"offset": 0}, content=data[:CHUNK], headers=headers).is_success
    again = httpx.put(upload, params={"offset": 0}, content=data[:CHUNK], headers=headers)
    assert again.status_code == 409
    assert f"Send it from offset {CHUNK:,}" in again.json()["error"]
    past = httpx.put(upload, params={"offset": CHUNK}, content=data * 2, headers=headers)
    assert past.status_code == 422
    assert "past the" in past.json()["error"]
    early = httpx.post(f"{upload}/complete", headers=headers)
    assert early.status_code == 409
    assert f"send the rest from offset {CHUNK:,}" in early.json()["error"]
    assert httpx.get(upload, headers=headers).json()["offset"] == CHUNK
    assert httpx.delete(upload, headers=headers).status_code == 204
    assert httpx.get(upload, headers=headers).status_code == 404


def test_corrupted_upload_is_422_and_nothing_is_stored(live_server: LiveServer) -> None:
    good = os.urandom(2 * CHUNK)
    digest = hashlib.sha256(good).hexdigest()
    bad = bytes([good[0] ^ 1]) + good[1:]
    headers = live_server.headers(Role.EDITOR)
    started = httpx.post(
        _api(live_server, "/artifacts/uploads"),
        json={"digest": digest, "size": len(good)},
        headers=headers,
    ).json()
    upload = _api(live_server, f"/artifacts/uploads/{started['upload_id']}")
    assert httpx.put(upload, params={"offset": 0}, content=bad, headers=headers).is_success
    answer = httpx.post(f"{upload}/complete", headers=headers)
    assert answer.status_code == 422
    assert answer.json()["type"] == "ArtifactIntegrityError"
    assert f"hash to {hashlib.sha256(bad).hexdigest()}" in answer.json()["error"]
    assert "Nothing was stored" in answer.json()["error"]
    assert not _object(live_server, digest).exists()
    assert httpx.get(upload, headers=headers).status_code == 404  # the bad bytes are gone
    info = httpx.get(_api(live_server, f"/artifacts/{digest}/info"), headers=headers)
    assert info.status_code == 404


def test_viewer_may_not_upload_and_only_an_admin_deletes(live_server: LiveServer) -> None:
    data = os.urandom(1000)
    digest = hashlib.sha256(data).hexdigest()
    with _store(live_server, Role.VIEWER) as viewer:
        with pytest.raises(AccessDeniedError, match="may not write"):
            viewer.put_bytes(data)
        assert not viewer.exists(digest)
    name = f"/artifacts/uploads/{digest}-1000"
    put = httpx.put(
        _api(live_server, name),
        params={"offset": 0},
        content=data,
        headers=live_server.headers(Role.VIEWER),
    )
    assert put.status_code == 403
    with _store(live_server, Role.EDITOR) as editor, _store(live_server, Role.ADMIN) as admin:
        blob = editor.put_bytes(data)
        with pytest.raises(AccessDeniedError, match="may not delete"):
            editor.delete(blob.digest)
        assert editor.exists(blob.digest)
        admin.delete(blob.digest)
        assert not editor.exists(blob.digest)
        assert not _object(live_server, blob.digest).exists()


def test_download_honours_range_with_the_digest_in_a_header(live_server: LiveServer) -> None:
    data = os.urandom(3 * CHUNK)
    with _store(live_server, Role.EDITOR) as editor:
        blob = editor.put_bytes(data)
    url = _api(live_server, f"/artifacts/{blob.digest}")
    headers = live_server.headers(Role.VIEWER)
    whole = httpx.get(url, headers=headers)
    assert whole.status_code == 200
    assert whole.content == data
    assert whole.headers["x-loopml-digest"] == blob.digest
    assert whole.headers["etag"] == f'"{blob.digest}"'
    assert whole.headers["accept-ranges"] == "bytes"
    part = httpx.get(url, headers=headers | {"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    rest = httpx.get(url, headers=headers | {"Range": f"bytes={CHUNK}-"})
    assert (rest.status_code, rest.content) == (206, data[CHUNK:])
    tail = httpx.get(url, headers=headers | {"Range": "bytes=-10"})
    assert (tail.status_code, tail.content) == (206, data[-10:])
    outside = httpx.get(url, headers=headers | {"Range": f"bytes={len(data)}-"})
    assert outside.status_code == 416
    assert outside.headers["content-range"] == f"bytes */{len(data)}"
    missing = httpx.get(_api(live_server, f"/artifacts/{'ab' * 32}"), headers=headers)
    assert missing.status_code == 404
    assert missing.json()["type"] == "NotFoundError"
    malformed = httpx.get(_api(live_server, "/artifacts/not-a-digest/info"), headers=headers)
    assert malformed.status_code in (404, 422)


def test_a_tampered_stored_blob_is_found_out_on_download(
    live_server: LiveServer, tmp_path: Path
) -> None:
    data = os.urandom(2 * CHUNK + 3)
    with _store(live_server, Role.EDITOR) as editor:
        blob = editor.put_bytes(data)
    stored = _object(live_server, blob.digest)
    stored.write_bytes(bytes([data[0] ^ 1]) + data[1:])  # someone edits the bucket
    dest = tmp_path / "out" / "model.bin"
    with _store(live_server, Role.VIEWER) as viewer:
        with pytest.raises(ArtifactIntegrityError, match=r"changed or truncated") as info:
            viewer.get_file(blob.digest, dest)
        assert str(stored) in str(info.value)
        assert "quarantine" in str(info.value)
        assert not dest.exists()
        assert not viewer.exists(blob.digest)  # moved aside on the server
    with _store(live_server, Role.EDITOR) as editor:
        assert editor.put_bytes(data) == blob  # logging it again stores a good copy
        assert editor.get_bytes(blob.digest) == data


def test_a_download_resumes_after_the_connection_drops(
    live_server: LiveServer, tmp_path: Path
) -> None:
    data = os.urandom(6 * CHUNK)
    with _store(live_server, Role.EDITOR) as editor:
        blob = editor.put_bytes(data)
    with CuttingProxy(live_server.port, cut_after=2 * CHUNK) as proxy:
        with RemoteArtifactStore(proxy.url, live_server.tokens[Role.VIEWER]) as viewer:
            ranges: list[str] = []
            viewer.transport.http.event_hooks["request"].append(
                lambda request: ranges.append(request.headers.get("range", "-"))
            )
            assert viewer.get_file(blob.digest, tmp_path / "copy.bin").read_bytes() == data
        assert proxy.cuts == 1, ranges
        assert ranges[0] == "-", ranges
        assert ranges[1].startswith("bytes=") and int(ranges[1][6:-1]) > 0, ranges


def test_an_upload_resumes_after_the_connection_drops_mid_chunk(
    live_server: LiveServer, tmp_path: Path
) -> None:
    data = os.urandom(6 * CHUNK)
    source = tmp_path / "model.bin"
    source.write_bytes(data)
    cut = CHUNK + CHUNK // 2  # in the middle of the second chunk
    with CuttingProxy(live_server.port, cut_after=cut, upstream=True) as proxy:
        with RemoteArtifactStore(
            proxy.url, live_server.tokens[Role.EDITOR], chunk_size=CHUNK
        ) as editor:
            offsets: list[str] = []
            editor.transport.http.event_hooks["request"].append(
                lambda request: offsets.append(f"{request.method} {request.url.query.decode()}")
            )
            assert editor.put_file(source).digest == hashlib.sha256(data).hexdigest()
        assert proxy.cuts == 1
    puts = [entry for entry in offsets if entry.startswith("PUT")]
    assert puts[:2] == ["PUT offset=0", f"PUT offset={CHUNK}"]
    assert len(puts) >= 7  # the cut chunk was sent again (whole, or from where it broke)
    with _store(live_server, Role.VIEWER) as viewer:
        assert viewer.get_bytes(hashlib.sha256(data).hexdigest()) == data


@pytest.mark.parametrize("how", ["shrinks", "changes"])
def test_a_file_changed_while_it_is_sent_is_a_conflict_and_nothing_is_stored(
    live_server: LiveServer, tmp_path: Path, how: str
) -> None:
    data = os.urandom(4 * CHUNK)
    source = tmp_path / "model.bin"
    source.write_bytes(data)
    puts: list[str] = []

    def another_writer(request: httpx.Request) -> None:  # rewrites the file as chunk 2 goes
        if request.method == "PUT":
            puts.append(str(request.url))
            if len(puts) == 2:
                source.write_bytes(data[: CHUNK + 10] if how == "shrinks" else data[::-1])

    with _store(live_server, Role.EDITOR) as editor:
        editor.transport.http.event_hooks["request"].append(another_writer)
        with pytest.raises(ConflictError, match="changed while it was being stored"):
            editor.put_file(source)
        digest = hashlib.sha256(data).hexdigest()
        assert not editor.exists(digest)
    staged = live_server.home / "artifacts" / "uploads" / f"{digest}-{len(data)}"
    assert not staged.exists()  # dropped, not left for the sweep


def test_client_checks_its_arguments(live_server: LiveServer) -> None:
    with pytest.raises(InvalidArgumentError, match="chunk_size"):
        RemoteArtifactStore(live_server.url, chunk_size=0)
    with _store(live_server, Role.VIEWER) as viewer:
        with pytest.raises(InvalidArgumentError, match="is not an artifact digest"):
            viewer.get_bytes("../etc/passwd")
        with pytest.raises(NotFoundError, match="No artifact with digest"):
            viewer.get_bytes("cd" * 32)


@pytest.fixture(scope="module", params=BACKENDS)
def small_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, Path]]:
    """A server of two worker processes with a 1 MiB body limit, storing artifacts in a
    folder of its own, on each backend."""
    root = tmp_path_factory.mktemp(f"rest-small-{request.param}")
    db_url = create_pg_database(PG_SERVER) if request.param == "postgresql" else None
    server = LiveServer(backend=request.param, home=root / ".loopml", db_url=db_url)
    destination = root / "elsewhere"
    try:
        server.make_tokens()
        server.start(
            "--workers", "2", "--max-body-mb", "1", "--artifacts-destination", str(destination)
        )
        yield server, destination
    finally:
        server.kill()
        if db_url:
            from loopml.store.backend import close_cached_backends

            close_cached_backends()
            drop_pg_database(db_url)


def test_an_oversize_chunk_is_413_and_nothing_is_written(
    small_server: tuple[LiveServer, Path],
) -> None:
    server, destination = small_server
    data = os.urandom(3 * 1024 * 1024)
    digest = hashlib.sha256(data).hexdigest()
    headers = server.headers(Role.EDITOR)
    started = httpx.post(
        _api(server, "/artifacts/uploads"),
        json={"digest": digest, "size": len(data)},
        headers=headers,
    ).json()
    upload = _api(server, f"/artifacts/uploads/{started['upload_id']}")
    declared = httpx.put(upload, params={"offset": 0}, content=data[: 2 << 20], headers=headers)
    assert declared.status_code == 413
    assert declared.json()["type"] == "PayloadTooLargeError"

    def streamed() -> Iterator[bytes]:  # no Content-Length: refused as it arrives
        for start in range(0, 2 << 20, CHUNK):
            yield data[start : start + CHUNK]

    chunked = httpx.put(upload, params={"offset": 0}, content=streamed(), headers=headers)
    assert chunked.status_code == 413
    assert httpx.get(upload, headers=headers).json()["offset"] == 0
    big = RemoteArtifactStore(server.url, server.tokens[Role.EDITOR], chunk_size=2 << 20)
    with big, pytest.raises(PayloadTooLargeError, match="smaller chunks"):
        big.put_bytes(data)
    with RemoteArtifactStore(server.url, server.tokens[Role.EDITOR], chunk_size=1 << 20) as ok:
        assert ok.put_bytes(data).digest == digest
        assert ok.describe()["server_root"] == str(destination)
    assert _object(server, digest, destination).read_bytes() == data
    assert not _object(server, digest).exists()


def test_clients_sending_the_same_blob_to_two_workers_store_it_once(
    small_server: tuple[LiveServer, Path], tmp_path: Path
) -> None:
    server, destination = small_server
    data = os.urandom(2 * 1024 * 1024 + 11)
    source = tmp_path / "shared.bin"
    source.write_bytes(data)
    results: list[Blob] = []
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def put() -> None:
        # a client (a connection pool) of its own per thread: the requests reach both workers
        with RemoteArtifactStore(server.url, server.tokens[Role.EDITOR], chunk_size=CHUNK) as c:
            try:
                start.wait()
                results.append(c.put_file(source))
            except BaseException as exc:  # reported below
                errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    digest = hashlib.sha256(data).hexdigest()
    assert results == [Blob(digest, len(data))] * 6
    assert _object(server, digest, destination).read_bytes() == data
    assert list((destination / "uploads").iterdir()) == []
