"""Heartbeats: the leases of every running job renewed in one ``extend_many`` call per tick.

The rule
--------
The loop wakes every *tick*, a sixth of the worker's lease. A running job's lease is due for
renewal at::

    renew_at = min(renewed_at + lease / 3, expires_at - (4 * rtt + tick))

``renewed_at`` is when the lease was last set (the claim, or the sending of the last successful
renewal), ``expires_at`` is that plus the lease, and ``rtt`` is the recent round-trip time of
heartbeat calls (the longest of the last 8). So a lease is renewed once a third of it has passed,
or earlier when four round trips plus a tick would no longer fit in what is left of it. At each
tick, every job whose ``renew_at`` falls before the next tick goes into **one** ``extend_many``
call: N jobs in flight cost one round trip per tick (per backend step of ``STEP_JOBS`` leases of
a queue), never N round trips in series, which at fleet scale outlasted the lease itself. The
call also carries each handler's latest progress report (``current_job().progress(...)``): a
job with a report rides along whenever a call is made anyway, so progress costs no round trip
of its own and is stored within about a third of the lease.

When the round trip exceeds an eighth of the lease, ``4 * rtt + tick`` no longer fits in the two
thirds of the lease the first rule leaves, so renewals come earlier than a third: a warning says
the lease is too short for the measured round trip and which lease would fit (``8 * rtt``). It
is logged once, and again only after the round trip has fallen back below that line.

Outcomes, per lease: a renewed lease's local deadline becomes the call's send time plus the lease
(never later than the backend's). A ``LeaseLost`` outcome (the lease expired and the job went to
another worker, or the job was cancelled or removed) is handed to ``on_lost``, which cancels that
job's handler; nothing more is done with the job. A call that fails (``BackendUnavailable``, a
timeout) is logged once; each job whose lease has run out by the local clock meanwhile is treated
as lost too, since another worker may by then have claimed it, and the others are tried again at
the next tick.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Final

import anyio

from kmsg.errors import LeaseLost
from kmsg.queue import JobQueue
from kmsg.validation import MAX_BATCH
from kmsg.worker.inflight import InFlight
from kmsg.worker.log import logger, queue_extra

__all__ = ["Heartbeats"]

TICKS_PER_LEASE: Final = 6
RECENT_CALLS: Final = 8
ROUND_TRIPS_OF_MARGIN: Final = 4.0


class Heartbeats:
    """The heartbeat loop of one worker run (see the module docstring for the rule).

    ``in_flight`` maps lease tokens to the running jobs (the runner keeps it up to date);
    ``on_lost(record, reason)`` is called for each job whose lease is lost.
    """

    def __init__(
        self,
        queue: JobQueue,
        lease: float,
        in_flight: Mapping[str, InFlight],
        on_lost: Callable[[InFlight, str], None],
    ) -> None:
        self._queue = queue
        self.lease = lease
        self.tick = lease / TICKS_PER_LEASE
        """Seconds between two looks at the running jobs."""
        self._in_flight = in_flight
        self._on_lost = on_lost
        self._round_trips: deque[float] = deque(maxlen=RECENT_CALLS)
        self._too_short = False

    @property
    def round_trip(self) -> float:
        """The recent round-trip time of heartbeat calls: the longest of the last 8 (0 at first)."""
        return max(self._round_trips, default=0.0)

    @property
    def _margin(self) -> float:
        """What must be left of a lease when it is renewed: four round trips and a tick."""
        return ROUND_TRIPS_OF_MARGIN * self.round_trip + self.tick

    def renew_at(self, record: InFlight) -> float:
        """When ``record``'s lease falls due for renewal (``anyio.current_time()`` scale)."""
        return min(record.renewed_at + self.lease / 3.0, record.expires_at - self._margin)

    def due(self, now: float) -> list[InFlight]:
        """The running jobs whose leases fall due before the tick after ``now``, and, when there
        are any, those with a progress report to carry (it rides along at no extra cost)."""
        horizon, third, margin = now + self.tick, self.lease / 3.0, self._margin
        running = [record for record in self._in_flight.values() if record.stop is None]
        due = [r for r in running if min(r.renewed_at + third, r.expires_at - margin) < horizon]
        if due:
            chosen = {id(record) for record in due}
            due += [r for r in running if r.progress is not None and id(r) not in chosen]
        return due

    def measured(self, seconds: float) -> None:
        """Record one heartbeat call's round trip; warn when the lease is too short for it."""
        self._round_trips.append(seconds)
        rtt = self.round_trip
        too_short = self._margin > 2.0 * self.lease / 3.0
        if too_short and not self._too_short:
            logger.warning(
                "the lease of %gs is too short for heartbeat round trips of %.3fs: leases are "
                "renewed early, and a slower round trip may lose them; "
                "use a lease of at least %.3gs",
                self.lease,
                rtt,
                2.0 * ROUND_TRIPS_OF_MARGIN * rtt,
                extra=queue_extra(),
            )
        self._too_short = too_short

    async def run(self) -> None:
        """Renew due leases once per tick, until cancelled."""
        next_tick = anyio.current_time() + self.tick
        while True:
            await anyio.sleep_until(next_tick)
            due = self.due(anyio.current_time())
            for start in range(0, len(due), MAX_BATCH):
                await self.renew(due[start : start + MAX_BATCH])
            next_tick = max(next_tick + self.tick, anyio.current_time())

    async def renew(self, due: list[InFlight]) -> None:
        """Renew the leases of ``due`` in one ``extend_many`` call and act on each outcome."""
        sent_at = anyio.current_time()
        leases = [record.lease for record in due]
        progress = [record.progress for record in due]
        try:
            if any(value is not None for value in progress):
                outcomes = await self._queue.extend_many(leases, self.lease, progress=progress)
            else:  # the call as it was before progress existed: wrapped queues may lack it
                outcomes = await self._queue.extend_many(leases, self.lease)
        except Exception as exc:
            self._failed(due, exc)
            return
        self.measured(anyio.current_time() - sent_at)
        for record, outcome, sent in zip(due, outcomes, progress, strict=True):
            if not isinstance(outcome, LeaseLost):
                record.renewed(sent_at, self.lease)
                if record.progress is sent:  # nothing newer was reported meanwhile
                    record.progress = None
            elif self._running(record):
                self._on_lost(record, str(outcome))

    def _failed(self, due: list[InFlight], error: Exception) -> None:
        logger.warning(
            "heartbeat of %d running jobs failed: %s", len(due), error, extra=queue_extra()
        )
        now = anyio.current_time()
        for record in due:
            if now >= record.expires_at and self._running(record):
                self._on_lost(record, f"lease ran out while heartbeats failed ({error})")

    def _running(self, record: InFlight) -> bool:
        """Whether the handler of ``record`` still runs and nobody has stopped it yet."""
        return record.stop is None and self._in_flight.get(record.lease.token) is record
