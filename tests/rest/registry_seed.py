"""What the registry's REST tests share: the live server's own store opened in the test
(to seed models and datasets as the server's host would), and SDK clients pointed at the
server with a role's token."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

from loopml.client import LoopmlClient
from loopml.core.entities import DatasetVersion, ModelVersion, Role
from loopml.core.settings import resolve_settings
from loopml.data import DatasetService
from loopml.registry import ModelRegistry
from loopml.store.backend import Backend, open_backend
from tests.rest.live_server import LiveServer


def server_store(server: LiveServer) -> Backend:
    """The server's store, opened here with its own settings (as on the server's host)."""
    return open_backend(resolve_settings({"home": server.home, "db_url": server.db_url}))


class Clients:
    """Makes SDK clients in remote mode (``server_url`` and a role's token) and closes them."""

    def __init__(self, server: LiveServer, home: Path) -> None:
        self.server = server
        self.home = home
        self.made: list[LoopmlClient] = []

    def __call__(self, role: Role) -> LoopmlClient:
        """A new client acting with ``role``'s token (its own folder for caches)."""
        overrides = {
            "home": self.home / f"c{len(self.made)}" / ".loopml",
            "server_url": self.server.url,
            "token": self.server.tokens[role],
        }
        client = LoopmlClient(settings=resolve_settings(overrides))
        self.made.append(client)
        return client

    def close(self) -> None:
        """Close the connections the clients made (the process's shared transports)."""
        from loopml.client.remote.connection import close_shared_transports

        close_shared_transports()


def frame() -> pd.DataFrame:
    """Breast cancer (scikit-learn's copy): 6 features and the target."""
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    data = X.iloc[:, :6].copy()
    data["target"] = y
    return data


@dataclass
class Seeded:
    """A dataset and two registered versions of a model on the server's store."""

    model: str
    dataset: DatasetVersion
    versions: list[ModelVersion]


def seed(server: LiveServer, name: str, *, versions: int = 2) -> Seeded:
    """Register ``name``-data and ``versions`` versions of model ``name`` (pending review)."""
    backend = server_store(server)
    data = frame()
    dataset = DatasetService(backend).register(f"{name}-data", data, target="target")
    registry = ModelRegistry(backend)
    X, y = data.drop(columns="target"), data["target"]
    made = [
        registry.register(
            LogisticRegression(C=10.0**-i, max_iter=3000).fit(X, y),
            name,
            training_data=dataset.ref,
        )
        for i in range(versions)
    ]
    return Seeded(model=name, dataset=dataset, versions=made)
