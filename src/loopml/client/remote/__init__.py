"""The SDK's remote mode: with ``LOOPML_SERVER_URL`` set, each SDK call is a request to a
``loopml server`` (:mod:`loopml.api.rest`), which runs the same service on its store.

The HTTP client is :class:`loopml.store.remote.Transport` (the token, retries, idempotency
keys, and errors turned back into the exceptions the embedded store raises).
"""

from loopml.store.remote import Transport, decode

__all__ = ["Transport", "decode"]
