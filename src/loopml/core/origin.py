"""Where a change comes from: the client, the address and the authenticated user of a call.

The audit log records each event's origin beside its actor. An interface says where the
calls it makes come from, once: the CLI sets the process default (``loopml-cli/0.1.0``), a
server sets the origin of each request for the time it is handled (its client, the remote
address, and the user of the request's token) with :func:`acting_as`. Everything else reads
:func:`current_origin`; an embedded Python process is ``loopml-sdk/<version>`` at ``local``.

The user of an origin, when set, is who acts: :func:`loopml.core.settings.current_user`
returns it before ``LOOPML_USER`` or the login name, so a server records the token's user,
never a name the client sends.

Example:
    >>> with acting_as(Origin(client="loopml-serve/0.1.0", address="10.0.0.7", user="ada")):
    ...     current_origin().address
    '10.0.0.7'
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from loopml.core.version import VERSION

__all__ = [
    "LOCAL",
    "Origin",
    "acting_as",
    "client_name",
    "current_origin",
    "set_process_origin",
]

#: The address of a call made in this process (not over a network).
LOCAL = "local"


def client_name(interface: str) -> str:
    """The client name of one of loopml's interfaces: ``loopml-<interface>/<version>``."""
    return f"loopml-{interface}/{VERSION}"


@dataclass(frozen=True)
class Origin:
    """Where the calls of a context come from.

    Attributes:
        client: The program that made the call (``loopml-cli/0.1.0``, ``loopml-sdk/0.1.0``,
            ``loopml-server/0.1.0``).
        address: The remote address of a request to a server, or ``local``.
        user: The authenticated user of a server's request (from its token); None in a
            local process, where the user comes from the settings.
    """

    client: str
    address: str = LOCAL
    user: str | None = None


_process = Origin(client=client_name("sdk"))
_current: ContextVar[Origin | None] = ContextVar("loopml_origin", default=None)


def current_origin() -> Origin:
    """The origin of the calls made now: the one set by :func:`acting_as` in this context,
    else the process default."""
    return _current.get() or _process


def set_process_origin(origin: Origin) -> Origin:
    """Make ``origin`` the default of this process (threads included); return the previous
    default so it can be put back."""
    global _process
    previous, _process = _process, origin
    return previous


@contextmanager
def acting_as(origin: Origin) -> Iterator[Origin]:
    """Make ``origin`` the origin of the calls made in this context (a request, and the
    threads ``asyncio.to_thread`` runs for it) until the block ends."""
    token = _current.set(origin)
    try:
        yield origin
    finally:
        _current.reset(token)
