"""Process state of one CLI invocation (global options), the client it uses, and which store
it read.

Which commands may create a store is decided here, in one place: a command that writes the
first thing of a project (``loopml data register``) creates ``.loopml/`` as the SDK does;
every other command only reads, or changes what must already exist, so with no store it
answers "no loopml store here" (exit code 3, not found) and creates nothing. The store a
command used is said on stderr after its output when it is not the obvious one
(``.loopml/`` of the working folder): found in a parent folder, or set by ``LOOPML_HOME``,
``LOOPML_DB_URL`` or ``loopml.toml``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from loopml.client import LoopmlClient
from loopml.core.settings import resolve_settings
from loopml.store.backend import StoreLocation, store_location

#: Commands (path after ``loopml``) that may create the store: each writes the first thing
#: of a project. ``loopml init`` creates it on purpose and does not go through here.
#: ``tokens create`` makes the first admin token of a new team store; ``server`` starts on an
#: empty database.
CREATES_STORE = frozenset(
    {"data register", "data split", "pipeline run", "sweep run", "tokens create", "server"}
)


def command_path() -> str:
    """The running command's path after ``loopml`` (``runs list``), or "" outside one."""
    # Typer 0.29 runs commands with its own copy of Click; older Typers with Click itself.
    for module in ("typer._click.globals", "click.globals"):
        try:
            ctx = importlib.import_module(module).get_current_context(silent=True)
        except ImportError:
            continue
        if ctx is not None:
            return " ".join(str(ctx.command_path).split()[1:])
    return ""


@dataclass
class CliState:
    """Options given before the command, and the store the command opened."""

    debug: bool = False
    location: StoreLocation | None = None

    def reset(self) -> None:
        """Forget the previous invocation (the CLI can run many times in one process)."""
        self.debug = False
        self.location = None

    def client(self) -> LoopmlClient:
        """Open the client from the resolved settings; only a command in
        :data:`CREATES_STORE` may create the store.

        Raises:
            NotFoundError: There is no store, and this command must not create one.
        """
        settings = resolve_settings()
        client = LoopmlClient(settings=settings, create=command_path() in CREATES_STORE)
        self.location = store_location(settings)
        return client

    def store_note(self) -> str | None:
        """The line that says which store was read, when it is not the obvious one."""
        if self.location is None or self.location.obvious:
            return None
        return f"store: {self.location}"


state = CliState()
