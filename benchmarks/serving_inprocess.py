"""The in-process limits of one request: each layer timed without HTTP, from the raw
Pipeline up to the ASGI app; the ONNX export; ``--profile``'s cProfile."""

from __future__ import annotations

import asyncio
import cProfile
import pstats
from pathlib import Path
from typing import Any

from serving_client import HEADERS
from serving_model import COLUMNS, MS, NAME, median_async, median_of, native_rows


def make_service(home: Path, spool: Path, max_batch: int, runtime: str = "auto") -> Any:
    """The service ``loopml serve`` builds, in this process (its own spool folder)."""
    from loopml import LoopmlClient
    from loopml.serving import InferenceService, ServeConfig

    backend = LoopmlClient(home=home).backend
    config = ServeConfig(
        model=f"{NAME}@champion",
        max_batch=max_batch,
        poll_interval_s=0,
        spool_dir=spool,
        runtime=runtime,  # type: ignore[arg-type]
    )
    return InferenceService(backend, config)


def in_process(
    home: Path, root: Path, model: Any, x: Any, calls: int, runtimes: list[str]
) -> dict[str, float]:
    """Median ms for one row at each layer, from the raw Pipeline up to the ASGI app."""
    import httpx
    import orjson

    from loopml.api.inference import create_app

    frames = [x.iloc[i : i + 1] for i in range(calls)]
    rows = native_rows(x.iloc[:calls])
    records = [[dict(zip(COLUMNS, row, strict=True))] for row in rows]
    bodies = [orjson.dumps({"columns": COLUMNS, "data": [row]}) for row in rows]
    out: dict[str, float] = {}
    out["pipeline_predict_ms"] = median_of(model.predict, frames) * MS
    out["pipeline_predict_and_proba_ms"] = (
        median_of(lambda f: (model.predict(f), model.predict_proba(f)), frames) * MS
    )
    for runtime in runtimes:
        for max_batch, label in ((1, "nobatch"), (32, "batch32")):
            service = make_service(home, root / f"spool-{runtime}-{label}", max_batch, runtime)
            served = service.slots["champion"].current
            if max_batch == 1:
                if runtime == runtimes[0]:
                    out["signature_prepare_ms"] = median_of(served.model.prepare, records) * MS
                prepared = [served.model.prepare(r) for r in records]
                out[f"served_run_{runtime}_ms"] = median_of(served.run, prepared) * MS

            async def measure(service: Any = service) -> tuple[float, float]:
                direct = await median_async(service.predict, records)
                transport = httpx.ASGITransport(app=create_app(service))
                async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:

                    async def asgi(body: bytes) -> None:
                        response = await client.post("/predict", content=body, headers=HEADERS)
                        response.raise_for_status()

                    app = await median_async(asgi, bodies)
                await service.stop()
                return direct, app

            direct, app = asyncio.run(measure())
            out[f"service_predict_{runtime}_{label}_ms"] = direct * MS
            out[f"asgi_app_{runtime}_{label}_ms"] = app * MS
    return out


def onnx_export(home: Path, x: Any, calls: int) -> dict[str, Any]:
    """Export the version to ONNX (checked on 2,000 held-out rows) and time its predict."""
    from loopml import LoopmlClient
    from loopml.core.errors import LoopmlError

    models = LoopmlClient(home=home).models
    try:
        models.export_onnx(f"{NAME}@champion", holdout=x.iloc[:2000])
        loaded = models.load(f"{NAME}@champion", runtime="onnx")
    except (LoopmlError, ImportError) as exc:
        return {"exported": False, "error": f"{type(exc).__name__}: {exc}"}
    rows = native_rows(x.iloc[:calls])
    records = [[dict(zip(COLUMNS, row, strict=True))] for row in rows]
    return {
        "exported": True,
        "predict_1_row_ms": median_of(loaded.predict, records) * MS,
        "predict_100_rows_ms": median_of(loaded.predict, [x.iloc[i : i + 100] for i in range(20)])
        * MS,
    }


def profile(home: Path, root: Path, x: Any, calls: int) -> None:
    """cProfile of the in-process service and of the ASGI app for one row (event loop)."""
    import httpx
    import orjson

    from loopml.api.inference import create_app

    rows = native_rows(x.iloc[:calls])
    records = [[dict(zip(COLUMNS, row, strict=True))] for row in rows]
    bodies = [orjson.dumps({"columns": COLUMNS, "data": [row]}) for row in rows]
    service = make_service(home, root / "spool-profile", 1, "native")

    hundred = [dict(zip(COLUMNS, row, strict=True)) for row in native_rows(x.iloc[:100])]

    async def run_service() -> None:
        for r in records:
            await service.predict(r)

    async def run_hundred() -> None:
        for _ in range(calls // 10):
            await service.predict(hundred)

    async def run_asgi() -> None:
        transport = httpx.ASGITransport(app=create_app(service))
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as client:
            for body in bodies:
                await client.post("/predict", content=body, headers=HEADERS)

    runs = (
        ("InferenceService.predict, 1 row", run_service),
        ("ASGI app, 1 row", run_asgi),
        ("InferenceService.predict, 100 rows", run_hundred),
    )
    for title, fn in runs:
        asyncio.run(fn())  # warm
        profiler = cProfile.Profile()
        profiler.enable()
        asyncio.run(fn())
        profiler.disable()
        for sort in ("tottime", "cumulative"):
            print(f"=== {title} (native runtime, max_batch=1, sorted by {sort})")
            pstats.Stats(profiler).strip_dirs().sort_stats(sort).print_stats(25)
    service.close_log()
