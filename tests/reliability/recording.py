"""A JobQueue wrapper that writes every claim and acknowledgement of a worker to the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kmsg import JobQueue, JobState, LeaseLost
from kmsg.models import ClaimedJob, Lease
from tests.reliability.ledger import Ledger

__all__ = ["RecordingQueue"]


class RecordingQueue:
    """Delegates to ``inner``; claims and acks (with their tokens) go to ``ledger`` as well."""

    def __init__(self, inner: JobQueue, ledger: Ledger) -> None:
        self._inner = inner
        self._ledger = ledger
        self.tokens: dict[str, str] = {}
        """Job id -> the token of this process's latest claim of it (for the handler's records)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def claim(
        self, queue: str, *, limit: int = 1, lease: float | None = None, wait: float = 0.0
    ) -> list[ClaimedJob]:
        """Claim (waiting up to ``wait``: on Redis a job may be handed over meanwhile), and
        record each claimed job with its token and server-side deadline."""
        claimed = await self._inner.claim(queue, limit=limit, lease=lease, wait=wait)
        for item in claimed:
            job = item.job
            self.tokens[job.id] = item.token
            self._ledger.write(
                "claim",
                job=job.id,
                token=item.token,
                attempt=job.attempts,
                until=job.lease_until,
                lease=lease if lease is not None else job.lease,
            )
        return claimed

    def _ack(self, op: str, lease: Lease, ok: bool, **extra: Any) -> None:
        self._ledger.write("ack", op=op, job=lease.job_id, token=lease.token, ok=ok, **extra)

    async def complete(self, lease: Lease, *, result: bytes | None = None) -> None:
        """Complete, recording whether the backend accepted it."""
        try:
            await self._inner.complete(lease, result=result)
        except LeaseLost:
            self._ack("complete", lease, False)
            raise
        self._ack("complete", lease, True)

    async def complete_many(self, completions: Sequence[tuple[Lease, bytes | None]]) -> list[bool]:
        """Complete a batch, recording for each job whether the backend accepted it."""
        done = await self._inner.complete_many(completions)
        for (lease, _), ok in zip(completions, done, strict=True):
            self._ack("complete", lease, ok)
        return done

    async def fail(self, lease: Lease, error: BaseException | str, **options: Any) -> JobState:
        """Fail, recording whether the backend accepted it."""
        try:
            state = await self._inner.fail(lease, error, **options)
        except LeaseLost:
            self._ack("fail", lease, False)
            raise
        self._ack("fail", lease, True, state=state.value)
        return state

    async def release(self, lease: Lease) -> None:
        """Release, recording whether the backend accepted it."""
        try:
            await self._inner.release(lease)
        except LeaseLost:
            self._ack("release", lease, False)
            raise
        self._ack("release", lease, True)

    async def extend(self, lease: Lease, duration: float) -> float:
        """Extend, recording the new deadline."""
        try:
            until = await self._inner.extend(lease, duration)
        except LeaseLost:
            self._ack("extend", lease, False)
            raise
        self._ack("extend", lease, True, until=until)
        return until

    async def extend_many(
        self,
        leases: Sequence[Lease],
        duration: float,
        *,
        progress: Sequence[bytes | None] | None = None,
    ) -> list[float | LeaseLost]:
        """Extend a batch (the worker's heartbeat), recording one ``extend`` per lease, as
        :meth:`extend` would: the new deadline, or not accepted (lease lost)."""
        outcomes = await self._inner.extend_many(leases, duration, progress=progress)
        for lease, outcome in zip(leases, outcomes, strict=True):
            if isinstance(outcome, LeaseLost):
                self._ack("extend", lease, False)
            else:
                self._ack("extend", lease, True, until=outcome)
        return outcomes
