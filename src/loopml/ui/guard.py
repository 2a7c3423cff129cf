"""Who a page acts as, and the checks that keep other sites from acting through a browser.

- **Sign-in.** With auth on, the sign-in page takes an API token (``loopml tokens create``),
  checks it with the server's :class:`~loopml.governance.TokenService` (the one the REST API
  uses) and keeps it in an ``HttpOnly``, ``SameSite=Strict`` cookie; every page checks the
  cookie's token again (revoked or expired: back to the sign-in page). With auth off (``loopml
  ui`` on 127.0.0.1) every page acts as the local user with the admin role.
- **CSRF.** Every state-changing form carries a token that must equal the ``HttpOnly``,
  ``SameSite=Strict`` CSRF cookie (double submit): another site can neither read the cookie
  nor set it, so it cannot forge the form. A request whose ``Origin`` is another site, or whose
  ``Sec-Fetch-Site`` says ``cross-site``, is refused as well.
- **DNS rebinding.** The server checks the ``Host`` header against its bound host or
  ``--allowed-host`` (Starlette's ``TrustedHostMiddleware``, installed by the REST app), also on
  127.0.0.1, so a page of another name that resolves to this machine is refused.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from loopml.core.entities import Principal, Role
from loopml.core.errors import AccessDeniedError, MalformedRequestError, UnauthenticatedError
from loopml.core.origin import Origin, client_name
from loopml.core.settings import current_user
from loopml.governance import Action, TokenService, require

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "MAX_FORM_BYTES",
    "TOKEN_COOKIE",
    "UiState",
    "check_form",
    "csrf_token",
    "origin_of",
    "principal_or_none",
    "read_form",
    "set_csrf_cookie",
    "signed_in",
]

#: The cookie holding the signed-in API token.
TOKEN_COOKIE = "loopml_token"
#: The cookie holding the CSRF token, and the form field that must repeat it.
CSRF_COOKIE = "loopml_csrf"
CSRF_FIELD = "csrf"
#: The largest form body a page reads.
MAX_FORM_BYTES = 64 * 1024
_STATE_KEY = "loopml.ui.principal"


@dataclass(frozen=True)
class UiState:
    """How the pages of one app check their callers.

    Attributes:
        tokens: The server's token service (None: auth off, every page acts as ``local``).
        local: Who a page acts as with auth off.
    """

    tokens: TokenService | None
    local: Principal

    @property
    def auth(self) -> bool:
        """Whether pages need a sign-in."""
        return self.tokens is not None

    @classmethod
    def build(cls, tokens: TokenService | None) -> UiState:
        """The state of an app with auth on (``tokens``) or off (None)."""
        return cls(tokens, Principal(user=current_user(), role=Role.ADMIN, token_id="auth-none"))


def _state(request: Request) -> UiState:
    state: UiState = request.app.state.ui
    return state


def principal_or_none(request: Request) -> Principal | None:
    """Who the page acts as, once :func:`signed_in` has run for it (else None)."""
    found = request.scope.get("state", {}).get(_STATE_KEY)
    return found if isinstance(found, Principal) else None


def signed_in(request: Request) -> Principal:
    """The principal of a page (a route dependency); with auth on, the cookie's token.

    Raises:
        UnauthenticatedError: No token cookie, or its token is unknown, revoked or expired
            (a page answers with the sign-in form).
    """
    state = _state(request)
    if state.tokens is None:
        principal = state.local
    else:
        text = request.cookies.get(TOKEN_COOKIE)
        if not text:
            raise UnauthenticatedError("Sign in with an API token to see this page.")
        try:
            principal = state.tokens.authorize_cached(text) or state.tokens.authorize(text)
        except UnauthenticatedError as exc:
            raise UnauthenticatedError(f"Sign in again: {exc}") from exc
    request.scope.setdefault("state", {})[_STATE_KEY] = principal
    return principal


def origin_of(request: Request, principal: Principal) -> Origin:
    """Where a page's change comes from, for the audit log: the UI, the caller's address and
    the signed-in user."""
    address = request.client.host if request.client else "unknown"
    return Origin(client=client_name("ui"), address=address, user=principal.user)


def csrf_token(request: Request) -> tuple[str, bool]:
    """The request's CSRF token and whether it is new (then the answer must set its cookie)."""
    current = request.cookies.get(CSRF_COOKIE, "")
    if len(current) >= 32:
        return current, False
    made = request.scope.setdefault("state", {}).setdefault(
        "loopml.ui.csrf", secrets.token_urlsafe(32)
    )
    return str(made), True


def set_csrf_cookie(request: Request, response: Response, token: str) -> None:
    """Set the CSRF cookie on ``response`` (``Secure`` when the page came over HTTPS)."""
    response.set_cookie(
        CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded form (a route dependency; the last value of a repeated
    field wins).

    Raises:
        MalformedRequestError: A body over :data:`MAX_FORM_BYTES` or not UTF-8.
    """
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise MalformedRequestError(
                f"This form is over {MAX_FORM_BYTES} bytes; a page's form is far smaller."
            )
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as exc:
        raise MalformedRequestError("This form is not UTF-8 text; send it from the page.") from exc
    return {key: values[-1] for key, values in fields.items()}


def _same_site(request: Request) -> bool:
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


def check_form(
    request: Request, form: dict[str, str], principal: Principal, action: Action | None
) -> None:
    """Refuse a state-changing form that did not come from this site's page, or whose
    principal's role does not allow ``action``.

    Raises:
        AccessDeniedError: A missing or wrong CSRF token, a cross-site ``Origin`` or
            ``Sec-Fetch-Site``, or a role too low for ``action``.
    """
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = form.get(CSRF_FIELD, "")
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise AccessDeniedError(
            "This form was refused: its CSRF token is missing or does not match this "
            "browser's. Reload the page and send the form from it."
        )
    if not _same_site(request):
        raise AccessDeniedError(
            "This form was refused: it came from another site "
            f"(Origin {request.headers.get('origin')!r}). Send it from this server's page."
        )
    if action is not None:
        require(principal, action)
