"""Which role each action needs: the one table the servers enforce.

Roles are server-wide and ordered (``viewer < editor < approver < admin``, see
:class:`~loopml.core.entities.Role`): a role may do what it needs and everything the roles
below it may. The REST API and the model server map each route to one :class:`Action` and
call :func:`require` with the request's :class:`~loopml.core.entities.Principal` before the
service runs, so a refused request changes nothing.

=================  ========  ==========================================================
action             role      what
=================  ========  ==========================================================
``read``           viewer    list, get, search, download; the audit log
``predict``        viewer    a model server's predictions and model metadata
``write``          editor    runs, params, metrics, artifacts, datasets, model versions,
                             evaluations, monitor results
``log_labels``     editor    delayed labels (a model server's labels route)
``move_alias``     editor    move an alias other than ``champion``
``approve``        approver  approve or reject a model version
``move_champion``  approver  move the ``champion`` alias (a rollback included)
``deploy``         approver  create or change a deployment record (what serves traffic)
``delete``         admin     delete, purge or restore anything
``manage_tokens``  admin     make, list and revoke API tokens
=================  ========  ==========================================================
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from loopml.core.entities import Principal, Role
from loopml.core.errors import AccessDeniedError, InvalidArgumentError, did_you_mean
from loopml.registry.refs import CHAMPION

__all__ = ["REQUIRED_ROLES", "Action", "alias_action", "require", "required_role"]


class Action(enum.Enum):
    """What a request does, as far as access is concerned (see the module's table)."""

    READ = "read"
    PREDICT = "predict"
    WRITE = "write"
    LOG_LABELS = "log_labels"
    MOVE_ALIAS = "move_alias"
    APPROVE = "approve"
    MOVE_CHAMPION = "move_champion"
    DEPLOY = "deploy"
    DELETE = "delete"
    MANAGE_TOKENS = "manage_tokens"


#: The least role each action needs.
REQUIRED_ROLES: Mapping[Action, Role] = MappingProxyType(
    {
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
)


def _action(action: Action | str) -> Action:
    if isinstance(action, Action):
        return action
    names = [a.value for a in Action]
    if action in names:
        return Action(action)
    raise InvalidArgumentError(
        f"{action!r} is not an action; the actions are {', '.join(names)}."
        f"{did_you_mean(str(action), names)}"
    )


def required_role(action: Action | str) -> Role:
    """The least role ``action`` needs.

    Raises:
        InvalidArgumentError: ``action`` names no action.
    """
    return REQUIRED_ROLES[_action(action)]


def alias_action(alias: str) -> Action:
    """The action of moving ``alias``: ``champion`` needs an approver, other aliases an
    editor."""
    return Action.MOVE_CHAMPION if alias == CHAMPION else Action.MOVE_ALIAS


def require(principal: Principal, action: Action | str) -> None:
    """Refuse ``action`` unless ``principal``'s role allows it.

    Raises:
        AccessDeniedError: The role is below the one the action needs (HTTP 403); the
            message names the user, the token, the role, the action and the role needed.
        InvalidArgumentError: ``action`` names no action.
    """
    act = _action(action)
    needed = REQUIRED_ROLES[act]
    if principal.role.allows(needed):
        return
    raise AccessDeniedError(
        f"User {principal.user!r} (token {principal.token_id[:12]}, role "
        f"{principal.role.value}) may not {act.value.replace('_', ' ')}: that needs the role "
        f"{needed.value} or above. Ask an admin for a token with that role (`loopml tokens "
        f"create --user {principal.user} --role {needed.value}`)."
    )
