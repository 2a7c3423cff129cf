"""The services a REST server calls: the same classes the embedded SDK uses, built once per
server process over its store and shared by every request."""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING

from fastapi import Request

from loopml.data import DatasetService
from loopml.store.backend import Backend
from loopml.tracking import TrackingService

if TYPE_CHECKING:
    from loopml.evaluation import EvaluationService
    from loopml.governance import TokenService
    from loopml.health import MonitorService
    from loopml.registry import ModelRegistry
    from loopml.serving.deployments import DeploymentService
    from loopml.store.artifacts import ContentAddressedStore
    from loopml.store.artifacts.uploads import ChunkedUploads

__all__ = ["Services", "services_of"]


class Services:
    """The server's services over one backend (each created on first use).

    Args:
        backend: The server's stores.
    """

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._lock = threading.Lock()

    @cached_property
    def tracking(self) -> TrackingService:
        """Experiments, runs, params, metrics, tags, artifacts and search."""
        return TrackingService(self.backend, cache_running=False)  # workers share runs

    @cached_property
    def datasets(self) -> DatasetService:
        """Dataset versions, validation, splits and lineage."""
        return DatasetService(self.backend)

    @cached_property
    def models(self) -> ModelRegistry:
        """The model registry."""
        from loopml.registry import ModelRegistry

        return ModelRegistry(self.backend)

    @cached_property
    def evaluations(self) -> EvaluationService:
        """Evaluations and release gates."""
        from loopml.evaluation import EvaluationService

        return EvaluationService(self.backend)

    @cached_property
    def monitoring(self) -> MonitorService:
        """Monitoring results and alerts."""
        from loopml.health import MonitorService

        return MonitorService(self.backend)

    @cached_property
    def deployments(self) -> DeploymentService:
        """Deployment records."""
        from loopml.serving.deployments import DeploymentService

        return DeploymentService(self.models)

    @cached_property
    def artifact_store(self) -> ContentAddressedStore:
        """The artifact store the artifact proxy serves (``--artifacts-destination``)."""
        from loopml.core.errors import StoreError
        from loopml.store.artifacts import ContentAddressedStore

        store = self.backend.artifacts
        if not isinstance(store, ContentAddressedStore):
            raise StoreError(
                f"The server's artifact store {store.url} is not a content-addressed store: "
                "start `loopml server` with --artifacts-destination set to a folder or an "
                "fsspec URL."
            )
        return store

    @cached_property
    def artifact_uploads(self) -> ChunkedUploads:
        """Chunked uploads, staged under a local store's root (or under the server's home
        for an object store) until their hash is checked."""
        from loopml.store.artifacts.uploads import ChunkedUploads

        store = self.artifact_store
        folder = None if store.local_root else self.backend.settings.home / "artifact-uploads"
        return ChunkedUploads(store, folder)

    @cached_property
    def tokens(self) -> TokenService:
        """API tokens (their checks cached for a few seconds)."""
        from loopml.governance import TokenService
        from loopml.governance.tokens import DEFAULT_CACHE_MS

        return TokenService(self.backend, cache_ms=DEFAULT_CACHE_MS)


def services_of(request: Request) -> Services:
    """The :class:`Services` of the app serving ``request`` (a route dependency)."""
    services: Services = request.app.state.services
    return services
