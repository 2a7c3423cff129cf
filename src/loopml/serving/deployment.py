"""A :class:`~loopml.serving.config.ServeConfig` resolved against the registry: the
fallback's ref, the guardrails, and the check ``loopml serve`` runs before starting workers
(and ``loopml deploy`` before writing a record); :func:`record_config`, a deployment record as
a config.

:func:`fallback_ref` is the one place the ``previous`` fallback is resolved: at start-up and
again after each hot swap of the champion (so the fallback is always the version the alias
held before the one now served, exactly as a fresh start would pick).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from loopml.core.entities import Deployment, ModelVersion
from loopml.core.errors import InvalidArgumentError, LoopmlError, NotFoundError
from loopml.registry import ModelRegistry
from loopml.registry import aliases as alias_log
from loopml.registry.refs import parse_model_ref
from loopml.registry.service import resolve_runtime
from loopml.serving.config import ServeConfig, check_runtime
from loopml.serving.fallbacks import declared_fallback, is_declared
from loopml.serving.guardrails import Guardrails
from loopml.serving.routing import CANARY, CHAMPION, FALLBACK, SHADOW, Router
from loopml.serving.slot import ModelSlot


def fallback_ref(registry: ModelRegistry, config: ServeConfig) -> str | None:
    """The ref of a registered fallback: ``previous`` resolved through the champion alias's
    history (None when the alias never held another version), or the ref given; None for no
    fallback or a declared one."""
    if config.fallback is None or is_declared(config.fallback):
        return None
    if config.fallback != "previous":
        return str(config.fallback)
    ref = parse_model_ref(config.model)
    if ref.alias is None:
        return None
    moves = registry.alias_history(ref.name, ref.alias)
    _current, before = alias_log.rollback_target(moves)
    return None if before is None else f"{ref.name}@{before}"


def fallback_slot(
    registry: ModelRegistry, config: ServeConfig, current: ModelSlot | None
) -> ModelSlot | None:
    """The slot of the registered fallback ``config`` names now (:func:`fallback_ref`):
    ``current`` when it already serves that ref, else a new slot with its version loaded;
    None for none. The server calls it at start-up and after each swap of the champion, so a
    server that swapped serves the fallback a fresh start would.

    Raises:
        LoopmlError: The fallback's version cannot be resolved or loaded.
    """
    ref = fallback_ref(registry, config)
    if ref is None:
        return None
    if current is not None and current.ref == ref:
        return current
    return ModelSlot(registry, ref, role=FALLBACK)


def guardrails_for(
    registry: ModelRegistry, config: ServeConfig, champion: ModelVersion
) -> Guardrails | None:
    """The deployment's guardrails, with the champion's training profile (for ``ood``)."""
    if config.guardrails is None:
        return None
    profile = None
    if champion.training_data is not None:
        profile = registry.datasets.get(champion.training_data).profile
    classes = tuple(champion.signature.output.classes)
    return Guardrails(config.guardrails, profile=profile, classes=classes)


def check_deployment(
    registry: ModelRegistry, config: ServeConfig, *, subject: str | None = None
) -> list[tuple[str, str, str]]:
    """Check what ``config`` would serve from metadata alone, loading no model: every ref
    resolves (a canary alias not set yet is allowed at 0 %, when its model exists), each
    runtime is available, a declared fallback builds, the guardrails parse.
    ``loopml serve`` runs it before starting workers, so that a mistake is one clear error
    instead of workers failing (and being restarted) one after another; ``loopml deploy``
    before writing a record.

    Args:
        registry: Where refs are resolved.
        config: What would be served.
        subject: Who the routes belong to (``Deployment 'credit'``): an error then starts
            with it and names the field (``champion``, ``canary``, ``shadows[1]``,
            ``runtime``, ``fallback``, ``guardrails``).

    Returns:
        ``(role, version ref or declaration, runtime)`` per route, champion first; the
        canary's role carries its share (``canary (10%)``).

    Raises:
        LoopmlError: The first problem found (an unknown ref, a missing ONNX export, ...).
    """
    with _field(subject, "champion"):
        champion = registry.get(config.model)
    routes = [(CHAMPION, champion, config.runtime)]
    unset: list[tuple[str, str, str]] = []
    if config.canary is not None:
        ref, share = config.canary
        with _field(subject, "canary"):
            role = f"{CANARY} ({Router(share).percent:g}%)"  # the share is a percentage
            try:
                routes.append((role, registry.get(ref), config.runtime))
            except NotFoundError as exc:
                if parse_model_ref(ref).alias is None:
                    raise
                if share != 0:
                    raise NotFoundError(
                        f"{exc} A canary alias not set yet is accepted at share 0 only: set "
                        "the alias first, or start the canary at 0."
                    ) from None
                registry.versions(parse_model_ref(ref).name)  # the model itself must exist
                unset.append((role, f"{ref} (alias not set yet)", "-"))
    for index, ref in enumerate(config.shadows):
        with _field(subject, f"shadows[{index}]"):
            routes.append((SHADOW, registry.get(ref), "native"))
    with _field(subject, "runtime"):
        found = [(role, v.ref, str(resolve_runtime(v, runtime))) for role, v, runtime in routes]
    found[1:1] = unset
    with _field(subject, "fallback"):
        if config.fallback is not None and is_declared(config.fallback):
            classes = tuple(champion.signature.output.classes)
            declared = declared_fallback(config.fallback, name=champion.name, classes=classes)
            found.append((FALLBACK, declared.ref, "-"))
        else:
            named = fallback_ref(registry, config)
            if named is not None:
                found.append((FALLBACK, registry.get(named).ref, "native"))
    with _field(subject, "guardrails"):
        guardrails_for(registry, config, champion)
    return found


@contextmanager
def _field(subject: str | None, field: str) -> Iterator[None]:
    """Say which field of ``subject`` a loopml error inside is about (same error class)."""
    try:
        yield
    except LoopmlError as exc:
        if subject is None:
            raise
        message = f"{subject}, field {field!r}: {exc}"
        try:
            error = type(exc)(message)
        except TypeError:  # an error class with other arguments
            error = InvalidArgumentError(message)
        raise error from None


def record_config(record: Deployment, base: ServeConfig) -> ServeConfig:
    """``base`` (the server's own options: batching, deadlines, the log) with the routes,
    fallback, guardrails and runtime of a deployment record."""
    canary = None if record.canary is None else (record.canary.ref, record.canary.share)
    return replace(
        base,
        model=record.champion,
        canary=canary,
        shadow=tuple(record.shadows),
        fallback=record.fallback,
        guardrails=record.guardrails,
        runtime=check_runtime(record.runtime),
        deployment=record.name,
    )
