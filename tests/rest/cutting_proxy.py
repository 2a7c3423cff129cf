"""TCP proxies that drop a connection partway: for tests of resumed transfers and of retries."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable


class CuttingProxy:
    """A TCP proxy to the server on 127.0.0.1 that cuts its first connection after the
    server sent ``cut_after`` bytes, or the client did (a dropped connection, for real)."""

    def __init__(self, port: int, *, cut_after: int, upstream: bool = False) -> None:
        self.target = port
        self.cut_after = cut_after
        self.upstream = upstream  # cut what the client sends, not what the server answers
        self.cuts = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> CuttingProxy:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.listener.close()

    def _serve(self) -> None:
        first = True
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            limit = self.cut_after if first else None
            first = False
            up, down = (limit, None) if self.upstream else (None, limit)
            threading.Thread(target=self._pipe, args=(client, upstream, up), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, down), daemon=True).start()

    def _pipe(self, source: object, sink: object, limit: int | None) -> None:
        assert isinstance(source, socket.socket) and isinstance(sink, socket.socket)
        passed = 0
        try:
            while data := source.recv(65536):
                if limit is not None and passed + len(data) > limit:
                    sink.sendall(data[: limit - passed])
                    self.cuts += 1
                    break
                sink.sendall(data)
                passed += len(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


class AnswerCutter:
    """A TCP proxy to the server on 127.0.0.1 that lets the first request whose bytes hold
    ``marker`` reach the server, then drops its answer and cuts the connection: the write is
    committed, the client never hears of it (a connection cut between the commit and the
    answer, for real). ``on_cut`` runs before the client sees the cut (kill the server there
    for a server that died after its commit). Connections made while the server is down are
    closed at once, as a dead server's would be refused."""

    def __init__(self, port: int, marker: bytes, on_cut: Callable[[], None] | None = None):
        self.target = port
        self.marker = marker
        self.on_cut = on_cut
        self.cuts = 0
        self._lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> AnswerCutter:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.listener.close()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:  # the server is down
                client.close()
                continue
            marked = threading.Event()
            threading.Thread(target=self._up, args=(client, upstream, marked), daemon=True).start()
            threading.Thread(
                target=self._down, args=(upstream, client, marked), daemon=True
            ).start()

    def _up(self, client: socket.socket, upstream: socket.socket, marked: threading.Event) -> None:
        try:
            while data := client.recv(65536):
                with self._lock:
                    if self.cuts == 0 and self.marker in data:
                        marked.set()
                upstream.sendall(data)
        except OSError:
            pass
        finally:
            _close(client, upstream)

    def _down(
        self, upstream: socket.socket, client: socket.socket, marked: threading.Event
    ) -> None:
        try:
            while data := upstream.recv(65536):
                if marked.is_set():
                    with self._lock:
                        self.cuts += 1
                    if self.on_cut is not None:
                        self.on_cut()
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            _close(client, upstream)


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
