"""The live steps: ``release``, ``observe``, ``approval``, ``promote`` and ``rollback``.

Each checks before it acts, so that a step repeated after a crash does nothing twice: the
deployment is changed only when it does not route the challenger as wanted yet, and always
with ``expected_version`` (a concurrent change makes it read again, never overwrite); the
champion alias is moved only when it does not point at the challenger yet; a version is
approved or rejected only when it is not already.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from loopml.automation.live_evidence import compare
from loopml.automation.steps import Outcome, StepContext, end, go_on, wait
from loopml.core.entities import ApprovalStatus, Deployment
from loopml.core.errors import ConflictError

if TYPE_CHECKING:
    from loopml.core.entities import LoopRun
    from loopml.registry import ModelRegistry
    from loopml.serving.deployments import DeploymentService

#: Tries of a deployment change that another writer keeps moving under it.
CHANGE_TRIES = 5


def _services(ctx: StepContext) -> tuple[ModelRegistry, DeploymentService]:
    from loopml.registry import ModelRegistry
    from loopml.serving.deployments import DeploymentService

    registry = ModelRegistry(ctx.backend, clock=ctx.clock)
    return registry, DeploymentService(registry)


def _change(
    deployments: DeploymentService,
    name: str,
    patch: Callable[[Deployment], dict[str, Any]],
    reason: str,
) -> tuple[Deployment, bool]:
    """Apply ``patch(current)`` (nothing when it is empty) with ``expected_version``; read
    again when another writer changed the record meanwhile. Returns the record and whether
    this call changed it."""
    for attempt in range(CHANGE_TRIES):
        current = deployments.get(name)
        fields = patch(current)
        if not fields:
            return current, False
        try:
            changed = deployments.set(
                name, **fields, expected_version=current.version, reason=reason
            )
            return changed, True
        except ConflictError:
            if attempt == CHANGE_TRIES - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


# -- release ----------------------------------------------------------------------------------


def release_step(ctx: StepContext, run: LoopRun) -> Outcome:
    """Route the challenger: a canary at its share, or a shadow."""
    registry, deployments = _services(ctx)
    policy, release = ctx.policy, ctx.policy.release
    challenger = str(run.state["challenger"])
    reason = f"loop run {run.run_id[:12]} of policy {policy.name!r}: release {challenger}"

    def patch(current: Deployment) -> dict[str, Any]:
        if release.mode == "canary":
            canary = current.canary
            if canary is not None and canary.ref == challenger and canary.share == release.share:
                return {}
            return {"canary": challenger, "canary_share": release.share}
        if challenger in current.shadows:
            return {}
        return {"shadows": [*current.shadows, challenger]}

    before = deployments.get(policy.deployment)
    record, changed = _change(deployments, policy.deployment, patch, reason)
    champion = registry.get(record.champion)
    how = (
        f"canary {challenger} at {release.share:g}%"
        if release.mode == "canary"
        else f"shadow {challenger}"
    )
    replaced = before.canary.ref if before.canary is not None else None
    if changed and release.mode == "canary" and replaced not in (None, challenger):
        how += f" (in place of the canary {replaced})"
    state = {
        "champion": champion.ref,
        "champion_version": champion.version,
        "released_at": ctx.clock(),
        "deployment_version": record.version,
    }
    return go_on(
        "observe",
        "loop.released",
        f"{how} on deployment {policy.deployment!r} (version {record.version}"
        + ("" if changed else ", already routed by an earlier attempt")
        + f"), against the champion {champion.ref}",
        state=state,
        detail={"mode": release.mode, "share": release.share, "routes": record.routes(), **state},
        links={"deployment": f"{policy.deployment}@{record.version}", "champion": champion.ref},
    )


# -- observe ----------------------------------------------------------------------------------


def observe_step(ctx: StepContext, run: LoopRun) -> Outcome:
    """Compare the challenger with the champion on live traffic; promote, roll back, or wait
    (until ``promote.timeout``, past which an undecided challenger is rolled back)."""
    policy = ctx.policy
    found = compare(
        ctx.backend,
        policy,
        challenger=int(run.state["challenger_version"]),
        champion=int(run.state["champion_version"]),
    )
    now = ctx.clock()
    state = {"evidence": {"verdict": found.verdict, "reason": found.reason, "checked_at": now}}
    detail = found.to_dict()
    challenger = str(run.state["challenger"])
    if found.verdict == "wait":
        waited = now - int(run.state.get("released_at", now))
        timeout = policy.promote.timeout_ms
        if timeout is None or waited < timeout:
            return wait("observe", "running", found.reason, state=state, detail=detail)
        why = f"no decision {waited / 3_600_000:.1f} h after the release (timeout): {found.reason}"
        return go_on("rollback", "loop.evidence", why, state=state, detail=detail)
    if found.verdict == "rollback":
        return go_on("rollback", "loop.evidence", found.reason, state=state, detail=detail)
    registry, _ = _services(ctx)
    approved = registry.get(challenger).approval is ApprovalStatus.APPROVED
    if policy.approval == "required" and not approved:
        return Outcome(
            "approval",
            "awaiting_approval",
            "loop.evidence",
            f"{found.reason} Awaiting approval: `loopml models approve {challenger}` "
            f"promotes it, `loopml models reject {challenger} --comment ...` rolls it back.",
            state=state,
            detail=detail,
        )
    return go_on("promote", "loop.evidence", found.reason, state=state, detail=detail)


# -- approval ---------------------------------------------------------------------------------


def approval_step(ctx: StepContext, run: LoopRun) -> Outcome:
    """Wait for a person's review of the challenger: approved promotes, rejected rolls back."""
    registry, _ = _services(ctx)
    challenger = str(run.state["challenger"])
    version = registry.get(challenger)
    said = f": {version.review_comment}" if version.review_comment else ""
    if version.approval is ApprovalStatus.APPROVED:
        return go_on(
            "promote",
            "loop.approved",
            f"{challenger} approved by {version.reviewer}{said}",
            detail={"reviewer": version.reviewer, "comment": version.review_comment},
        )
    if version.approval is ApprovalStatus.REJECTED:
        return go_on(
            "rollback",
            "loop.approval_refused",
            f"{challenger} rejected by {version.reviewer}{said}",
            detail={"reviewer": version.reviewer, "comment": version.review_comment},
        )
    return wait(
        "approval",
        "awaiting_approval",
        f"waiting for a person to approve {challenger} (`loopml models approve {challenger}`)",
    )


# -- promote ----------------------------------------------------------------------------------


def promote_step(ctx: StepContext, run: LoopRun) -> Outcome:
    """Make the challenger the champion: approve it (when no person must), move the champion
    alias, and take it off the canary or shadow route (a pinned champion route follows)."""
    from loopml.registry.refs import CHAMPION, parse_model_ref

    registry, deployments = _services(ctx)
    policy = ctx.policy
    challenger = str(run.state["challenger"])
    number = int(run.state["challenger_version"])
    evidence = str(run.state.get("evidence", {}).get("reason", ""))
    version = registry.get(challenger)
    if version.approval is ApprovalStatus.REJECTED:
        return go_on(
            "rollback",
            "loop.approval_refused",
            f"{challenger} was rejected by {version.reviewer} before its promotion: "
            f"{version.review_comment}",
        )
    done: list[str] = []
    if version.approval is not ApprovalStatus.APPROVED:
        registry.approve(challenger, comment=f"{policy.actor}: {evidence}"[:1000])
        done.append(f"approved {challenger}")
    before = registry.aliases(policy.model).get(CHAMPION)
    if before != number:
        registry.set_alias(policy.model, CHAMPION, number, reason=f"{policy.actor}: {evidence}")
        done.append(f"champion {policy.model}@{before} -> {challenger}")

    def patch(current: Deployment) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if current.canary is not None and current.canary.ref == challenger:
            fields["canary"] = None
        if challenger in current.shadows:
            fields["shadows"] = [s for s in current.shadows if s != challenger]
        pinned = parse_model_ref(current.champion).version
        if pinned is not None and pinned != number:
            fields["champion"] = challenger
        return fields

    reason = f"loop run {run.run_id[:12]} of policy {policy.name!r}: promote {challenger}"
    record, changed = _change(deployments, policy.deployment, patch, reason)
    if changed:
        done.append(f"deployment {policy.deployment!r} version {record.version}")
    was = run.state.get("champion") or f"{policy.model}@{before}"
    return end(
        "promoted",
        "loop.promoted",
        f"{challenger} is the champion (was {was}); deployment {policy.deployment!r} serves it "
        f"(version {record.version})",
        detail={"actions": done, "routes": record.routes(), "previous_champion": was},
        links={"deployment": f"{policy.deployment}@{record.version}"},
    )


# -- rollback ---------------------------------------------------------------------------------


def rollback_step(ctx: StepContext, run: LoopRun) -> Outcome:
    """Take the challenger off the deployment and say why; reject it when live evidence or
    the timeout condemned it (not when a step failed: that says nothing of the model)."""
    registry, deployments = _services(ctx)
    policy = ctx.policy
    challenger = str(run.state["challenger"])
    failure = run.state.get("failure")
    why = str(failure or run.state.get("evidence", {}).get("reason", "") or "rolled back")

    def patch(current: Deployment) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if current.canary is not None and current.canary.ref == challenger:
            fields["canary"] = None
        if challenger in current.shadows:
            fields["shadows"] = [s for s in current.shadows if s != challenger]
        return fields

    reason = f"loop run {run.run_id[:12]} of policy {policy.name!r}: roll back {challenger}"
    record, changed = _change(deployments, policy.deployment, patch, reason)
    done = [f"deployment {policy.deployment!r} version {record.version}"] if changed else []
    version = registry.get(challenger)
    if failure is None and version.approval is not ApprovalStatus.REJECTED:
        registry.reject(challenger, comment=f"{policy.actor}: {why}"[:1000])
        done.append(f"rejected {challenger}")
    return end(
        "failed" if failure else "rolled_back",
        "loop.rolled_back",
        f"{challenger} taken off deployment {policy.deployment!r} (version {record.version}); "
        f"the champion {run.state.get('champion', '')} keeps serving. Why: {why}",
        detail={"actions": done, "routes": record.routes(), "why": why},
        links={"deployment": f"{policy.deployment}@{record.version}"},
    )
