"""The dashboard's one gate (pure ASGI): security headers, authentication and CSRF on every request.

Order of checks for each HTTP request:

1. Load the signed session cookie. In anonymous mode (``--insecure-local``) a visitor without one
   gets an anonymous session; on ``/login`` a visitor gets a pre-login session whose CSRF token
   the login form carries.
2. Every ``POST`` (login included) must carry the session's CSRF token, as the form field
   ``csrf`` or the header ``X-CSRF-Token``; otherwise 403 and the app never sees the request.
3. Every path but ``/login`` and ``/static/`` (our own CSS and JS, no data) needs a logged-in
   session, or for ``GET`` only an ``Authorization: Bearer <token>`` header (for Prometheus
   scrapes and scripts). Pages redirect to the login form; ``/api/`` and ``/metrics`` answer 401.
4. Every response gets the security headers below.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qs, quote

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kmsg.dashboard.auth import ANONYMOUS, DashboardAuth, Session

__all__ = ["COOKIE_NAME", "DashboardGate", "session_cookie"]

COOKIE_NAME: Final = "kmsg_session"
MAX_FORM_BYTES: Final = 1024 * 1024
SECURITY_HEADERS: Final = {
    "content-security-policy": (
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}


def session_cookie(auth: DashboardAuth, session: Session, *, secure: bool) -> str:
    """A ``Set-Cookie`` value for ``session``: HttpOnly, SameSite=Strict, whole site."""
    flags = "; Secure" if secure else ""
    max_age = int(auth.session_seconds)
    return (
        f"{COOKIE_NAME}={auth.dump(session)}; Path=/; Max-Age={max_age}; HttpOnly; "
        f"SameSite=Strict{flags}"
    )


def _public(path: str) -> bool:
    return path == "/login" or path.startswith("/static/")


async def _read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None if it is larger than ``MAX_FORM_BYTES``."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive_more: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then defers to the server."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive_more()

    return receive


class DashboardGate:
    """ASGI middleware enforcing authentication, CSRF and security headers (module docstring)."""

    def __init__(self, app: ASGIApp, auth: DashboardAuth) -> None:
        self.app = app
        self.auth = auth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check one request, then pass it on (or answer it here)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        session, fresh = self._session(scope, headers)
        scope.setdefault("state", {})["session"] = session
        send = self._decorate(send, session if fresh else None, scope["scheme"] == "https")
        if scope["method"] == "POST":
            body = await _read_body(receive)
            if body is None:
                await PlainTextResponse("request too large", 413)(scope, receive, send)
                return
            if not self._csrf_ok(session, headers, body):
                await PlainTextResponse("CSRF token missing or wrong", 403)(scope, receive, send)
                return
            receive = _replay(body, receive)
        denial = self._deny(scope, headers, session)
        if denial is not None:
            await denial(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _session(self, scope: Scope, headers: Headers) -> tuple[Session | None, bool]:
        """The request's session and whether it was just made (so its cookie must be set)."""
        cookie = cookie_parser(headers.get("cookie", "")).get(COOKIE_NAME)
        session = self.auth.load(cookie) if cookie else None
        if self.auth.anonymous and (session is None or session.user is None):
            return self.auth.new_session(ANONYMOUS), True
        if session is None and scope["path"] == "/login":
            return self.auth.new_session(None), True
        return session, False

    @staticmethod
    def _csrf_ok(session: Session | None, headers: Headers, body: bytes) -> bool:
        if session is None:
            return False
        given = headers.get("x-csrf-token")
        if given is None and headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            values = parse_qs(body.decode("latin-1")).get("csrf", [])
            given = values[0] if len(values) == 1 else None
        return given is not None and DashboardAuth.tokens_equal(given, session.csrf)

    def _deny(self, scope: Scope, headers: Headers, session: Session | None) -> Response | None:
        path: str = scope["path"]
        if _public(path) or (session is not None and session.user is not None):
            return None
        scheme, _, token = headers.get("authorization", "").partition(" ")
        bearer = scheme.lower() == "bearer" and scope["method"] in ("GET", "HEAD")
        if bearer and self.auth.check_token(token.strip()):
            return None
        if scope["method"] == "GET" and not path.startswith(("/api/", "/metrics")):
            return RedirectResponse(f"/login?next={quote(path, safe='/')}", status_code=303)
        return PlainTextResponse(
            "authentication required", 401, headers={"WWW-Authenticate": "Bearer"}
        )

    def _decorate(self, send: Send, new_session: Session | None, secure: bool) -> Send:
        """Wrap ``send`` to add the security headers and, if needed, the new session cookie."""

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if new_session is not None and "set-cookie" not in headers:
                    headers.append(
                        "set-cookie", session_cookie(self.auth, new_session, secure=secure)
                    )
            await send(message)

        return wrapped
