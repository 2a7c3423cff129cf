"""Artifact proxy benchmark: blobs through a real ``loopml server`` vs the embedded store.

What the proxy costs over writing the same disk directly. One ``loopml server`` (one worker,
SQLite, its artifacts in a local folder) on 127.0.0.1, and beside it an embedded
``ContentAddressedStore`` in another folder of the same disk; a file of 256 MiB of random bytes
(32 MiB with --quick). Scenarios, median of 3 each, the blob deleted before each timed upload
so that every upload stores it:

1. upload: ``RemoteArtifactStore.put_file`` (8 MiB chunks: hash the file, send the chunks,
   the server hashes what it received and renames it into place) vs ``put_file`` of the
   embedded store (hash the file, copy it through a temporary file, hashing again);
2. download: ``get_file`` through the proxy (streamed, hashed by the client, written through a
   temporary file) vs the embedded ``get_file`` (read, hash, write through a temporary file);
3. the same upload again (the server has the blob: the client hashes the file and sends one
   request) vs the embedded ``put_file`` of a stored blob (hash, one ``stat``).

The ratio is the embedded store's time over the proxy's (below 1: the proxy is slower, as it
must be; it says how much). The OS page cache is warm for both.

Usage: python benchmarks/artifact_proxy.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from harness import Comparison, median_seconds, print_table, write_results
from loopml.core.entities import Role
from loopml.core.settings import resolve_settings
from loopml.governance import TokenService
from loopml.store.artifacts import open_artifact_store
from loopml.store.backend import open_backend
from loopml.store.remote import RemoteArtifactStore

REPEATS = 3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(home: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    """``loopml server`` over ``home``, and an admin token for it."""
    token = TokenService(open_backend(resolve_settings({"home": home}))).create(
        user="bench", role=Role.ADMIN, note="artifact proxy benchmark"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env |= {"LOOPML_HOME": str(home), "LOOPML_CAPTURE_ENV": "false"}
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "loopml", "server", "--port", str(port)],
        env=env,
        cwd=home.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/v1/health").status_code == 200:
                return process, url, token.text
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("loopml server did not start")


def _mib_per_s(size: int, seconds: float) -> float:
    return size / 2**20 / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 32 MiB file")
    args = parser.parse_args()
    size = (32 if args.quick else 256) * 2**20
    work = Path(tempfile.mkdtemp(prefix="loopml-bench-artifacts-"))
    process, url, token = _start_server(work / "server" / ".loopml")
    try:
        source = work / "model.bin"
        with source.open("wb") as out:
            for _ in range(size // 2**20):
                out.write(os.urandom(2**20))
        local = open_artifact_store(str(work / "embedded"))
        with RemoteArtifactStore(url, token) as remote:
            comparisons = _compare(remote, local, source, size, work)
    finally:
        os.killpg(process.pid, 9)
        process.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    print_table("artifact_proxy", comparisons)
    path = write_results("artifact_proxy", comparisons, quick=args.quick, extra={"bytes": size})
    print(f"wrote {path}")


def _compare(
    remote: RemoteArtifactStore, local: object, source: Path, size: int, work: Path
) -> list[Comparison]:
    from loopml.store.artifacts import ContentAddressedStore

    assert isinstance(local, ContentAddressedStore)
    digest = local.put_file(source).digest

    def timed_upload(store: RemoteArtifactStore | ContentAddressedStore) -> float:
        times = []
        for _ in range(REPEATS):
            store.delete(digest)  # untimed: every timed upload stores the blob
            start = time.perf_counter()
            store.put_file(source)
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2]

    up_remote, up_local = timed_upload(remote), timed_upload(local)
    down_remote = median_seconds(lambda: remote.get_file(digest, work / "r.bin"), REPEATS)
    down_local = median_seconds(lambda: local.get_file(digest, work / "l.bin"), REPEATS)
    again_remote = median_seconds(lambda: remote.put_file(source), REPEATS)
    again_local = median_seconds(lambda: local.put_file(source), REPEATS)
    mib = f"{size / 2**20:.0f} MiB"
    peer = "embedded store, same disk"
    return [
        Comparison(
            f"upload {mib} (put_file, 8 MiB chunks)",
            "MiB/s",
            _mib_per_s(size, up_remote),
            _mib_per_s(size, up_local),
            peer,
            True,
            note="hashed by the client, then by the server; renamed into place",
        ),
        Comparison(
            f"download {mib} (get_file)",
            "MiB/s",
            _mib_per_s(size, down_remote),
            _mib_per_s(size, down_local),
            peer,
            True,
            note="streamed; hashed by the client before the file appears",
        ),
        Comparison(
            f"upload {mib} again (stored: nothing sent)",
            "s",
            again_remote,
            again_local,
            peer,
            False,
            note="the file is hashed; one request",
        ),
    ]


if __name__ == "__main__":
    main()
