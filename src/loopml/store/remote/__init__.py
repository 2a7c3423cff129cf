"""What talks to a ``loopml server`` over HTTP: the transport (token, retries, idempotency
keys, errors raised again as the embedded store's), and stores whose operations are pure
storage (content-addressed artifacts) mirrored over the server's REST API. Everything with a
rule in it goes to the server's services (:mod:`loopml.client.remote`)."""

from loopml.store.remote.artifacts import RemoteArtifactStore
from loopml.store.remote.transport import Transport, decode, new_idempotency_key

__all__ = ["RemoteArtifactStore", "Transport", "decode", "new_idempotency_key"]
