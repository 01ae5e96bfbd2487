"""Search over one state's jobs by id, task or error text, using only ``list_jobs``.

The contract has no search, so pages are scanned and filtered here. A scan stops after
``SCAN_BUDGET`` jobs and offers a cursor to continue, so one request never reads a whole
backend. An exact job id is looked up directly with ``get`` first.
"""

from __future__ import annotations

from typing import Final

from kmsg.errors import JobNotFound, ValidationError
from kmsg.models import Job, JobPage, JobState
from kmsg.queue import JobQueue
from kmsg.validation import check_name

__all__ = ["SCAN_BUDGET", "job_matches", "matching_failed_ids", "search_jobs"]

SCAN_BUDGET: Final = 5000
MATCH_ALL_LIMIT: Final = 10_000
MATCH_ALL_SCAN: Final = 100_000


def job_matches(job: Job, text: str) -> bool:
    """True if ``text`` (case-insensitive) is in the job's id, task, or any error type/message."""
    needle = text.casefold()
    if needle in job.id.casefold() or needle in job.task.casefold():
        return True
    return any(needle in f"{e.type}: {e.message}".casefold() for e in job.errors)


async def _exact(queue: JobQueue, name: str, text: str, state: JobState) -> Job | None:
    try:
        job = await queue.get(name, check_name("job id", text))
    except (JobNotFound, ValidationError):
        return None
    return job if job.state is state else None


async def search_jobs(
    queue: JobQueue,
    name: str,
    state: JobState,
    text: str,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> JobPage:
    """A page of the jobs in ``state`` that match ``text`` (every job when ``text`` is empty)."""
    if not text:
        return await queue.list_jobs(name, state, limit=limit, cursor=cursor)
    if cursor is None:
        exact = await _exact(queue, name, text, state)
        if exact is not None:
            return JobPage(jobs=(exact,), next_cursor=None)
    found: list[Job] = []
    scanned = 0
    while len(found) < limit and scanned < SCAN_BUDGET:
        page = await queue.list_jobs(name, state, limit=200, cursor=cursor)
        scanned += len(page.jobs)
        found.extend(job for job in page.jobs if job_matches(job, text))
        cursor = page.next_cursor
        if cursor is None:
            break
    return JobPage(jobs=tuple(found), next_cursor=cursor)


async def matching_failed_ids(queue: JobQueue, name: str, text: str) -> list[str]:
    """Ids of the queue's dead letters that match ``text``.

    At most ``MATCH_ALL_LIMIT`` ids, from the newest ``MATCH_ALL_SCAN`` dead letters.
    """
    ids: list[str] = []
    cursor: str | None = None
    scanned = 0
    while len(ids) < MATCH_ALL_LIMIT and scanned < MATCH_ALL_SCAN:
        page = await queue.list_failed(name, limit=500, cursor=cursor)
        scanned += len(page.jobs)
        ids.extend(job.id for job in page.jobs if job_matches(job, text))
        cursor = page.next_cursor
        if cursor is None:
            break
    return ids[:MATCH_ALL_LIMIT]
