"""The executors by name (STYLE rule 11): ``get_executor("inprocess" | "process" | "ray")``."""

from __future__ import annotations

from loopml.compute.executor import Executor
from loopml.compute.inprocess import InProcessExecutor
from loopml.compute.process_pool import ProcessExecutor
from loopml.core.errors import InvalidArgumentError, did_you_mean
from loopml.core.settings import Settings

#: The executors' names, in order of reach: this thread, this machine, a cluster.
EXECUTORS = ("inprocess", "process", "ray")


def get_executor(
    name: str,
    *,
    max_workers: int | None = None,
    max_retries: int = 1,
    settings: Settings | None = None,
) -> Executor:
    """The executor named ``name``, ready to ``submit`` to.

    Args:
        name: ``inprocess`` (each call at ``submit``, in this thread), ``process`` (a pool of
            local processes) or ``ray`` (Ray tasks on a local Ray, the one already
            initialized, or the cluster ``settings.ray_address`` names).
        max_workers: Worker processes (``process``) or CPUs of a local Ray started here;
            default: the CPU count.
        max_retries: Times a call whose worker died runs again before its future fails
            with :class:`~loopml.errors.WorkerDiedError` (``process`` and ``ray``).
        settings: Settings to read ``LOOPML_RAY_ADDRESS`` from (default: resolved now).

    Returns:
        A :class:`concurrent.futures.Executor`; use it in a ``with`` block.

    Raises:
        InvalidArgumentError: An unknown name (with the closest one), or a bad count.
        ImportError: ``ray`` asked for and not installed (with ``pip install 'loopml[ray]'``).

    Example:
        >>> from concurrent.futures import as_completed
        >>> from loopml.compute import get_executor
        >>> with get_executor("inprocess") as ex:
        ...     sorted(f.result() for f in as_completed([ex.submit(abs, -n) for n in (1, 2)]))
        [1, 2]
    """
    if name == "inprocess":
        return InProcessExecutor(max_workers=max_workers, max_retries=max_retries)
    if name == "process":
        return ProcessExecutor(max_workers=max_workers, max_retries=max_retries)
    if name == "ray":
        from loopml.compute.ray_cluster import RayExecutor
        from loopml.core.settings import resolve_settings

        return RayExecutor(
            max_workers=max_workers,
            max_retries=max_retries,
            settings=settings if settings is not None else resolve_settings(),
        )
    shown = name if isinstance(name, str) else repr(name)
    raise InvalidArgumentError(
        f"Unknown executor {shown!r}; use one of {', '.join(EXECUTORS)}."
        f"{did_you_mean(name, EXECUTORS) if isinstance(name, str) else ''}"
    )
