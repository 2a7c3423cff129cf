"""``loopml.models``: register, find, review, move, roll back and load model versions.

The functions live in :mod:`loopml.client.models`; this module makes ``import loopml.models`` and
``from loopml.models import ...`` work as well as ``loopml.models.<name>``.
"""

from loopml.client import models as _impl
from loopml.client.models import *  # noqa: F403

__all__ = list(_impl.__all__)
