"""``loopml.deployments``: create, change, read and delete deployment records, which
``loopml serve --deployment NAME`` follows live.

The functions live in :mod:`loopml.client.deployments`; this module makes
``import loopml.deployments`` and ``from loopml.deployments import ...`` work as well as
``loopml.deployments.<name>``. The service behind it is
:class:`loopml.serving.deployments.DeploymentService`.
"""

from loopml.client import deployments as _impl
from loopml.client.deployments import *  # noqa: F403

__all__ = list(_impl.__all__)
