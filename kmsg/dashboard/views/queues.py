"""The queues overview, the live-counts endpoint, and per-queue pause / resume / rate limit."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from kmsg.dashboard.common import (
    STATES,
    context_of,
    form_float,
    form_int,
    queue_name,
    redirect,
    render,
)
from kmsg.models import QueueStats

__all__ = ["routes"]


async def _all_stats(request: Request) -> list[tuple[QueueStats, float | None]]:
    """Stats of every queue with its throughput (completed jobs a minute)."""
    ctx = context_of(request)
    rows = []
    for name in await ctx.queue.queues():
        stats = await ctx.queue.stats(name)
        rows.append((stats, ctx.throughput.observe(stats)))
    return rows


async def overview(request: Request) -> Response:
    """Every queue with its counts per state, throughput and settings."""
    return render(request, "queues.html", {"rows": await _all_stats(request)})


def _counts_json(stats: QueueStats, throughput: float | None) -> dict[str, Any]:
    counts: dict[str, Any] = {state.value: stats.count(state) for state in STATES}
    return {
        "queue": stats.queue,
        **counts,
        "total": stats.total,
        "paused": stats.paused,
        "throughput_per_min": throughput,
    }


async def counts(request: Request) -> Response:
    """Live counts as JSON, polled by the pages every two seconds."""
    rows = await _all_stats(request)
    return JSONResponse({"queues": [_counts_json(stats, rate) for stats, rate in rows]})


async def pause(request: Request) -> Response:
    """Stop claims on the queue."""
    name = queue_name(request)
    await context_of(request).queue.pause(name)
    return redirect("/", f"Paused {name}.")


async def resume(request: Request) -> Response:
    """Let claims on the queue go on."""
    name = queue_name(request)
    await context_of(request).queue.resume(name)
    return redirect("/", f"Resumed {name}.")


async def rate_limit(request: Request) -> Response:
    """Set the queue's rate limit; an empty ``max_jobs`` removes it."""
    name = queue_name(request)
    form = await request.form()
    max_jobs = form_int(form, "max_jobs")
    per_seconds = form_float(form, "per_seconds", default=1.0)
    await context_of(request).queue.set_rate_limit(name, max_jobs, per_seconds)
    if max_jobs is None:
        return redirect("/", f"Removed the rate limit of {name}.")
    return redirect("/", f"{name}: at most {max_jobs} jobs per {per_seconds:g} s.")


def routes(read_only: bool) -> list[BaseRoute]:
    """The overview and counts; the change endpoints only when not read-only."""
    found: list[BaseRoute] = [
        Route("/", overview, methods=["GET"]),
        Route("/api/counts", counts, methods=["GET"]),
    ]
    if not read_only:
        found += [
            Route("/queues/{queue}/pause", pause, methods=["POST"]),
            Route("/queues/{queue}/resume", resume, methods=["POST"]),
            Route("/queues/{queue}/rate-limit", rate_limit, methods=["POST"]),
        ]
    return found
