"""A real model server on 127.0.0.1 for the HTTP tests: uvicorn in a background thread over
an :class:`~loopml.serving.InferenceService`, with scikit-learn models trained on real data."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import uvicorn
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from loopml.api.inference import create_app
from loopml.api.limits import ConnectionLimits, LimitedHttpToolsProtocol, uvicorn_options
from loopml.core.settings import Settings, resolve_settings
from loopml.governance import TokenService
from loopml.registry import ModelRegistry
from loopml.registry.loaded import PREDICTORS
from loopml.serving import InferenceService, ServeConfig
from loopml.store.backend import close_cached_backends, open_backend

NAME = "cancer"


@dataclass
class Served:
    """A running server: its base URL, a client, the service behind it and its log store."""

    url: str
    client: httpx.Client
    service: InferenceService
    logs_url: str | None
    server: uvicorn.Server
    thread: threading.Thread
    stopped: bool = field(default=False)

    def stop(self) -> None:
        """Stop gracefully (the lifespan shutdown flushes and compacts the log)."""
        if self.stopped:
            return
        self.stopped = True
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the server did not stop within 30 s"


def serve(
    settings: Settings,
    root: Path,
    *,
    limits: ConnectionLimits | None = None,
    tokens: TokenService | None = None,
    **options: Any,
) -> Served:
    """Start a server for ``options`` (ServeConfig fields) with its spool and logs in ``root``
    (``logs_url=None``: the log stays in the spool, ``root / "spool"``); with ``limits``,
    uvicorn runs as ``loopml serve`` runs it, with those connection limits; with ``tokens``,
    requests need API tokens (``--auth token``)."""
    options.setdefault("model", f"{NAME}@champion")
    options.setdefault("poll_interval_s", 0)
    logs_url = options.pop("logs_url", str(root / "logs"))
    config = ServeConfig(spool_dir=root / "spool", logs_url=logs_url, **options)
    service = InferenceService(open_backend(settings), config, seed=0)
    app = create_app(service, tokens=tokens)
    extra: dict[str, Any] = {}
    if limits is not None:
        extra = uvicorn_options(limits)
        extra["http"] = type("Limited", (LimitedHttpToolsProtocol,), {"limits": limits})
    server = uvicorn.Server(
        uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", lifespan="on", ws="none", **extra
        )
    )
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, timeout=30)
    return Served(url, client, service, logs_url, server, thread)


def store_settings(root: Path) -> Settings:
    """Settings for a fresh SQLite store under ``root`` (for module-scoped servers)."""
    home = root / ".loopml"
    return resolve_settings(
        {
            "home": home,
            "db_url": f"sqlite:///{root / 'meta' / 'loopml.db'}",
            "artifacts_url": str(home / "artifacts"),
            "capture_env": False,
            "flush_interval": 0.05,
        },
        cwd=root,
    )


def register(
    registry: ModelRegistry, model: Any, data: pd.DataFrame, *, champion: bool = False
) -> str:
    """Register ``model`` as a version of ``cancer``; approve it and point champion at it."""
    version = registry.register(model, NAME, input_example=data.head())
    if champion:
        registry.approve(version.ref, comment="ok")
        registry.set_alias(NAME, "champion", version.version)
    return version.ref


@pytest.fixture(scope="session")
def data() -> pd.DataFrame:
    X, _ = load_breast_cancer(return_X_y=True, as_frame=True)
    return X.iloc[:, :5]


@pytest.fixture(scope="session")
def fitted(data: pd.DataFrame) -> dict[str, Pipeline]:
    _, y = load_breast_cancer(return_X_y=True, as_frame=True)
    a = make_pipeline(StandardScaler(), LogisticRegression()).fit(data, y)
    b = make_pipeline(StandardScaler(), LogisticRegression(C=0.01)).fit(data, y)
    return {"a": a, "b": b}


@pytest.fixture(scope="module")
def clean_env() -> Iterator[None]:
    """No LOOPML_* variables leak in (as the ``settings`` fixture, but module-scoped)."""
    with pytest.MonkeyPatch.context() as mp:
        for var in [k for k in os.environ if k.startswith("LOOPML_") and k != "LOOPML_TEST_PG_URL"]:
            mp.delenv(var)
        PREDICTORS.clear()
        yield
        PREDICTORS.clear()
        close_cached_backends()


@pytest.fixture(scope="module")
def store(clean_env: None, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A module's own SQLite store."""
    return store_settings(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def champion_server(
    store: Settings,
    fitted: dict[str, Pipeline],
    data: pd.DataFrame,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    """A real server of one champion (``fitted["a"]``), started once per test module."""
    register(ModelRegistry(open_backend(store)), fitted["a"], data, champion=True)
    served = serve(store, tmp_path_factory.mktemp("champion"))
    yield served
    served.stop()
