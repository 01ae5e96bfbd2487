"""``serve``: run the dashboard with uvicorn, refusing to start without authentication."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from kmsg.dashboard import network
from kmsg.dashboard.app import create_app
from kmsg.dashboard.auth import DashboardAuth
from kmsg.errors import ValidationError

__all__ = ["LOOPBACK_HOSTS", "allowed_hosts_for", "resolve_auth", "serve"]

LOOPBACK_HOSTS: Final = frozenset(network.LOOPBACK_HOSTS)


def resolve_auth(auth: DashboardAuth | None, host: str, *, insecure_local: bool) -> DashboardAuth:
    """The auth to serve with: ``auth`` (default: from the environment) if it has credentials.

    Without credentials, only ``insecure_local`` on a loopback host is allowed, and then
    everyone who can reach the port is let in (CSRF checks still apply); otherwise
    ``ValidationError``.
    """
    resolved = auth if auth is not None else DashboardAuth.from_env()
    if resolved.configured:
        return resolved
    if not insecure_local:
        raise ValidationError(
            "refusing to start the dashboard without credentials: set K_MSG_DASHBOARD_TOKEN or "
            "K_MSG_DASHBOARD_USER and K_MSG_DASHBOARD_PASSWORD (or use --insecure-local on "
            "127.0.0.1)"
        )
    if host not in LOOPBACK_HOSTS:
        raise ValidationError(f"--insecure-local only binds to 127.0.0.1 or ::1, not {host!r}")
    return DashboardAuth(anonymous=True, secret=resolved.secret)


def allowed_hosts_for(host: str, extra: Iterable[str] = ()) -> list[str]:
    """The Host allow-list for a dashboard bound to ``host``: the loopback names, ``host``
    itself unless it is a wildcard address (``0.0.0.0``, ``::``), and ``extra``."""
    found = list(network.LOOPBACK_HOSTS)
    if host not in network.WILDCARD_ADDRESSES:
        found.append(host)
    return [*found, *extra]


def serve(
    queue_url: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    auth: DashboardAuth | None = None,
    read_only: bool = False,
    insecure_local: bool = False,
    allowed_hosts: Iterable[str] = (),
    trusted_proxies: Iterable[str] = (),
) -> None:
    """Serve the dashboard on ``host:port`` until interrupted (blocking; uvicorn, asyncio).

    ``auth`` None reads credentials from the environment (see ``DashboardAuth.from_env``).
    ``allowed_hosts`` adds host names to the allow-list (see :func:`allowed_hosts_for`);
    ``trusted_proxies`` lists the reverse proxies whose ``X-Forwarded-*`` headers are believed
    (see :mod:`kmsg.dashboard.network`). Raises ``ValidationError`` before binding when no
    credentials are configured (see :func:`resolve_auth`) or an option is malformed.
    """
    import uvicorn

    app = create_app(
        queue_url,
        auth=resolve_auth(auth, host, insecure_local=insecure_local),
        read_only=read_only,
        allowed_hosts=allowed_hosts_for(host, allowed_hosts),
        trusted_proxies=trusted_proxies,
    )
    uvicorn.run(app, host=host, port=port, server_header=False, proxy_headers=False)
