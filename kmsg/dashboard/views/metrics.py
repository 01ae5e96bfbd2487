"""``GET /metrics``: Prometheus text format, queue depth read from ``stats()`` at scrape time.

Like every other page it needs a login or ``Authorization: Bearer <K_MSG_DASHBOARD_TOKEN>``
(Prometheus: ``authorization: {credentials: ...}`` in the scrape config).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from kmsg.dashboard.common import context_of

__all__ = ["routes"]


async def metrics(request: Request) -> Response:
    """The exposition of the default registry plus the queue-depth gauges."""
    from prometheus_client import CONTENT_TYPE_LATEST

    from kmsg.metrics import scrape

    body = await scrape(context_of(request).queue)
    return Response(body, headers={"content-type": CONTENT_TYPE_LATEST})


def routes(read_only: bool) -> list[BaseRoute]:
    """The same in both modes; only when prometheus-client is installed."""
    del read_only
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return []
    return [Route("/metrics", metrics, methods=["GET"])]
