"""The team server's REST API (``loopml server``): every SDK call over HTTP, under ``/api/v1``.

Each route parses its input, checks the caller's role (:mod:`loopml.governance.roles`) and
calls the same service the embedded SDK calls, on the server: every rule (write-once params,
approval before ``champion``, the gate) is enforced here, and the actor recorded is the
token's user. The SDK's remote mode (:mod:`loopml.client.remote`) is the other end.
"""

from loopml.api.rest.app import API_PREFIX, ServerConfig, create_app

__all__ = ["API_PREFIX", "ServerConfig", "create_app"]
