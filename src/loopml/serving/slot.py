"""A served model that can change under the server: a ref (``credit-default@champion``)
resolved to a loaded version, swapped atomically when the alias moves.

:meth:`ModelSlot.refresh` (called by the server's watcher thread) resolves the ref; when it
names another version, that version is loaded **before** the swap, and the swap is one
attribute assignment of an immutable :class:`Served` (requests in flight keep the object they
read). A version that fails to load leaves the old one serving and raises an alert event.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from loopml.core.entities import Event
from loopml.core.ids import new_event_id
from loopml.core.settings import current_user
from loopml.registry import LoadedModel, ModelRegistry
from loopml.registry.loaded import RuntimeChoice
from loopml.serving.batcher import BatchOutput

_log = logging.getLogger("loopml.serving")


@dataclass(frozen=True)
class Served:
    """One loaded version behind a slot."""

    model: LoadedModel

    @property
    def ref(self) -> str:
        """``name@version``."""
        return self.model.version.ref

    @property
    def name(self) -> str:
        """The model's name."""
        return self.model.version.name

    @property
    def version(self) -> int:
        """The version number."""
        return self.model.version.version

    @property
    def classes(self) -> tuple[Any, ...]:
        """Class labels (empty: a regressor)."""
        return self.model.classes

    def run(self, frame: pd.DataFrame) -> BatchOutput:
        """Predict on rows already checked against the signature (no second check)."""
        raw = self.model.raw
        proba: np.ndarray | None = None
        if not self.model.signature.output.has_proba:
            return BatchOutput(np.asarray(raw.predict(frame)).reshape(len(frame)), None)
        both = getattr(raw, "predict_with_proba", None)
        if both is not None:  # one pass of the model instead of two
            predictions, proba = both(frame)
        else:
            predictions, proba = raw.predict(frame), raw.predict_proba(frame)
        return BatchOutput(
            np.asarray(predictions).reshape(len(frame)),
            None if proba is None else np.asarray(proba, dtype=float),
        )


class ModelSlot:
    """A ref and the version it currently serves.

    Args:
        registry: Where the ref is resolved and loaded from.
        ref: ``name@alias`` (follows the alias) or ``name@version`` (fixed).
        role: ``champion``, ``canary``, ``shadow`` or ``fallback`` (for events and logs).
        runtime: ``native``, ``onnx`` (the version's checked ONNX export) or ``auto`` (the
            export when the version has one).
        on_swap: Called with (old, new) after a swap.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        ref: str,
        *,
        role: str,
        runtime: RuntimeChoice = "native",
        on_swap: Callable[[Served | None, Served], None] | None = None,
    ) -> None:
        self.registry = registry
        self.ref = ref
        self.role = role
        self.runtime: RuntimeChoice = runtime
        self._on_swap = on_swap
        self._lock = threading.Lock()
        self.current: Served = Served(registry.load(ref, runtime=runtime))
        self.previous: Served | None = None
        self.failed_version: str | None = None

    def refresh(self) -> bool:
        """Follow the ref: load and swap in the version it names now, if it changed.

        Returns:
            True when a new version was swapped in. A version that fails to load leaves the
            current one serving (an ``deployment.swap_failed`` event says why, once per
            version).
        """
        with self._lock:
            target = self.registry.get(self.ref)
            if target.ref in (self.current.ref, self.failed_version):
                return False
            try:
                loaded = Served(self.registry.load(target, runtime=self.runtime))
            except Exception as exc:  # any failure to load must leave the old version serving
                self.failed_version = target.ref
                _log.error("Could not load %s for %s: %s", target.ref, self.ref, exc)
                self._event(
                    "deployment.swap_failed",
                    target.ref,
                    f"{target.ref} failed to load ({type(exc).__name__}: {exc}); "
                    f"{self.current.ref} keeps serving",
                )
                return False
            old, self.previous, self.current = self.current, self.current, loaded
            self.failed_version = None
        self._event("deployment.swapped", loaded.ref, f"{self.ref} moved from {old.ref}")
        if self._on_swap is not None:
            self._on_swap(old, loaded)
        return True

    def _event(self, kind: str, version: str, reason: str) -> None:
        backend = self.registry.backend
        try:
            backend.events.append(
                Event(
                    event_id=new_event_id(),
                    kind=kind,
                    subject=f"model:{version}",
                    actor=current_user(backend.settings),
                    at=self.registry.now(),
                    reason=reason,
                    links={"ref": self.ref},
                    data={"role": self.role},
                )
            )
        except Exception as exc:  # an audit write must not take the server down
            _log.error("Could not record %s for %s: %s", kind, version, exc)


class Watcher:
    """A daemon thread that calls ``tick`` every ``interval`` seconds (the service's check of
    its deployment record and of every followed ref)."""

    def __init__(self, tick: Callable[[], object], interval: float) -> None:
        self.tick = tick
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start watching (no-op for an interval of 0)."""
        if self.interval <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="loopml-alias-watcher", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception as exc:  # the next tick tries again; serving goes on
                _log.warning("The routes could not be checked: %s", exc)

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
