"""``loopml.datasets``: register, version, profile, validate, split and load datasets.

The functions live in :mod:`loopml.client.datasets`; this module makes
``import loopml.datasets`` and ``from loopml.datasets import ...`` work as well as
``loopml.datasets.<name>``.
"""

from loopml.client import datasets as _impl
from loopml.client.datasets import *  # noqa: F403

__all__ = list(_impl.__all__)
