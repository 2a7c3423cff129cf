"""wrk, a load generator written in C, driving the concurrent serving scenarios beside the
Python client (``serving_client.py``): one process with ``threads`` epoll threads and
``clients`` kept-alive connections, so the generator is not the bottleneck.

The POST bodies go through a Lua script (wrk's way to send a body): the pre-encoded requests
are formatted once in ``init`` and sent in turn, and ``done`` prints the figures as one JSON
line. ``make bench`` installs wrk (Debian's package) when it is missing.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

#: The figures wrk prints at the end of a run, as one JSON line after this marker.
MARKER = "WRK-JSON "

SCRIPT = """
local bodies = {%(bodies)s}
local requests = {}
local i = 0

init = function(args)
  for n, body in ipairs(bodies) do
    requests[n] = wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json"}, body)
  end
  i = math.random(#requests) - 1
end

request = function()
  i = i %% #requests + 1
  return requests[i]
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%(marker)s{"requests": %%d, "duration_us": %%d, "bytes": %%d, '
    .. '"errors": {"connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d}, '
    .. '"p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "max_us": %%d, "mean_us": %%.1f}\\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""


def available() -> bool:
    """Whether the ``wrk`` binary is on the PATH."""
    return shutil.which("wrk") is not None


def version() -> str | None:
    """wrk's version line (it prints it with its usage), or None when it is missing."""
    if not available():
        return None
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).splitlines()[0].split(" Copyright")[0].strip()


def _lua_string(body: bytes) -> str:
    return '"' + "".join(f"\\{b:03d}" if b < 32 or b in (34, 92) else chr(b) for b in body) + '"'


def run(
    url: str, path: str, bodies: list[bytes], *, clients: int, seconds: float, threads: int = 2
) -> dict[str, Any]:
    """``clients`` connections over ``threads`` threads POSTing ``bodies`` in turn to
    ``url + path`` for ``seconds``: requests/s, latency percentiles (ms), errors, and the CPU
    wrk used (its share of one core)."""
    if not available():
        raise RuntimeError("wrk is not installed: `apt-get install wrk` (make bench does it)")
    script = SCRIPT % {
        "bodies": ",\n".join(_lua_string(b) for b in bodies),
        "path": path,
        "marker": MARKER,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    cmd = ["wrk", "-t", str(threads), "-c", str(clients), "-d", f"{seconds:g}s", "-s", fh.name]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        done = subprocess.run([*cmd, url], capture_output=True, text=True, check=False)
    finally:
        Path(fh.name).unlink()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    line = next((s for s in done.stdout.splitlines() if s.startswith(MARKER)), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    got = json.loads(line[len(MARKER) :])
    wall = got["duration_us"] / 1e6
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "rps": got["requests"] / wall,
        "requests": got["requests"],
        "wall_s": wall,
        "p50_ms": got["p50_us"] / 1000,
        "p90_ms": got["p90_us"] / 1000,
        "p99_ms": got["p99_us"] / 1000,
        "max_ms": got["max_us"] / 1000,
        "mean_ms": got["mean_us"] / 1000,
        "errors": got["errors"],
        "client_cpu_share": cpu / wall,
        "threads": threads,
        "clients": clients,
    }
