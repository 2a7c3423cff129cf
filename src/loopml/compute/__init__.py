"""Executors: where pipeline steps, sweep trials, batch scoring and drift computation run.

One contract, the standard :class:`concurrent.futures.Executor`, by name::

    from concurrent.futures import as_completed
    from loopml.compute import get_executor

    with get_executor("process", max_workers=4) as ex:
        futures = [ex.submit(train, fold) for fold in range(5)]
        scores = [f.result() for f in as_completed(futures)]

``inprocess`` runs each call at ``submit``; ``process`` runs calls in a local process pool;
``ray`` runs them as Ray tasks (``pip install 'loopml[ray]'``), on a local Ray or the cluster
``LOOPML_RAY_ADDRESS`` names. A call that cannot be pickled is refused at ``submit``; a call
whose worker dies is retried ``max_retries`` times, then fails with
:class:`~loopml.errors.WorkerDiedError`. This package is layer 2: it imports no service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml.compute.executor import Executor
from loopml.compute.inprocess import InProcessExecutor
from loopml.compute.process_pool import ProcessExecutor
from loopml.compute.registry import EXECUTORS, get_executor
from loopml.core.lazy import lazy_getattr

if TYPE_CHECKING:
    from loopml.compute.ray_cluster import RayExecutor

__all__ = [
    "EXECUTORS",
    "Executor",
    "InProcessExecutor",
    "ProcessExecutor",
    "RayExecutor",
    "get_executor",
]


__getattr__ = lazy_getattr(__name__, {"RayExecutor": "loopml.compute.ray_cluster"}, globals())
