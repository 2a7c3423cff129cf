"""``loopml.errors``: every error loopml raises on purpose, one tree under :class:`LoopmlError`.

Catch the few types a caller acts on (``NotFoundError``, ``InvalidArgumentError``,
``ConflictError``, ``GateFailedError``, ...); the tree and what each error means are in
:mod:`loopml.core.errors`, which this module re-exports.

Example:
    >>> import loopml.errors
    >>> issubclass(loopml.errors.NotFoundError, LookupError)
    True
"""

from loopml.core import errors as _impl
from loopml.core.errors import *  # noqa: F403

__all__ = list(_impl.__all__)
