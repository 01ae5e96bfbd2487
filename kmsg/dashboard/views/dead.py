"""Dead letters of one queue: list and filter, retry or purge one, the selected, or all matching.

Retrying or purging *all* (matching) dead letters takes two steps, without JavaScript: a page
that states the count ("Retry 20,000 dead letters of queue d?") and a confirm button; a POST
that skips the first step is sent there.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from kmsg.dashboard.common import context_of, queue_name, redirect, render, segment
from kmsg.dashboard.search import MATCH_ALL_LIMIT, matching_failed_ids, search_jobs
from kmsg.errors import ValidationError
from kmsg.models import JobState, RetryResult
from kmsg.validation import check_name

__all__ = ["routes"]

PAGE_SIZE = 50


async def dead_letters(request: Request) -> Response:
    """One page of the queue's dead letters, newest first, optionally filtered."""
    ctx = context_of(request)
    name = queue_name(request)
    text = request.query_params.get("q", "").strip()
    cursor = request.query_params.get("cursor") or None
    page = await search_jobs(ctx.queue, name, JobState.FAILED, text, limit=PAGE_SIZE, cursor=cursor)
    values = {"queue": name, "q": text, "page": page, "paged": cursor is not None}
    return render(request, "dead.html", values)


def _action(raw: object) -> str:
    if raw not in ("retry", "purge"):
        raise ValidationError("action must be retry or purge")
    return str(raw)


def _confirm_url(name: str, action: str, text: str) -> str:
    query = urlencode({"action": action, "q": text} if text else {"action": action})
    return f"/queues/{segment(name)}/dead/confirm?{query}"


async def confirm(request: Request) -> Response:
    """The first step of retry all / purge all: how many dead letters it would touch."""
    ctx = context_of(request)
    name = queue_name(request)
    action = _action(request.query_params.get("action"))
    text = request.query_params.get("q", "").strip()
    if text:
        count = len(await matching_failed_ids(ctx.queue, name, text))
    else:
        count = (await ctx.queue.stats(name)).failed
    values = {
        "queue": name,
        "action": action,
        "q": text,
        "count": count,
        "counted": plural(count, "dead letter"),
        "capped": bool(text) and count >= MATCH_ALL_LIMIT,
    }
    return render(request, "confirm.html", values)


async def act(request: Request) -> Response:
    """Retry or purge dead letters.

    Form fields: ``action`` (retry | purge), ``scope`` (selected: the ``id`` fields; matching:
    every dead letter matching ``q``, all of them when ``q`` is empty), ``back`` (where to go).
    Scope ``matching`` also needs ``confirm=yes`` (from the confirmation page); without it the
    browser is sent to that page and nothing changes.
    """
    ctx = context_of(request)
    name = queue_name(request)
    form = await request.form()
    action, scope = _action(form.get("action")), form.get("scope")
    if scope not in ("selected", "matching"):
        raise ValidationError("scope must be selected or matching")
    text = str(form.get("q") or "").strip()
    if scope == "matching" and form.get("confirm") != "yes":
        return RedirectResponse(_confirm_url(name, action, text), status_code=303)
    ids: list[str] | None
    if scope == "selected":
        ids = [check_name("job id", str(value)) for value in form.getlist("id")]
    else:
        ids = await matching_failed_ids(ctx.queue, name, text) if text else None
    retried = RetryResult(moved=0)
    if ids == []:
        count = 0
    elif action == "retry":
        retried = await ctx.queue.retry_failed(name, ids)
        count = retried.moved
    else:
        count = await ctx.queue.purge_failed(name, ids)
    done = "Retried" if action == "retry" else "Purged"
    back = str(form.get("back") or "")
    own = f"/queues/{segment(name)}/"
    target = back if back.startswith(own) else own + "dead"
    return redirect(target, f"{done} {plural(count, 'dead letter')}.{skip_note(retried)}")


def skip_note(result: RetryResult, most: int = 5) -> str:
    """What a retry skipped, for the flash message (the first ``most`` named)."""
    if not result.skipped_count:
        return ""
    named = "; ".join(skip.describe() for skip in result.skipped[:most])
    more = result.skipped_count - min(most, len(result.skipped))
    return f" Skipped {result.skipped_count}: {named}" + (f"; and {more} more." if more else ".")


def plural(count: int, noun: str) -> str:
    """``1 dead letter``, ``20,000 dead letters``."""
    return f"{count:,} {noun}{'s' if count != 1 else ''}"


def routes(read_only: bool) -> list[BaseRoute]:
    """The dead-letter list; the retry/purge endpoints only when not read-only."""
    found: list[BaseRoute] = [Route("/queues/{queue}/dead", dead_letters, methods=["GET"])]
    if not read_only:
        found += [
            Route("/queues/{queue}/dead", act, methods=["POST"]),
            Route("/queues/{queue}/dead/confirm", confirm, methods=["GET"]),
        ]
    return found
