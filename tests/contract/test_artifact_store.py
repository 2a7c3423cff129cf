"""Contract suite of the ArtifactStore protocol, run on every artifact backend.

Backends: a local temporary folder, fsspec's in-memory filesystem (``memory://<unique>``),
a real fsspec implementation standing in for remote object stores such as ``s3://``, and
:class:`~loopml.store.remote.RemoteArtifactStore` talking to a real ``loopml server`` on
127.0.0.1 (over SQLite and over PostgreSQL). Each backend gives the tests a few layout-aware
helpers (list objects and temporary files, corrupt an object) so that the tests themselves
only speak the protocol. The tests of the storage seam under the content-addressed store
(``ObjectFS``, its write paths and failures) run on the first two only (``fs_backend``).
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import threading
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import fsspec
import pytest

from loopml.core.entities import Blob, Role
from loopml.core.errors import (
    ArtifactIntegrityError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from loopml.core.hashing import hash_stream
from loopml.store.artifacts import ObjectFS, open_artifact_store
from loopml.store.protocols import ArtifactStore
from loopml.store.remote import RemoteArtifactStore
from tests.contract.artifact_servers import Servers
from tests.rest.live_server import LiveServer

EMPTY_DIGEST = hashlib.sha256(b"").hexdigest()
MISSING_DIGEST = "ab" * 32


@dataclass
class Backend:
    """One artifact backend under test and the helpers that know its layout."""

    name: str
    url: str
    store: ArtifactStore
    files: Callable[[str], list[str]]  # relative paths of the files under a folder of the root
    write_raw: Callable[[str, bytes], object]  # overwrite a file (relative path) with bytes
    read_raw: Callable[[str], bytes]
    location: Callable[[str], str]  # the path or URL of a file, as messages show it
    protocol: str = "file"  # what describe() says

    @staticmethod
    def object_key(digest: str) -> str:
        return f"objects/{digest[:2]}/{digest[2:]}"

    def objects(self) -> list[str]:
        return self.files("objects")

    def temp_files(self) -> list[str]:
        return [path for path in self.files("") if "tmp/" in path or path.endswith(".part")]

    def corrupt(self, digest: str, how: str) -> None:
        key = self.object_key(digest)
        data = self.read_raw(key)
        if how == "flip":
            changed = bytes([data[0] ^ 0x01]) + data[1:]
        elif how == "truncate":
            changed = data[: len(data) // 2]
        else:
            changed = data + b"x"
        self.write_raw(key, changed)


def _local_backend(tmp_path: Path) -> Iterator[Backend]:
    root = tmp_path / "artifacts"

    def files(folder: str) -> list[str]:
        base = root / folder if folder else root
        if not base.exists():
            return []
        return sorted(p.relative_to(root).as_posix() for p in base.rglob("*") if p.is_file())

    yield Backend(
        name="local",
        url=str(root),
        store=open_artifact_store(str(root)),
        files=files,
        write_raw=lambda key, data: (root / key).write_bytes(data),
        read_raw=lambda key: (root / key).read_bytes(),
        location=lambda key: str(root / key),
    )


def _memory_backend() -> Iterator[Backend]:
    name = f"loopml-test-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    root = f"/{name}"

    def files(folder: str) -> list[str]:
        base = f"{root}/{folder}".rstrip("/")
        if not fs.exists(base):
            return []
        return sorted(path[len(root) + 1 :] for path in fs.find(base))

    yield Backend(
        name="memory",
        url=f"memory://{name}",
        store=open_artifact_store(f"memory://{name}"),
        files=files,
        write_raw=lambda key, data: fs.pipe_file(f"{root}/{key}", data),
        read_raw=lambda key: fs.cat_file(f"{root}/{key}"),
        location=lambda key: f"memory://{root}/{key}",
        protocol="memory",
    )
    if fs.exists(root):
        fs.rm(root, recursive=True)
    assert not fs.exists(root)


def _remote_backend(server: LiveServer) -> Iterator[Backend]:
    """The server's own store (a folder) seen through the proxy; only the files made during
    the test count (the server is shared by the session's tests)."""
    root = server.home / "artifacts"
    before = set(_files_under(root, ""))

    def files(folder: str) -> list[str]:
        return [path for path in _files_under(root, folder) if path not in before]

    store = RemoteArtifactStore(server.url, server.tokens[Role.ADMIN], chunk_size=256 * 1024)
    with store:
        yield Backend(
            name=f"remote-{server.backend}",
            url=server.url,
            store=store,
            files=files,
            write_raw=lambda key, data: (root / key).write_bytes(data),
            read_raw=lambda key: (root / key).read_bytes(),
            location=lambda key: str(root / key),
            protocol="http",
        )


def _files_under(root: Path, folder: str) -> list[str]:
    base = root / folder if folder else root
    if not base.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in base.rglob("*") if p.is_file())


@pytest.fixture(scope="session")
def artifact_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """A ``loopml server`` per metadata backend, started when a test first needs it."""
    servers = Servers(tmp_path_factory)
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture(params=["local", "memory"])
def fs_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each content-addressed backend (over the ``ObjectFS`` seam), empty."""
    if request.param == "local":
        yield from _local_backend(tmp_path)
    else:
        yield from _memory_backend()


@pytest.fixture(params=["local", "memory", "remote-sqlite", "remote-postgresql"])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, artifact_servers: Servers
) -> Iterator[Backend]:
    """Each artifact backend, empty (or as good as: remote ones count only new files)."""
    if request.param == "local":
        yield from _local_backend(tmp_path)
    elif request.param == "memory":
        yield from _memory_backend()
    else:
        yield from _remote_backend(artifact_servers.get(request.param.split("-")[1]))


@pytest.fixture
def store(backend: Backend) -> ArtifactStore:
    return backend.store


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FailingStream(io.RawIOBase):
    """A source that yields ``good`` bytes, then raises: a disk or network failure halfway."""

    def __init__(self, good: bytes) -> None:
        super().__init__()
        self._data = io.BytesIO(good)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._data.read(min(len(buffer), 64 * 1024))
        if not chunk:
            raise OSError("the source failed halfway (simulated)")
        buffer[: len(chunk)] = chunk
        return len(chunk)


# -- the protocol ------------------------------------------------------------------------


def test_content_addressed_store_satisfies_the_protocol(backend: Backend) -> None:
    store: ArtifactStore = backend.store  # mypy checks the structural match
    assert store.url == backend.url


def test_open_artifact_store_is_exported_with_a_sorted_all() -> None:
    import loopml.store.artifacts as package

    assert package.__all__ == sorted(package.__all__)
    assert {"ContentAddressedStore", "ObjectFS", "open_artifact_store"} <= set(package.__all__)


def test_importing_the_package_does_not_import_fsspec() -> None:
    code = "import sys, loopml.store.artifacts; print('fsspec' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


# -- round trips ---------------------------------------------------------------------------


def test_bytes_round_trip_through_every_read_method(store: ArtifactStore, tmp_path: Path) -> None:
    data = b"model bytes \x00\xff" * 100
    blob = store.put_bytes(data)
    assert blob == Blob(_sha(data), len(data))
    assert store.exists(blob.digest)
    assert store.get_bytes(blob.digest) == data
    with store.open(blob.digest) as stream:
        assert stream.read() == data
    dest = store.get_file(blob.digest, tmp_path / "out" / "nested" / "model.bin")
    assert dest == tmp_path / "out" / "nested" / "model.bin"
    assert dest.read_bytes() == data
    assert os.listdir(dest.parent) == ["model.bin"]


def test_five_megabyte_file_round_trips_streamed(store: ArtifactStore, tmp_path: Path) -> None:
    data = os.urandom(5 * 1024 * 1024 + 17)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    blob = store.put_file(source)
    assert blob == Blob(_sha(data), len(data))
    chunks: list[bytes] = []
    with store.open(blob.digest) as stream:
        while chunk := stream.read(256 * 1024):
            chunks.append(chunk)
    assert b"".join(chunks) == data
    assert store.get_file(blob.digest, tmp_path / "copy.bin").read_bytes() == data
    assert store.get_bytes(blob.digest) == data


@pytest.mark.parametrize("streamed", [False, True], ids=["one-put", "streamed-upload"])
def test_file_round_trips_on_both_remote_write_paths(
    fs_backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streamed: bool
) -> None:
    if streamed:
        monkeypatch.setattr(ObjectFS, "single_put_limit", 100_000)
    data = os.urandom(300_000)
    source = tmp_path / "file.bin"
    source.write_bytes(data)
    blob = fs_backend.store.put_file(source)
    assert fs_backend.store.get_bytes(blob.digest) == data
    assert fs_backend.temp_files() == []


def test_empty_object(store: ArtifactStore, tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert store.put_bytes(b"") == Blob(EMPTY_DIGEST, 0)
    assert store.put_file(empty) == Blob(EMPTY_DIGEST, 0)
    assert store.get_bytes(EMPTY_DIGEST) == b""
    with store.open(EMPTY_DIGEST) as stream:
        assert stream.read() == b""
    assert store.get_file(EMPTY_DIGEST, tmp_path / "out.txt").read_bytes() == b""


def test_put_bytes_accepts_bytes_like_and_rejects_text(store: ArtifactStore) -> None:
    assert store.put_bytes(bytearray(b"abc")).digest == _sha(b"abc")  # type: ignore[arg-type]
    assert store.put_bytes(memoryview(b"abc")).digest == _sha(b"abc")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match=r"put_bytes takes bytes\. Got str.*encode"):
        store.put_bytes("abc")  # type: ignore[arg-type]


def test_layout_is_objects_by_digest_prefix(backend: Backend) -> None:
    blob = backend.store.put_bytes(b"layout")
    assert backend.objects() == [f"objects/{blob.digest[:2]}/{blob.digest[2:]}"]
    assert backend.read_raw(backend.object_key(blob.digest)) == b"layout"


def test_describe_reports_protocol_root_and_a_successful_write_probe(backend: Backend) -> None:
    facts = backend.store.describe()
    assert facts["protocol"] == backend.protocol
    assert backend.url.split("://")[-1] in facts["root"]
    assert facts["writable"] == "true"
    assert "error" not in facts
    assert backend.temp_files() == []


def test_object_fs_seam_operations(fs_backend: Backend, tmp_path: Path) -> None:
    fs = ObjectFS(fs_backend.url)
    source = tmp_path / "source.bin"
    source.write_bytes(b"from a file")
    assert fs.root == fs_backend.store.describe()["root"]
    assert fs.is_local is (fs_backend.name == "local")
    assert not fs.exists("objects/a/b")
    assert fs.size("objects/a/b") is None
    fs.write_file("objects/a/b", source)
    fs.write_bytes("objects/a/c", b"from bytes")
    assert fs.size("objects/a/b") == len(b"from a file")
    assert fs.read_bytes("objects/a/c") == b"from bytes"
    with fs.open_read("objects/a/b") as stream:
        assert stream.read() == b"from a file"
    fs.move("objects/a/c", "objects/a/d")
    assert not fs.exists("objects/a/c")
    assert fs.read_bytes("objects/a/d") == b"from bytes"
    assert fs.location("objects/a/d") == fs_backend.location("objects/a/d")
    fs.remove("objects/a/b")
    fs.remove("objects/a/b")
    assert fs_backend.objects() == ["objects/a/d"]
    with pytest.raises(NotFoundError, match=r"No object 'objects/a/b' in the artifact store"):
        fs.read_bytes("objects/a/b")
    with pytest.raises(NotFoundError, match=r"No object 'objects/a/b' in the artifact store"):
        fs.open_read("objects/a/b")
    assert fs.probe() is None
    assert fs_backend.temp_files() == []


# -- stored once ---------------------------------------------------------------------------


def test_same_bytes_are_stored_once(backend: Backend, tmp_path: Path) -> None:
    source = tmp_path / "a.txt"
    source.write_bytes(b"same content")
    first = backend.store.put_bytes(b"same content")
    second = backend.store.put_file(source)
    third = backend.store.put_bytes(b"same content")
    assert first == second == third
    assert len(backend.objects()) == 1
    backend.store.put_bytes(b"other content")
    assert len(backend.objects()) == 2


def test_second_put_writes_nothing(
    fs_backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "a.bin"
    source.write_bytes(os.urandom(10_000))
    fs_backend.store.put_file(source)
    fs_backend.store.put_bytes(b"xyz")
    writes: list[str] = []
    for name in ("write_bytes", "write_stream", "write_file"):
        monkeypatch.setattr(ObjectFS, name, lambda self, key, *_: writes.append(key))
    fs_backend.store.put_file(source)
    fs_backend.store.put_bytes(b"xyz")
    assert writes == []


def test_concurrent_puts_of_the_same_content(backend: Backend, tmp_path: Path) -> None:
    data = os.urandom(2 * 1024 * 1024)
    source = tmp_path / "shared.bin"
    source.write_bytes(data)
    results: list[Blob] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def put(i: int) -> None:
        try:
            start.wait()
            blob = backend.store.put_file(source) if i % 2 else backend.store.put_bytes(data)
            results.append(blob)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert results == [Blob(_sha(data), len(data))] * 8
    assert len(backend.objects()) == 1
    assert backend.store.get_bytes(_sha(data)) == data
    assert backend.temp_files() == []


# -- verified on read ----------------------------------------------------------------------

READS = ["get_bytes", "get_file", "open"]


def _read(store: ArtifactStore, method: str, digest: str, dest: Path) -> bytes:
    if method == "get_bytes":
        return store.get_bytes(digest)
    if method == "get_file":
        return store.get_file(digest, dest).read_bytes()
    with store.open(digest) as stream:
        return stream.read()


@pytest.mark.parametrize("how", ["flip", "truncate", "append"])
@pytest.mark.parametrize("method", READS)
def test_changed_or_truncated_object_fails_verification(
    backend: Backend, tmp_path: Path, method: str, how: str
) -> None:
    data = os.urandom(200_000)
    blob = backend.store.put_bytes(data)
    location = backend.location(backend.object_key(blob.digest))
    backend.corrupt(blob.digest, how)
    dest = tmp_path / "out" / "model.bin"
    with pytest.raises(ArtifactIntegrityError, match=blob.digest) as info:
        _read(backend.store, method, blob.digest, dest)
    message = str(info.value)
    assert blob.digest in message
    assert location in message
    assert "changed or truncated" in message
    assert "re-logged" in message
    assert "quarantine" in message
    assert not dest.exists()
    assert not dest.parent.exists() or os.listdir(dest.parent) == []


@pytest.mark.parametrize("method", READS)
def test_relogging_after_an_integrity_error_stores_a_good_copy(
    backend: Backend, tmp_path: Path, method: str
) -> None:
    data = os.urandom(50_000)
    blob = backend.store.put_bytes(data)
    backend.corrupt(blob.digest, "flip")
    with pytest.raises(ArtifactIntegrityError, match="does not match its digest"):
        _read(backend.store, method, blob.digest, tmp_path / "x.bin")
    assert not backend.store.exists(blob.digest)  # moved to quarantine/
    assert len(backend.files("quarantine")) == 1
    assert backend.store.put_bytes(data) == blob
    assert _read(backend.store, method, blob.digest, tmp_path / "y.bin") == data


def test_put_repairs_a_truncated_object_without_a_read(backend: Backend) -> None:
    blob = backend.store.put_bytes(b"0123456789" * 100)
    backend.corrupt(blob.digest, "truncate")
    backend.store.put_bytes(b"0123456789" * 100)
    assert backend.store.get_bytes(blob.digest) == b"0123456789" * 100


def test_get_file_leaves_an_existing_destination_untouched_on_failure(
    backend: Backend, tmp_path: Path
) -> None:
    blob = backend.store.put_bytes(b"new model")
    dest = tmp_path / "out" / "model.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"previous model")
    backend.corrupt(blob.digest, "flip")
    with pytest.raises(ArtifactIntegrityError, match="does not match its digest"):
        backend.store.get_file(blob.digest, dest)
    assert dest.read_bytes() == b"previous model"
    assert os.listdir(dest.parent) == ["model.bin"]


def test_open_raises_only_when_the_end_is_reached(backend: Backend) -> None:
    data = os.urandom(100_000)
    blob = backend.store.put_bytes(data)
    backend.corrupt(blob.digest, "flip")
    with backend.store.open(blob.digest) as stream:
        assert len(stream.read(1000)) == 1000
        with pytest.raises(ArtifactIntegrityError, match=blob.digest):
            stream.read()
        with pytest.raises(ArtifactIntegrityError, match=blob.digest):  # and keeps raising
            stream.read(1)


def test_open_stream_is_read_only_and_not_seekable(store: ArtifactStore) -> None:
    blob = store.put_bytes(b"abc")
    stream = store.open(blob.digest)
    assert stream.readable()
    assert not stream.seekable()
    assert stream.read(2) == b"ab"
    stream.close()
    assert stream.closed


# -- missing and malformed digests ---------------------------------------------------------


@pytest.mark.parametrize("method", READS)
def test_missing_digest_is_not_found(store: ArtifactStore, tmp_path: Path, method: str) -> None:
    dest = tmp_path / "out" / "model.bin"
    with pytest.raises(NotFoundError, match=f"No artifact with digest {MISSING_DIGEST}"):
        _read(store, method, MISSING_DIGEST, dest)
    assert not dest.parent.exists()


def test_missing_digest_does_not_exist_and_delete_is_a_no_op(backend: Backend) -> None:
    assert not backend.store.exists(MISSING_DIGEST)
    backend.store.delete(MISSING_DIGEST)
    blob = backend.store.put_bytes(b"to delete")
    backend.store.delete(blob.digest)
    backend.store.delete(blob.digest)
    assert not backend.store.exists(blob.digest)
    assert backend.objects() == []


BAD_DIGESTS = ["", "abc", "G" * 64, "AB" * 32, "a" * 63, "a" * 65, " " + "a" * 63, "../" * 20]


@pytest.mark.parametrize("digest", BAD_DIGESTS)
@pytest.mark.parametrize("method", ["exists", "get_bytes", "get_file", "open", "delete"])
def test_malformed_digest_is_an_invalid_argument(
    store: ArtifactStore, tmp_path: Path, method: str, digest: str
) -> None:
    call: dict[str, Callable[[], object]] = {
        "exists": lambda: store.exists(digest),
        "get_bytes": lambda: store.get_bytes(digest),
        "get_file": lambda: store.get_file(digest, tmp_path / "out"),
        "open": lambda: store.open(digest),
        "delete": lambda: store.delete(digest),
    }
    with pytest.raises(InvalidArgumentError, match=r"is not an artifact digest: a digest is 64"):
        call[method]()


def test_put_file_of_a_missing_path_or_a_folder(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"there is no such file"):
        store.put_file(tmp_path / "nope.bin")
    with pytest.raises(InvalidArgumentError, match=r"it is a folder"):
        store.put_file(tmp_path)


# -- atomic writes -------------------------------------------------------------------------


@pytest.mark.parametrize("streamed", [False, True], ids=["one-put", "streamed-upload"])
def test_failure_mid_write_leaves_no_object_and_no_temp_file(
    fs_backend: Backend, monkeypatch: pytest.MonkeyPatch, streamed: bool
) -> None:
    if streamed:
        monkeypatch.setattr(ObjectFS, "single_put_limit", 100_000)
    fs = ObjectFS(fs_backend.url)
    key = "objects/ff/" + "f" * 62
    source = io.BufferedReader(FailingStream(os.urandom(300_000)))
    with pytest.raises(OSError, match="failed halfway"):
        fs.write_stream(key, source)
    assert not fs.exists(key)
    assert fs_backend.objects() == []
    assert fs_backend.temp_files() == []


def test_put_file_whose_source_fails_halfway_stores_nothing(
    fs_backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(300_000)
    source = tmp_path / "a.bin"
    source.write_bytes(data)
    opened: list[Path] = []

    def open_source(path: Path) -> BinaryIO:
        opened.append(path)
        if len(opened) == 1:  # the hashing pass reads the file; the copy fails halfway
            return path.open("rb")
        return io.BufferedReader(FailingStream(data[:150_000]))

    monkeypatch.setattr("loopml.store.artifacts.cas.open_source", open_source)
    with pytest.raises(OSError, match="failed halfway"):
        fs_backend.store.put_file(source)
    assert not fs_backend.store.exists(_sha(data))
    assert fs_backend.objects() == []
    assert fs_backend.temp_files() == []


def test_file_changed_between_hashing_and_copying_stores_nothing(
    fs_backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "a.bin"
    source.write_bytes(b"version one")

    def hash_then_change(stream: BinaryIO) -> tuple[str, int]:
        result = hash_stream(stream)
        source.write_bytes(b"version two")  # another process rewrites the file meanwhile
        return result

    monkeypatch.setattr("loopml.store.artifacts.cas.hash_stream", hash_then_change)
    with pytest.raises(ConflictError, match=r"changed while it was being stored"):
        fs_backend.store.put_file(source)
    assert not fs_backend.store.exists(_sha(b"version one"))
    assert not fs_backend.store.exists(_sha(b"version two"))
    assert fs_backend.objects() == []
    assert fs_backend.temp_files() == []


# -- local folders -------------------------------------------------------------------------


def test_local_root_under_a_regular_file_is_permission_denied(tmp_path: Path) -> None:
    # The tests run as root, where chmod does not stop writes; a regular file where a folder
    # must go is the realistic "cannot create the store folder" failure that works as root.
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    root = blocker / "artifacts"
    with pytest.raises(PermissionDeniedError, match="is a file, not a folder") as info:
        open_artifact_store(str(root))
    message = str(info.value)
    assert str(root) in message
    assert f"{blocker} is a file, not a folder" in message
    assert "LOOPML_ARTIFACTS_URL" in message
    assert "LOOPML_HOME" in message
    assert isinstance(info.value, PermissionError)


def test_local_root_replaced_by_a_file_after_opening_is_permission_denied(
    tmp_path: Path,
) -> None:
    root = tmp_path / "artifacts"
    store = open_artifact_store(str(root))
    root.write_text("someone put a file here")  # see the note above about running as root
    with pytest.raises(PermissionDeniedError, match=r"cannot be written.*LOOPML_ARTIFACTS_URL"):
        store.put_bytes(b"data")
    facts = store.describe()
    assert facts["writable"] == "false"
    assert "cannot be written" in facts["error"]


def test_local_root_is_created_on_first_write_and_accepts_file_urls(tmp_path: Path) -> None:
    root = tmp_path / "deep" / "artifacts"
    store = open_artifact_store(root.as_uri())
    assert not root.exists()
    blob = store.put_bytes(b"x")
    assert (root / "objects" / blob.digest[:2] / blob.digest[2:]).read_bytes() == b"x"
    assert store.describe()["protocol"] == "file"


def test_put_file_streams_instead_of_reading_the_file_whole(tmp_path: Path) -> None:
    store = open_artifact_store(str(tmp_path / "artifacts"))
    source = tmp_path / "big.bin"
    size = 24 * 1024 * 1024
    with source.open("wb") as out:
        for _ in range(size // (1024 * 1024)):
            out.write(os.urandom(1024 * 1024))
    tracemalloc.start()
    try:
        blob = store.put_file(source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert blob.size == size
    assert peak < size // 4, f"put_file peaked at {peak} bytes for a {size}-byte file"


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("", r"must be a folder path or an fsspec URL"),
        ("   ", r"must be a folder path or an fsspec URL"),
        ("memry://bucket/x", r"Unknown scheme 'memry'.*Did you mean 'memory'\?"),
        ("nosuchscheme://x", r"Unknown scheme 'nosuchscheme'"),
    ],
)
def test_bad_store_url_is_an_invalid_argument(url: str, match: str) -> None:
    with pytest.raises(InvalidArgumentError, match=match):
        open_artifact_store(url)
