"""``loopml server`` as a real subprocess on 127.0.0.1, over a store of its own (SQLite, or a
PostgreSQL database made for it), with a token per role."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import sqlalchemy as sa

from loopml.core.entities import Role
from loopml.core.settings import Settings, resolve_settings
from loopml.governance import TokenService
from loopml.store.backend import open_backend

ROLES = (Role.VIEWER, Role.EDITOR, Role.APPROVER, Role.ADMIN)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def create_pg_database(server: str) -> str:
    """A new, empty PostgreSQL database on ``server``; return its URL."""
    name = f"loopml_rest_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return f"{server}/{name}"


def drop_pg_database(url: str) -> None:
    server, name = url.rsplit("/", 1)
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@dataclass
class LiveServer:
    """A running ``loopml server`` and what a test needs to reach it."""

    backend: str  # "sqlite" or "postgresql"
    home: Path
    db_url: str | None
    url: str = ""
    tokens: dict[Role, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    port: int = 0
    command: str = "server"  # or "ui": ``loopml ui``, the embedded store, no sign-in

    def env(self) -> dict[str, str]:
        """The server's environment (the client tests must not inherit it)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
        env |= {"LOOPML_HOME": str(self.home), "LOOPML_CAPTURE_ENV": "false"}
        if self.db_url:
            env["LOOPML_DB_URL"] = self.db_url
        return env

    def make_tokens(self) -> None:
        """One token per role, made with the store's own credentials (as an admin would)."""
        overrides = {"home": self.home, "db_url": self.db_url}
        service = TokenService(open_backend(resolve_settings(overrides)))
        for role in ROLES:
            issued = service.create(user=f"{role.value}-user", role=role, note="tests")
            self.tokens[role] = issued.text

    def start(self, *options: str) -> None:
        """Start the server (on the same port after a restart) and wait until it answers."""
        self.port = self.port or free_port()
        log = self.home.parent / "server.log"
        self.home.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as sink:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "loopml", self.command, "--port", str(self.port), *options],
                env=self.env(),
                cwd=self.home.parent,
                stdout=subprocess.DEVNULL,
                stderr=sink,
                start_new_session=True,
            )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 180  # workers import everything: slow on a busy host
        while True:
            try:
                if httpx.get(f"{self.url}/api/v1/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError(f"loopml {self.command} did not start:\n{log.read_text()}")
            time.sleep(0.1)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Stop the server's process group with ``sig`` (kill -9 by default) and wait."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            self.process.wait(30)

    def headers(self, role: Role) -> dict[str, str]:
        """The Authorization header of ``role``'s token."""
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@dataclass
class ThreadServer:
    """The REST app served by uvicorn in a thread of the test process, over a store of the
    test's own (real HTTP on 127.0.0.1), with an admin token: what the SDK's contract tests
    point their remote client at, so each test has a fresh store as its embedded twin does."""

    url: str
    token: str


@contextmanager
def serve_in_thread(settings: Settings) -> Iterator[ThreadServer]:
    """Serve the store of ``settings`` on a free port until the block ends."""
    import uvicorn

    from loopml.api.rest import create_app

    backend = open_backend(settings)
    token = TokenService(backend).create(user="tester", role=Role.ADMIN, note="tests").text
    port = free_port()
    config = uvicorn.Config(
        create_app(backend), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="loopml-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the in-process loopml server did not start")
        time.sleep(0.01)
    try:
        yield ThreadServer(url=f"http://127.0.0.1:{port}", token=token)
    finally:
        server.should_exit = True
        thread.join(30)
