"""``loopml serve`` with one of its speed-ups switched off: the servers of the ablations.

Not a stage (``run_all.py`` does not run it): ``serving_ablations.py`` starts it as a
subprocess. It builds the app exactly as ``loopml serve --workers 1`` does (the same
``LOOPML_SERVE_CONFIG`` options and app factory, :func:`loopml.api.server.app_from_environment`),
then changes only what it is told:

* ``--http h11 --loop asyncio``: uvicorn's pure-Python HTTP parser and event loop instead of
  httptools and uvloop (which uvicorn picks by itself when they are installed);
* ``--no-freeze``: the service does not :func:`gc.freeze` its start-up heap.

Usage: python benchmarks/serve_variant.py NAME@ALIAS --port PORT [--http h11] [--loop asyncio]
[--no-freeze] [--max-batch N] [--runtime auto|native|onnx]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Any

import orjson


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"])
    parser.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"])
    parser.add_argument("--no-freeze", action="store_true")
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--runtime", default="auto")
    args = parser.parse_args()

    import uvicorn

    from loopml.api import server

    options = {"model": args.model, "max_batch": args.max_batch, "runtime": args.runtime}
    options |= {"fallback": "previous", "poll_interval_s": 5.0, "log": True}
    server.check_options(options)
    os.environ[server.CONFIG_ENV] = orjson.dumps(options).decode()
    if args.no_freeze:
        built = server.config_from_options

        def unfrozen(*a: Any, **kw: Any) -> Any:
            return dataclasses.replace(built(*a, **kw), freeze_heap=False)

        server.config_from_options = unfrozen  # type: ignore[assignment]
    uvicorn.run(
        "loopml.api.server:app_from_environment",
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=1,
        http=args.http,
        loop=args.loop,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
