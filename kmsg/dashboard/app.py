"""``create_app``: the dashboard as a Starlette ASGI app over any ``JobQueue`` URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from kmsg.dashboard.auth import DashboardAuth
from kmsg.dashboard.common import HERE, DashboardContext, make_templates, render
from kmsg.dashboard.middleware import DashboardGate
from kmsg.dashboard.views import dead, jobs, login, metrics, queues
from kmsg.errors import JobNotFound, ValidationError
from kmsg.urls import open_queue

__all__ = ["create_app"]


async def _not_found(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", {"title": "Not found", "detail": str(exc)}, status=404)


async def _bad_request(request: Request, exc: Exception) -> Response:
    return render(request, "error.html", {"title": "Bad request", "detail": str(exc)}, status=400)


def create_app(queue_url: str, *, auth: DashboardAuth, read_only: bool = False) -> Starlette:
    """The dashboard app for the queue at ``queue_url`` (opened on startup, closed on shutdown).

    Raises ``ValidationError`` when ``auth`` has no credentials and is not anonymous: the
    dashboard never serves anything without authentication. With ``read_only`` the change
    endpoints do not exist and their buttons are hidden.
    """
    if not (auth.configured or auth.anonymous):
        raise ValidationError(
            "the dashboard needs credentials: set K_MSG_DASHBOARD_TOKEN or "
            "K_MSG_DASHBOARD_USER and K_MSG_DASHBOARD_PASSWORD"
        )
    ctx = DashboardContext(auth=auth, read_only=read_only, templates=make_templates())

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
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(DashboardGate, auth=auth)],
        exception_handlers={JobNotFound: _not_found, ValidationError: _bad_request},
    )
    app.state.dashboard = ctx
    return app
