""":class:`RemoteDeployments`: the deployment records of a ``loopml server``, with the
methods of :class:`~loopml.serving.deployments.DeploymentService`.

Creating and changing a record needs an approver's token, deleting one an admin's; the
server resolves every ref (a missing version is a 404 naming it) and records the change with
the token's user. Guardrails go as data: a YAML file given here is read and checked here
(:func:`~loopml.serving.deployment_fields.check_guardrails`, as embedded).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from loopml.client.remote.paths import seg
from loopml.core.entities import Deployment, Event
from loopml.core.entities.deployments import KEEP, Keep
from loopml.serving.config import DEFAULT_FALLBACK, DEFAULT_RUNTIME
from loopml.store.remote import Transport, decode, new_idempotency_key

if TYPE_CHECKING:
    from loopml.serving.deployments import GuardrailsInput

__all__ = ["RemoteDeployments"]


class RemoteDeployments:
    """Deployment records of a ``loopml server`` (stands for
    :class:`~loopml.serving.deployments.DeploymentService`).

    Args:
        transport: The server.
    """

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def get(self, name: str) -> Deployment:
        """A deployment's current record."""
        return self.transport.get(f"/deployments/{seg(name)}", Deployment)

    def list_deployments(self) -> list[Deployment]:
        """Every deployment's current record, by name."""
        return self.transport.get("/deployments", list[Deployment])

    def history(self, name: str) -> list[Event]:
        """The events of a deployment's changes, oldest first."""
        return self.transport.get(f"/deployments/{seg(name)}/history", list[Event])

    def create(
        self,
        name: str,
        *,
        champion: str,
        canary: str | None = None,
        canary_share: float = 0.0,
        shadows: Sequence[str] = (),
        fallback: str | None = DEFAULT_FALLBACK,
        guardrails: GuardrailsInput = None,
        runtime: str = DEFAULT_RUNTIME,
        reason: str = "",
    ) -> Deployment:
        """Create a deployment on the server; see :func:`loopml.deployments.create`."""
        from loopml.serving.deployment_fields import check_guardrails  # pandas: lazily

        body = {
            "name": name,
            "champion": champion,
            "canary": canary,
            "canary_share": canary_share,
            "shadows": list(shadows),
            "fallback": fallback,
            "guardrails": check_guardrails(name, guardrails),
            "runtime": runtime,
            "reason": reason,
        }
        key = new_idempotency_key()
        return self.transport.post("/deployments", Deployment, body, idempotency_key=key)

    def set(
        self,
        name: str,
        *,
        champion: str | Keep = KEEP,
        canary: str | Keep | None = KEEP,
        canary_share: float | Keep = KEEP,
        shadows: Sequence[str] | Keep = KEEP,
        fallback: str | Keep | None = KEEP,
        guardrails: GuardrailsInput | Keep = KEEP,
        runtime: str | Keep = KEEP,
        expected_version: int | None = None,
        reason: str = "",
    ) -> Deployment:
        """Change the fields given, on the server; see :func:`loopml.deployments.set`."""
        from loopml.serving.deployment_fields import check_guardrails  # pandas: lazily

        given: dict[str, Any] = {
            "champion": champion,
            "canary": canary,
            "canary_share": canary_share,
            "shadows": shadows if isinstance(shadows, Keep) else list(shadows),
            "fallback": fallback,
            "guardrails": guardrails
            if isinstance(guardrails, Keep)
            else check_guardrails(name, guardrails),
            "runtime": runtime,
        }
        body = {k: v for k, v in given.items() if not isinstance(v, Keep)}
        body |= {"expected_version": expected_version, "reason": reason}
        answer = self.transport.request("PATCH", f"/deployments/{seg(name)}", json=body)
        return decode(Deployment, answer.json())

    def delete(
        self, name: str, *, reason: str = "", expected_version: int | None = None
    ) -> Deployment:
        """Delete a deployment (an admin's token); return its last record."""
        params: dict[str, Any] = {"reason": reason}
        if expected_version is not None:
            params["expected_version"] = expected_version
        answer = self.transport.request("DELETE", f"/deployments/{seg(name)}", params=params)
        return decode(Deployment, answer.json())
