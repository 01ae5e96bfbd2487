"""Payload types, timing constants and small helpers shared by the conformance tests.

Everything here speaks only the :class:`kmsg.JobQueue` contract, never an adapter's internals.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Final

import anyio
import anyio.lowlevel
import msgspec

from kmsg import Backoff, ClaimedJob, Job, JobQueue, NewJob, QueueStats
from tests.backends import SkippableClock

__all__ = [
    "HOLD",
    "MARGIN",
    "SHORT_LEASE",
    "Blob",
    "Ping",
    "TimePasses",
    "claim_one",
    "claim_until",
    "enqueue_pings",
    "ping_of",
    "stats_snapshot",
    "wait_for_files",
    "wait_out_lease",
]

SHORT_LEASE: Final = 0.3
"""A lease short enough to let run out in a test (``MIN_LEASE`` is 0.05)."""

MARGIN: Final = 0.5
"""Extra seconds to wait past a deadline: the box is loaded, so timing is never asserted tightly."""

CLAIM_WITHIN: Final = 5.0
"""Seconds :func:`claim_until` waits for a job that should become claimable soon."""

FILE_POLL: Final = 0.02
"""Seconds between checks in :func:`wait_for_files`."""

HOLD: Final = Backoff(initial=60.0, factor=1.0, maximum=60.0)
"""A backoff that keeps a retried job ``delayed`` for the rest of any test."""


class Ping(msgspec.Struct, frozen=True, kw_only=True):
    """The usual test payload; ``n`` must be 0 or more, so a constraint can be broken."""

    n: Annotated[int, msgspec.Meta(ge=0)]


class Blob(msgspec.Struct, frozen=True, kw_only=True):
    """A payload of any size, to test the payload size limit."""

    data: str


class TimePasses:
    """Lets seconds pass for the store under test, as cheaply as its adapter allows.

    With a :class:`~tests.backends.SkippableClock` (an adapter that reads the caller's clock) the
    clock jumps ahead at once; with server time (Redis) the test sleeps. A test may only rely on
    the queue's view of time having moved at least ``seconds`` (a sleep may overrun on a loaded
    machine); it must not measure time itself in between.
    """

    def __init__(self, clock: SkippableClock | None) -> None:
        self.clock = clock

    async def __call__(self, seconds: float) -> None:
        if self.clock is None:
            await anyio.sleep(seconds)
        else:
            self.clock.skip(seconds)
            await anyio.lowlevel.checkpoint()


_ping_decoder: Final = msgspec.json.Decoder(Ping)


def ping_of(job: Job) -> Ping:
    """Decode a job's payload as a :class:`Ping`."""
    return _ping_decoder.decode(job.payload)


async def enqueue_pings(
    queue: JobQueue, qname: str, count: int, *, start: int = 0, **options: Any
) -> list[str]:
    """Enqueue ``Ping(n=start)`` .. ``Ping(n=start+count-1)`` in one batch; return their ids."""
    jobs = [NewJob(payload=Ping(n=start + i), queue=qname, **options) for i in range(count)]
    return await queue.enqueue_many(jobs)


async def claim_one(queue: JobQueue, qname: str, *, lease: float | None = None) -> ClaimedJob:
    """Claim exactly one job (failing the test if none or more came back)."""
    claimed = await queue.claim(qname, limit=1, lease=lease)
    assert len(claimed) == 1, f"expected one claimable job in {qname}, got {len(claimed)}"
    return claimed[0]


async def claim_until(queue: JobQueue, qname: str, *, lease: float | None = None) -> ClaimedJob:
    """Claim one job, retrying every 0.1 s until one comes back (at most ``CLAIM_WITHIN`` s)."""
    with anyio.fail_after(CLAIM_WITHIN):
        while True:
            claimed = await queue.claim(qname, limit=1, lease=lease)
            if claimed:
                return claimed[0]
            await anyio.sleep(0.1)


async def wait_for_files(paths: Sequence[Path], *, within: float) -> None:
    """Return once every path exists; raise ``TimeoutError`` after ``within`` seconds."""
    for _ in range(max(1, int(within / FILE_POLL))):
        if all(path.exists() for path in paths):
            return
        await anyio.sleep(FILE_POLL)
    raise TimeoutError(f"{[str(p) for p in paths if not p.exists()]} did not appear in {within} s")


async def wait_out_lease(lease: float = SHORT_LEASE) -> None:
    """Sleep until a lease of ``lease`` seconds taken just now has surely ended."""
    await anyio.sleep(lease + MARGIN)


async def stats_snapshot(queue: JobQueue, qname: str) -> QueueStats:
    """The queue's stats with the age field dropped, for 'nothing changed' comparisons."""
    stats = await queue.stats(qname)
    return msgspec.structs.replace(stats, oldest_pending_age=None)
