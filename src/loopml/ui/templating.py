"""The pages' templates (Jinja2, shipped in ``loopml/ui/templates``) and how a page answers.

Every page is rendered by :func:`render`: autoescaped HTML, with the signed-in principal and
the CSRF token in its context, and headers that keep it to its own origin (a content security
policy allowing scripts, styles and images from the server only: nothing loads from a
network).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

__all__ = ["PAGE_HEADERS", "environment", "render"]

#: What every page answers with besides its body.
PAGE_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def when(ms: int | None) -> str:
    """A millisecond timestamp as ``YYYY-MM-DD HH:MM:SS`` UTC (``-`` for None)."""
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(ms: int | None) -> str:
    """A duration in milliseconds as ``1.2s``, ``3m04s`` or ``2h05m``."""
    if ms is None:
        return "-"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def number(value: Any) -> str:
    """A metric value with 6 significant digits (NaN and infinities spelled out)."""
    if value is None:
        return ""
    if not isinstance(value, int | float):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.6g}"


def size(count: int | None) -> str:
    """A byte count as ``812 B``, ``3.4 KB``, ``1.2 MB`` (1 KB = 1000 bytes)."""
    if count is None:
        return "-"
    amount = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if amount < 1000 or unit == "GB":
            return f"{int(amount)} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    return f"{amount:.1f} GB"


def pretty_json(value: Any) -> str:
    """``value`` as indented JSON text (escaped as HTML by the template, like any text)."""
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def segment(text: str) -> str:
    """``text`` quoted as one path segment (a ``/`` in it too)."""
    return quote(str(text), safe="")


def query(request: Request, **changes: Any) -> str:
    """The request's query string with ``changes`` applied (None removes a key)."""
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k not in changes]
    for key, value in changes.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            pairs.extend((key, str(v)) for v in value)
        else:
            pairs.append((key, str(value)))
    return "?" + urlencode(pairs) if pairs else "?"


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The Jinja2 environment over the package's templates (built once per process)."""
    env = Environment(
        loader=PackageLoader("loopml.ui", "templates"),
        autoescape=select_autoescape(("html",)),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=when, duration=duration, number=number, size=size, seg=segment, pretty=pretty_json
    )
    env.globals.update(query=query)
    return env


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render ``template`` with ``context`` plus the request, principal and CSRF token."""
    from loopml.ui.guard import csrf_token, principal_or_none

    token, new_cookie = csrf_token(request)
    page_context = {
        "request": request,
        "principal": principal_or_none(request),
        "auth_on": request.app.state.ui.auth,
        "csrf": token,
        **context,
    }
    body = environment().get_template(template).render(page_context)
    response = HTMLResponse(
        body, status_code=status_code, headers={**PAGE_HEADERS, **(headers or {})}
    )
    if new_cookie:
        from loopml.ui.guard import set_csrf_cookie

        set_csrf_cookie(request, response, token)
    return response
