"""Claiming that waits for work: the adapter's own ``claim_or_wait`` when it has one (Redis: a
new job is handed straight to the waiting claimer), else ``claim`` then ``wait_for_jobs``."""

from __future__ import annotations

import inspect
from typing import Protocol, TypeGuard, runtime_checkable

import anyio

from kmsg.models import ClaimedJob
from kmsg.queue import JobQueue

__all__ = ["ClaimWait", "SupportsClaimWait", "claim_or_wait_for", "supports_claim_wait"]


@runtime_checkable
class SupportsClaimWait(Protocol):
    """An adapter that can claim and, when nothing is due, wait for a job in one call."""

    async def claim_or_wait(
        self, queue: str, *, limit: int = 1, lease: float | None = None, wait: float = 0.0
    ) -> list[ClaimedJob]:
        """``claim``; when nothing is due, wait up to ``wait`` seconds for a job. May return
        ``[]`` early (the caller claims again); cancelling it loses no claimed job."""
        ...


def supports_claim_wait(queue: object) -> TypeGuard[SupportsClaimWait]:
    """Whether ``queue`` itself has ``claim_or_wait``, found without ``__getattr__`` (as the
    Protocol check of Python 3.12+ does): a wrapper that delegates through ``__getattr__`` and
    intercepts ``claim`` keeps seeing every claim."""
    return inspect.getattr_static(queue, "claim_or_wait", None) is not None and isinstance(
        queue, SupportsClaimWait
    )


class ClaimWait(Protocol):
    """Claims up to ``limit`` jobs of queue ``queue``, waiting up to ``wait`` seconds for one
    when none is due; may return ``[]`` early (claim again)."""

    async def __call__(
        self, queue: str, /, *, limit: int, lease: float | None, wait: float
    ) -> list[ClaimedJob]:
        """Claim, or wait and claim."""
        ...


def claim_or_wait_for(queue: JobQueue) -> ClaimWait:
    """How to claim-or-wait on ``queue`` (look it up once, call it every round): the adapter's
    own ``claim_or_wait``, else a fallback that claims (shielded from cancellation, so a claim
    is never lost half-way) and, when nothing is due, waits in ``wait_for_jobs`` and returns
    ``[]``."""
    if supports_claim_wait(queue):
        return queue.claim_or_wait

    async def fallback(
        name: str, *, limit: int, lease: float | None, wait: float
    ) -> list[ClaimedJob]:
        with anyio.CancelScope(shield=True):
            claimed = await queue.claim(name, limit=limit, lease=lease)
        if not claimed and wait > 0:
            await queue.wait_for_jobs(name, wait)
        return claimed

    return fallback
