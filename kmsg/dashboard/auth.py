"""Dashboard credentials and signed session cookies (stdlib ``hmac`` + ``secrets``, no extra deps).

A session is a cookie ``<payload>.<signature>``: the payload is URL-safe base64 of a small JSON
object (``sid``, ``csrf``, ``user``, ``iat``, ``exp``), the signature HMAC-SHA256 of the payload
under a key that is random per process unless ``K_MSG_DASHBOARD_SECRET`` sets one (so sessions end
when the dashboard restarts, unless a secret is configured). A session with ``user`` None is the
pre-login session that carries the login form's CSRF token. Every comparison of secrets is
constant-time.

Sessions are revocable: logging out puts the session's id on a revocation list kept in memory
(:class:`RevokedSessions`, bounded) until the session would have expired anyway. The list lives in
the process: with ``K_MSG_DASHBOARD_SECRET`` set, sessions survive a restart, and so would a
session logged out before it; change the secret to end every session.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

import msgspec

from kmsg.errors import ValidationError

__all__ = [
    "ANONYMOUS",
    "DashboardAuth",
    "RevokedSessions",
    "Session",
    "TOKEN_ENV",
]

TOKEN_ENV: Final = "K_MSG_DASHBOARD_TOKEN"
USER_ENV: Final = "K_MSG_DASHBOARD_USER"
PASSWORD_ENV: Final = "K_MSG_DASHBOARD_PASSWORD"
SECRET_ENV: Final = "K_MSG_DASHBOARD_SECRET"
ANONYMOUS: Final = "anonymous"
MIN_SECRET_CHARS: Final = 8


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """What a session cookie holds: an id, the CSRF token, the user (None before login), the
    time it was issued and its expiry (Unix seconds)."""

    sid: str
    csrf: str
    user: str | None
    iat: float
    exp: float


class RevokedSessions:
    """Ids of sessions ended before their expiry, each kept until that expiry (bounded memory).

    At most ``capacity`` ids are kept. When a revocation finds the list full of unexpired ids,
    every session issued until then is revoked at once (a cut-off time), and the list starts
    empty: memory stays bounded, and a revoked session never comes back.
    """

    def __init__(self, capacity: int = 10_000, clock: Callable[[], float] = time.time) -> None:
        self.capacity = capacity
        self.clock = clock
        self.cutoff = float("-inf")
        self._expiry: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._expiry)

    def revoke(self, session: Session) -> None:
        """End ``session`` now."""
        now = self.clock()
        if len(self._expiry) >= self.capacity:
            self._expiry = {sid: exp for sid, exp in self._expiry.items() if exp > now}
        if len(self._expiry) >= self.capacity:
            self.cutoff = now
            self._expiry.clear()
            return
        self._expiry[session.sid] = session.exp

    def is_revoked(self, session: Session) -> bool:
        """True if ``session`` was revoked (by id, or by being issued before the cut-off)."""
        return session.sid in self._expiry or session.iat <= self.cutoff


def _equal(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass(frozen=True, repr=False)
class DashboardAuth:
    """How people sign in to the dashboard: a token, a username and password, or both.

    ``anonymous=True`` (only for ``--insecure-local`` on a loopback address) lets everyone in
    without a login; CSRF checks still apply. ``secret`` signs session cookies (default: random per
    process). ``session_seconds`` is how long a login lasts. ``revoked`` holds the sessions ended
    by logging out (state, not configuration: it is neither compared nor shown). The repr never
    shows a secret.
    """

    token: str | None = None
    username: str | None = None
    password: str | None = None
    anonymous: bool = False
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    session_seconds: float = 12 * 3600.0
    revoked: RevokedSessions = field(default_factory=RevokedSessions, compare=False)

    def __post_init__(self) -> None:
        if (self.username is None) != (self.password is None):
            raise ValidationError("dashboard username and password must be given together")
        for name in ("token", "password"):
            value = getattr(self, name)
            if value is not None and len(value) < MIN_SECRET_CHARS:
                raise ValidationError(f"dashboard {name} must be at least {MIN_SECRET_CHARS} chars")
        if len(self.secret) < 16:
            raise ValidationError("dashboard session secret must be at least 16 bytes")

    def __repr__(self) -> str:
        kinds = [k for k in ("token", "username") if getattr(self, k) is not None]
        return f"DashboardAuth(methods={kinds}, anonymous={self.anonymous})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DashboardAuth:
        """Credentials from ``K_MSG_DASHBOARD_TOKEN``, ``K_MSG_DASHBOARD_USER`` / ``_PASSWORD``.

        ``K_MSG_DASHBOARD_SECRET`` (optional) keeps sessions valid across restarts. Empty values
        count as unset. The result may have no credentials: see :attr:`configured`.
        """
        env = os.environ if environ is None else environ
        secret = env.get(SECRET_ENV) or ""
        return cls(
            token=env.get(TOKEN_ENV) or None,
            username=env.get(USER_ENV) or None,
            password=env.get(PASSWORD_ENV) or None,
            secret=secret.encode() if secret else secrets.token_bytes(32),
        )

    @staticmethod
    def tokens_equal(given: str, expected: str) -> bool:
        """Constant-time comparison of two secret strings."""
        return _equal(given, expected)

    @property
    def configured(self) -> bool:
        """True when a token or a username/password is set."""
        return self.token is not None or self.username is not None

    def check_token(self, given: str) -> bool:
        """Constant-time check of a presented token."""
        return self.token is not None and _equal(given, self.token)

    def check_password(self, username: str, password: str) -> bool:
        """Constant-time check of a username and password (both are always compared)."""
        if self.username is None or self.password is None:
            return False
        user_ok = _equal(username, self.username)
        password_ok = _equal(password, self.password)
        return user_ok and password_ok

    def new_session(self, user: str | None, *, now: float | None = None) -> Session:
        """A fresh session (new id and CSRF token) for ``user``; None means not logged in yet."""
        moment = time.time() if now is None else now
        return Session(
            sid=secrets.token_urlsafe(18),
            csrf=secrets.token_urlsafe(24),
            user=user,
            iat=moment,
            exp=moment + self.session_seconds,
        )

    def _sign(self, payload: bytes) -> str:
        return hmac.new(self.secret, payload, hashlib.sha256).hexdigest()

    def dump(self, session: Session) -> str:
        """The signed cookie value of ``session``."""
        payload = base64.urlsafe_b64encode(msgspec.json.encode(session)).rstrip(b"=")
        return f"{payload.decode()}.{self._sign(payload)}"

    def revoke(self, session: Session) -> None:
        """End ``session``: its cookie is refused from now on (see :class:`RevokedSessions`)."""
        self.revoked.revoke(session)

    def load(self, cookie: str, *, now: float | None = None) -> Session | None:
        """The session in a cookie value, or None if forged, malformed, expired or revoked."""
        payload_text, _, signature = cookie.partition(".")
        payload = payload_text.encode()
        if not signature or not _equal(signature, self._sign(payload)):
            return None
        try:
            raw = base64.urlsafe_b64decode(payload + b"=" * (-len(payload) % 4))
            session = msgspec.json.decode(raw, type=Session)
        except (binascii.Error, msgspec.DecodeError):
            return None
        moment = time.time() if now is None else now
        if session.exp <= moment or self.revoked.is_revoked(session):
            return None
        return session
