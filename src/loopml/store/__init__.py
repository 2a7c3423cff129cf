"""Layer 2: the stores behind small protocols.

- :mod:`loopml.store.protocols`: the protocols every backend implements.
- :mod:`loopml.store.query`: typed query objects (and the filter-string parser feeding them).
- :mod:`loopml.store.sql`: metadata on SQLAlchemy 2 + Alembic (SQLite, PostgreSQL).
- :mod:`loopml.store.artifacts`: content-addressed artifacts over fsspec.
- :mod:`loopml.store.backend`: :func:`open_backend` picks the implementations from settings.
"""

from loopml.store.backend import Backend, open_backend
from loopml.store.protocols import (
    ArtifactStore,
    DatasetStore,
    DeploymentChange,
    DeploymentStore,
    EvaluationStore,
    EventStore,
    LoopClaim,
    LoopStore,
    ModelChange,
    ModelStore,
    TokenStore,
    TrackingStore,
)
from loopml.store.query import (
    BoolOp,
    Comparison,
    FieldRef,
    OrderKey,
    RunQuery,
    parse_filter,
    parse_order_by,
)

__all__ = [
    "ArtifactStore",
    "Backend",
    "BoolOp",
    "Comparison",
    "DatasetStore",
    "DeploymentChange",
    "DeploymentStore",
    "EvaluationStore",
    "EventStore",
    "FieldRef",
    "LoopClaim",
    "LoopStore",
    "ModelChange",
    "ModelStore",
    "OrderKey",
    "RunQuery",
    "TokenStore",
    "TrackingStore",
    "open_backend",
    "parse_filter",
    "parse_order_by",
]
