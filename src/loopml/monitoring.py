"""``loopml.monitoring``: watch data and models in production (``loopml.monitor`` is the same
function as ``loopml.monitoring.monitor``).

The functions live in :mod:`loopml.client.monitoring`; this module makes
``import loopml.monitoring`` and ``from loopml.monitoring import ...`` work as well as
``loopml.monitoring.<name>``. The service behind it is :mod:`loopml.health`.
"""

from loopml.client import monitoring as _impl
from loopml.client.monitoring import *  # noqa: F403

__all__ = list(_impl.__all__)
