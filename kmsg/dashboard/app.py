"""``create_app``: the dashboard as a Starlette ASGI app over any ``JobQueue`` URL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from kmsg.dashboard.auth import DashboardAuth
from kmsg.dashboard.common import HERE, DashboardContext, make_templates, render
from kmsg.dashboard.middleware import DashboardGate, SecurityHeaders
from kmsg.dashboard.network import NetworkPolicy
from kmsg.dashboard.throttle import LoginThrottle
from kmsg.dashboard.views import dead, jobs, login, metrics, queues
from kmsg.errors import JobNotFound, ValidationError
from kmsg.urls import open_queue

__all__ = ["create_app"]


async def _not_found(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", {"title": "Not found", "detail": str(exc)}, status=404)


async def _bad_request(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", {"title": "Bad request", "detail": str(exc)}, status=400)


class _Dashboard(Starlette):
    """Starlette with :class:`SecurityHeaders` outside its error handling (so a 500 has them)."""

    def build_middleware_stack(self) -> ASGIApp:
        """The usual stack, wrapped in :class:`SecurityHeaders`."""
        return SecurityHeaders(super().build_middleware_stack())


def create_app(
    queue_url: str,
    *,
    auth: DashboardAuth,
    read_only: bool = False,
    allowed_hosts: Iterable[str] | None = None,
    trusted_proxies: Iterable[str] = (),
    throttle: LoginThrottle | None = None,
) -> Starlette:
    """The dashboard app for the queue at ``queue_url`` (opened on startup, closed on shutdown).

    Raises ``ValidationError`` when ``auth`` has no credentials and is not anonymous: the
    dashboard never serves anything without authentication. With ``read_only`` the change
    endpoints do not exist and their buttons are hidden.

    ``allowed_hosts``: the host names the dashboard answers to (default: ``localhost``,
    ``127.0.0.1`` and ``::1``; ``*`` for any, refused for an anonymous ``auth``).
    ``trusted_proxies``: addresses or networks of reverse proxies whose ``X-Forwarded-*`` headers
    are believed. See :mod:`kmsg.dashboard.network`. ``throttle``: the backoff for wrong
    credentials (default: :class:`LoginThrottle` with its defaults).
    """
    if not (auth.configured or auth.anonymous):
        raise ValidationError(
            "the dashboard needs credentials: set K_MSG_DASHBOARD_TOKEN or "
            "K_MSG_DASHBOARD_USER and K_MSG_DASHBOARD_PASSWORD"
        )
    policy = NetworkPolicy.build(allowed_hosts, trusted_proxies)
    if auth.anonymous and policy.allows_any_host:
        raise ValidationError("without credentials (--insecure-local) every host cannot be allowed")
    ctx = DashboardContext(
        auth=auth,
        read_only=read_only,
        templates=make_templates(),
        throttle=throttle if throttle is not None else LoginThrottle(),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        ctx.opened = await open_queue(queue_url)
        try:
            yield
        finally:
            await ctx.opened.aclose()
            ctx.opened = None

    routes: list[BaseRoute] = []
    for module in (login, queues, jobs, dead, metrics):
        routes += module.routes(read_only)
    routes.append(Mount("/static", StaticFiles(directory=HERE / "static"), name="static"))
    gate = Middleware(DashboardGate, auth=auth, policy=policy, throttle=ctx.throttle)
    app = _Dashboard(
        routes=routes,
        lifespan=lifespan,
        middleware=[gate],
        exception_handlers={JobNotFound: _not_found, ValidationError: _bad_request},
    )
    app.state.dashboard = ctx
    return app
