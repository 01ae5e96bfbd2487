"""Jobs of one queue per state (paged, searchable), and one job's detail."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from kmsg.dashboard.common import context_of, path_name, pretty_json, queue_name, render
from kmsg.dashboard.search import search_jobs
from kmsg.errors import ValidationError
from kmsg.models import JobState

__all__ = ["PAGE_SIZE", "routes"]

PAGE_SIZE = 50


def _state(raw: str) -> JobState:
    try:
        return JobState(raw)
    except ValueError:
        raise ValidationError(f"unknown state {raw!r}") from None


async def job_list(request: Request) -> Response:
    """One page of the queue's jobs in a state, optionally filtered by id, task or error text."""
    ctx = context_of(request)
    name = queue_name(request)
    state = _state(request.query_params.get("state", JobState.PENDING.value))
    text = request.query_params.get("q", "").strip()
    cursor = request.query_params.get("cursor") or None
    page = await search_jobs(ctx.queue, name, state, text, limit=PAGE_SIZE, cursor=cursor)
    stats = await ctx.queue.stats(name)
    values = {"queue": name, "state": state, "q": text, "page": page, "stats": stats}
    values["paged"] = cursor is not None
    return render(request, "jobs.html", values)


async def job_detail(request: Request) -> Response:
    """One job: decoded payload as JSON text, attempts, error history, timestamps."""
    ctx = context_of(request)
    name = queue_name(request)
    job = await ctx.queue.get(name, path_name("job id", request.path_params["job_id"]))
    values = {
        "queue": name,
        "job": job,
        "payload": pretty_json(job.payload),
        "result": pretty_json(job.result),
        "progress": pretty_json(job.progress),
    }
    return render(request, "job.html", values)


def routes(read_only: bool) -> list[BaseRoute]:
    """Read-only pages: the same in both modes."""
    del read_only
    return [
        Route("/queues/{queue}/jobs", job_list, methods=["GET"]),
        Route("/queues/{queue}/jobs/{job_id}", job_detail, methods=["GET"]),
    ]
