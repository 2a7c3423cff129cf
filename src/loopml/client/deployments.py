"""``loopml.deployments``: what model servers serve, as records that move.

A deployment names a champion ref, an optional canary with its share of the traffic, shadow
refs, the fallback, guardrails and the runtime. Every change is one transaction with its event
(``deployment.created``, ``deployment.changed``, ``deployment.deleted``, with the actor, the
reason and the routes before and after) and bumps the record's version; ``loopml serve
--deployment NAME`` follows the record live, so a canary is started, resized and stopped
without restarting servers.

Example:
    >>> import loopml
    >>> loopml.deployments.create("credit", champion="credit-default@champion")  # doctest: +SKIP
    >>> d = loopml.deployments.set(
    ...     "credit", canary="credit-default@challenger", canary_share=10, reason="canary"
    ... )  # doctest: +SKIP
    >>> loopml.deployments.set(
    ...     "credit", canary_share=50, expected_version=d.version
    ... )  # doctest: +SKIP
    >>> [e.kind for e in loopml.deployments.history("credit")]  # doctest: +SKIP
    ['deployment.created', 'deployment.changed', 'deployment.changed']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loopml.client.fluent import _get_client
from loopml.core.entities import CanaryRoute, Deployment, Event
from loopml.core.entities.deployments import KEEP, Keep

__all__ = [
    "KEEP",
    "CanaryRoute",
    "Deployment",
    "create",
    "delete",
    "get",
    "history",
    "list_deployments",
    "set",
]


def create(
    name: str,
    *,
    champion: str,
    canary: str | None = None,
    canary_share: float = 0.0,
    shadows: Sequence[str] = (),
    fallback: str | None = "previous",
    guardrails: Mapping[str, Any] | str | Path | None = None,
    runtime: str = "auto",
    reason: str = "",
) -> Deployment:
    """Create a deployment record (version 1).

    Every ref is resolved before anything is written: a missing version or alias is an error
    naming the field, except a canary alias not set yet while ``canary_share`` is 0 (the
    canary route starts once the alias exists and the share is raised).

    Args:
        name: The deployment's name (letters, digits, ``_ - .``).
        champion: ``model@alias`` (followed as it moves) or ``model@version``.
        canary: A canary ref, or None.
        canary_share: The canary's percent of the requests, in [0, 100].
        shadows: Refs that see every request after the answer (their answers are logged).
        fallback: ``previous`` (the version the champion alias held before), a ref,
            ``value:JSON``, ``python:module:function``, or None.
        guardrails: The rules of ``loopml serve --guardrails`` as a mapping, or a YAML file's
            path (its content is stored).
        runtime: ``auto``, ``native`` or ``onnx``.
        reason: Why (recorded on the event).

    Raises:
        InvalidArgumentError: A field is invalid (the message names it and the fix).
        NotFoundError: A ref does not resolve.
        AlreadyExistsError: The deployment exists.
    """
    return _get_client().deployments.create(
        name,
        champion=champion,
        canary=canary,
        canary_share=canary_share,
        shadows=shadows,
        fallback=fallback,
        guardrails=guardrails,
        runtime=runtime,
        reason=reason,
    )


def set(
    name: str,
    *,
    champion: str | Keep = KEEP,
    canary: str | Keep | None = KEEP,
    canary_share: float | Keep = KEEP,
    shadows: Sequence[str] | Keep = KEEP,
    fallback: str | Keep | None = KEEP,
    guardrails: Mapping[str, Any] | str | Path | Keep | None = KEEP,
    runtime: str | Keep = KEEP,
    expected_version: int | None = None,
    reason: str = "",
) -> Deployment:
    """Change the fields given (the others keep their value) and write the next version.

    The change is applied to the record as committed, under the deployment's lock, so two
    writers of different fields never undo each other. A change that changes nothing writes
    nothing and returns the record as it is.

    Args:
        name: The deployment.
        champion: A new champion ref (of the same model).
        canary: A canary ref (with the current share, or 0 for a new canary), or None to
            stop the canary.
        canary_share: The canary's new percent, in [0, 100] (resizes the current canary when
            ``canary`` is not given).
        shadows: The new list of shadow refs (``[]``: none).
        fallback: The new fallback (None: none).
        guardrails: New rules (a mapping or a YAML file's path), or None to drop them.
        runtime: ``auto``, ``native`` or ``onnx``.
        expected_version: The version you read: the change is refused with
            :class:`~loopml.errors.ConflictError` when the record moved since.
        reason: Why (recorded on the event).

    Raises:
        InvalidArgumentError: A field is invalid, or no field is given.
        NotFoundError: The deployment or a ref does not exist.
        ConflictError: ``expected_version`` is not the current version.
    """
    return _get_client().deployments.set(
        name,
        champion=champion,
        canary=canary,
        canary_share=canary_share,
        shadows=shadows,
        fallback=fallback,
        guardrails=guardrails,
        runtime=runtime,
        expected_version=expected_version,
        reason=reason,
    )


def get(name: str) -> Deployment:
    """Return a deployment's current record. Raises NotFoundError."""
    return _get_client().deployments.get(name)


def list_deployments() -> list[Deployment]:
    """Return every deployment's current record, by name."""
    return _get_client().deployments.list_deployments()


def history(name: str) -> list[Event]:
    """Return the events of a deployment's changes, oldest first: each with its version
    (``data["version"]``), actor, time, reason and the routes before and after
    (``data["before"]``, ``data["after"]``)."""
    return _get_client().deployments.history(name)


def delete(name: str, *, reason: str = "", expected_version: int | None = None) -> Deployment:
    """Delete a deployment (its history stays; servers following it keep their last routes);
    return its last record."""
    return _get_client().deployments.delete(name, reason=reason, expected_version=expected_version)
