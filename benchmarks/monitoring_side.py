"""What every side of the monitoring benchmark does alike in its own process: read the Parquet
files, and measure its resident memory (Linux). Imports only the standard library and pyarrow,
so loopml's, Evidently's and NannyML's virtualenvs can all use it.

:func:`read_frame` reads a Parquet file into pandas the same way on every side, converting
column by column and handing the freed Arrow memory back (``self_destruct``,
``release_unused``), so that what stays resident before a run is the data and the libraries,
not the reader's leftovers. :func:`peak_mib` is the process's peak resident set so far
(``getrusage``'s ``ru_maxrss``: the read included). :class:`RunMemory` reads the resident set
when a run starts, resets the kernel's high-water mark (``/proc/self/clear_refs``) and reads
it again when the run ends: the peak during the run, with the data in memory.
"""

from __future__ import annotations

import resource
from pathlib import Path
from typing import Any


def read_frame(path: str) -> Any:
    """The Parquet file at ``path`` as a pandas DataFrame (pandas' default types)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = pq.read_table(path).to_pandas(self_destruct=True, split_blocks=True)
    pa.default_memory_pool().release_unused()
    return frame


def release_arrow() -> None:
    """Hand Arrow's freed memory back to the system."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def peak_mib() -> float:
    """The process's peak resident memory so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _status_mib(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class RunMemory:
    """The resident memory before a run and its peak during the run.

    Example:
        >>> memory = RunMemory()  # after the data are read
        >>> _ = bytearray(10_000_000)  # the run
        >>> memory.stop()["run_peak_mib"] >= memory.before_mib
        True
    """

    def __init__(self) -> None:
        self.before_mib = _status_mib("VmRSS")
        try:  # "5" resets the peak resident set (VmHWM) to the current one
            Path("/proc/self/clear_refs").write_text("5")
            self.reset = True
        except OSError:
            self.reset = False

    def stop(self) -> dict[str, float | None]:
        """``before_mib`` (resident when the run started), ``run_peak_mib`` (its peak during the
        run; None where the high-water mark could not be reset) and ``peak_mib``."""
        return {
            "before_mib": self.before_mib,
            "run_peak_mib": _status_mib("VmHWM") if self.reset else None,
            "peak_mib": peak_mib(),
        }
