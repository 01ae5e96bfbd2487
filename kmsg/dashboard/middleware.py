"""The dashboard's gates (pure ASGI): security headers, then network, authentication and CSRF.

:class:`SecurityHeaders` wraps the whole app, outside Starlette's error handling, so every
response gets the headers below, a 500 included.

:class:`DashboardGate` checks each HTTP request in this order:

1. From a trusted proxy, take the scheme, client address and host from its ``X-Forwarded-*``
   headers (:mod:`kmsg.dashboard.network`).
2. The ``Host`` must be on the allow-list (400 otherwise) and an ``Origin``, if any, must be the
   dashboard itself (403 otherwise): no DNS-rebinding page reaches the app.
3. Load the signed session cookie (a revoked one counts as none). In anonymous mode
   (``--insecure-local``) a visitor without one gets an anonymous session; on ``/login`` a visitor
   gets a pre-login session whose CSRF token the login form carries.
4. Every ``POST`` (login included) must carry the session's CSRF token, as the form field
   ``csrf`` or the header ``X-CSRF-Token``; otherwise 403 and the app never sees the request.
5. Every path but ``/login`` and ``/static/`` (our own CSS and JS, no data) needs a logged-in
   session, or for ``GET`` only an ``Authorization: Bearer <token>`` header (for Prometheus
   scrapes and scripts). Pages redirect to the login form; ``/api/`` and ``/metrics`` answer 401.
   Wrong bearer tokens count against the client like wrong logins
   (:mod:`kmsg.dashboard.throttle`): a locked-out client gets 429 with ``Retry-After``.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import parse_qs, quote

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import cookie_parser
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kmsg.dashboard.auth import ANONYMOUS, DashboardAuth, Session
from kmsg.dashboard.network import NetworkPolicy
from kmsg.dashboard.throttle import LoginThrottle

__all__ = [
    "COOKIE_NAME",
    "SECURITY_HEADERS",
    "DashboardGate",
    "SecurityHeaders",
    "session_cookie",
    "too_many_attempts",
]

COOKIE_NAME: Final = "kmsg_session"
MAX_FORM_BYTES: Final = 1024 * 1024
SECURITY_HEADERS: Final = {
    "content-security-policy": (
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    # same-origin, not no-referrer: under no-referrer browsers send ``Origin: null`` with our
    # own form posts, and the Origin check (kmsg.dashboard.network) refuses that.
    "referrer-policy": "same-origin",
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


def too_many_attempts(seconds: float) -> Response:
    """429 with ``Retry-After`` for a client locked out after wrong credentials."""
    wait = LoginThrottle.header(seconds)
    return PlainTextResponse(
        f"too many wrong attempts: try again in {wait} s", 429, headers={"Retry-After": wait}
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


class SecurityHeaders:
    """ASGI middleware adding ``SECURITY_HEADERS`` to every HTTP response (unless already set)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to whatever response comes back."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, wrapped)


class DashboardGate:
    """ASGI middleware enforcing the network policy, authentication and CSRF (module docstring)."""

    def __init__(
        self, app: ASGIApp, auth: DashboardAuth, policy: NetworkPolicy, throttle: LoginThrottle
    ) -> None:
        self.app = app
        self.auth = auth
        self.policy = policy
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check one request, then pass it on (or answer it here)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.policy.apply_proxy_headers(scope)
        headers = Headers(scope=scope)
        refusal = self._refuse_network(scope, headers)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        session, fresh = self._session(scope, headers)
        scope.setdefault("state", {})["session"] = session
        if fresh:
            send = self._set_cookie(send, session, secure=scope["scheme"] == "https")
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

    def _refuse_network(self, scope: Scope, headers: Headers) -> Response | None:
        if not self.policy.host_allowed(headers):
            return PlainTextResponse(
                "this host name is not allowed (add it with --allow-host)", 400
            )
        if not self.policy.origin_allowed(headers, scope["method"]):
            return PlainTextResponse("cross-origin request refused", 403)
        return None

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
        if scheme.lower() == "bearer" and scope["method"] in ("GET", "HEAD"):
            client = scope.get("client")
            address = client[0] if client else None
            wait = self.throttle.retry_after(address)
            if wait > 0:
                return too_many_attempts(wait)
            if self.auth.check_token(token.strip()):
                self.throttle.succeeded(address)
                return None
            self.throttle.failed(address)
        if scope["method"] == "GET" and not path.startswith(("/api/", "/metrics")):
            return RedirectResponse(f"/login?next={quote(path, safe='/')}", status_code=303)
        return PlainTextResponse(
            "authentication required", 401, headers={"WWW-Authenticate": "Bearer"}
        )

    def _set_cookie(self, send: Send, session: Session | None, *, secure: bool) -> Send:
        """Wrap ``send`` to set the new session's cookie (unless the app sets one itself)."""

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start" and session is not None:
                headers = MutableHeaders(scope=message)
                if "set-cookie" not in headers:
                    headers.append("set-cookie", session_cookie(self.auth, session, secure=secure))
            await send(message)

        return wrapped
