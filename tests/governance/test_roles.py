"""The roles table: each role may do what it needs and what the roles below it may."""

from __future__ import annotations

import pytest

from loopml.core.entities import Principal, Role
from loopml.core.errors import AccessDeniedError, InvalidArgumentError, PermissionDeniedError
from loopml.governance import REQUIRED_ROLES, Action, alias_action, require, required_role

#: What the issue fixes: approving and moving champion need an approver, deleting an admin,
#: writing an editor, reading a viewer.
EXPECTED = {
    Action.READ: Role.VIEWER,
    Action.PREDICT: Role.VIEWER,
    Action.WRITE: Role.EDITOR,
    Action.LOG_LABELS: Role.EDITOR,
    Action.MOVE_ALIAS: Role.EDITOR,
    Action.APPROVE: Role.APPROVER,
    Action.MOVE_CHAMPION: Role.APPROVER,
    Action.DEPLOY: Role.APPROVER,
    Action.DELETE: Role.ADMIN,
    Action.MANAGE_TOKENS: Role.ADMIN,
}


def test_every_action_has_its_role() -> None:
    assert dict(REQUIRED_ROLES) == EXPECTED
    assert set(REQUIRED_ROLES) == set(Action)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(Action))
def test_require_for_each_role_and_action(role: Role, action: Action) -> None:
    who = Principal(user="bob", role=role, token_id="c" * 32)
    if role.rank >= EXPECTED[action].rank:
        require(who, action)  # allowed: returns quietly
        require(who, action.value)
        return
    with pytest.raises(AccessDeniedError) as caught:
        require(who, action)
    message = str(caught.value)
    assert f"User 'bob' (token cccccccccccc, role {role.value})" in message
    assert f"needs the role {EXPECTED[action].value} or above" in message
    assert f"--role {EXPECTED[action].value}" in message
    assert isinstance(caught.value, PermissionDeniedError)  # 403 in the servers


def test_roles_are_ordered_and_parsed() -> None:
    assert [r.value for r in sorted(Role, key=lambda r: r.rank)] == [
        "viewer",
        "editor",
        "approver",
        "admin",
    ]
    assert Role.parse("Approver") is Role.APPROVER
    with pytest.raises(InvalidArgumentError, match=r"'aprover' is not a role.*Did you mean"):
        Role.parse("aprover")


def test_champion_needs_more_than_other_aliases() -> None:
    assert alias_action("champion") is Action.MOVE_CHAMPION
    assert alias_action("challenger") is Action.MOVE_ALIAS
    assert required_role("move_champion") is Role.APPROVER
    with pytest.raises(InvalidArgumentError, match=r"'aprove' is not an action.*'approve'"):
        required_role("aprove")
