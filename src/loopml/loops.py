"""``loopml.loops``: run loop policies until nothing is runnable, and read what the agent
did (its runs, their steps, the timeline of decisions).

The functions live in :mod:`loopml.client.loops`; this module makes ``import loopml.loops``
and ``from loopml.loops import ...`` work as well as ``loopml.loops.<name>``. The service
behind it is :mod:`loopml.automation`.
"""

from loopml.client import loops as _impl
from loopml.client.loops import *  # noqa: F403

__all__ = list(_impl.__all__)
