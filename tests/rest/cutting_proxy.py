"""A TCP proxy that drops a connection partway, for tests of resumed transfers."""

from __future__ import annotations

import contextlib
import socket
import threading


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
