"""Governance: who may do what, and the audit log that records what was done.

- :mod:`.roles`: the one table of which role each :class:`Action` needs, and
  :func:`require` (HTTP 403 when the role is too low);
- :mod:`.tokens`: API tokens (:class:`TokenService`: made on the server's host, shown once,
  stored hashed; :meth:`TokenService.authorize` turns a token into a
  :class:`~loopml.core.entities.Principal`, or HTTP 401);
- :mod:`.audit`: :func:`verify_chain` walks the hash-chained audit log and names the first
  edited, deleted or reordered entry;
- :mod:`.cards`: :func:`compose_card` gathers a version's :class:`ModelCard` from the
  registry, the evaluations and the audit log (limitations derived in :mod:`.card_limits`,
  written as Markdown or HTML by :mod:`.card_render`).

The servers enforce these around the service calls (never the client).
"""

from loopml.governance.audit import Anchor, parse_anchor, rechain, verify_chain
from loopml.governance.cards import ModelCard, compose_card
from loopml.governance.roles import REQUIRED_ROLES, Action, alias_action, require, required_role
from loopml.governance.tokens import (
    TOKEN_PREFIX,
    IssuedToken,
    TokenService,
    hash_token,
    parse_expiry,
)

__all__ = [
    "REQUIRED_ROLES",
    "TOKEN_PREFIX",
    "Action",
    "Anchor",
    "IssuedToken",
    "ModelCard",
    "TokenService",
    "alias_action",
    "compose_card",
    "hash_token",
    "parse_anchor",
    "parse_expiry",
    "rechain",
    "require",
    "required_role",
    "verify_chain",
]
