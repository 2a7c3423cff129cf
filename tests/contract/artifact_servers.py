"""Real ``loopml server`` processes for the remote run of the artifact contract suite: one per
metadata backend, started on first use and stopped at the end of the session."""

from __future__ import annotations

import pytest

from tests.conftest import PG_SERVER
from tests.rest.live_server import LiveServer, create_pg_database, drop_pg_database


class Servers:
    """The servers started so far, by backend (``sqlite`` or ``postgresql``)."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.running: dict[str, LiveServer] = {}

    def get(self, backend: str) -> LiveServer:
        """The server over ``backend``, started if it is not running yet."""
        if backend not in self.running:
            root = self.tmp_path_factory.mktemp(f"artifact-contract-{backend}")
            db_url = create_pg_database(PG_SERVER) if backend == "postgresql" else None
            server = LiveServer(backend=backend, home=root / ".loopml", db_url=db_url)
            self.running[backend] = server
            server.make_tokens()
            server.start()
        return self.running[backend]

    def stop(self) -> None:
        """Stop every server and drop the databases made for them."""
        for server in self.running.values():
            server.kill()
            if server.db_url:
                from loopml.store.backend import close_cached_backends

                close_cached_backends()
                drop_pg_database(server.db_url)
        self.running.clear()
