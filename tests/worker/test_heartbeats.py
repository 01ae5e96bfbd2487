"""Heartbeats in one round trip: every due lease goes into one extend_many call per tick."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import anyio
import pytest

from kmsg import JobQueue, JobState, Lease, LeaseLost, NewJob, ValidationError
from kmsg.models import Backoff, ClaimedJob, Job
from kmsg.worker import EventKind, current_job
from kmsg.worker.heartbeats import Heartbeats
from kmsg.worker.inflight import InFlight
from tests.worker.support import WAIT_LIMIT, Ping, Recorder, make_worker, running

pytestmark = pytest.mark.anyio


class BatchCountingQueue:
    """Delegates to a real queue; records the job ids of every extend_many call, adds
    ``latency`` seconds each way to every heartbeat call, and refuses single extends unless
    ``single_extends`` (a slow link, then)."""

    def __init__(
        self, queue: JobQueue, latency: float = 0.0, *, single_extends: bool = False
    ) -> None:
        self._queue = queue
        self._latency = latency
        self._single_extends = single_extends
        self.calls: list[list[str]] = []
        self.called = anyio.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self._queue, name)

    async def extend(self, lease: Lease, duration: float) -> float:
        assert self._single_extends, "the worker heartbeats through extend_many only"
        await anyio.sleep(self._latency)
        deadline = await self._queue.extend(lease, duration)
        await anyio.sleep(self._latency)
        return deadline

    async def extend_many(
        self,
        leases: Sequence[Lease],
        duration: float,
        *,
        progress: Sequence[bytes | None] | None = None,
    ) -> list[float | LeaseLost]:
        self.calls.append([lease.job_id for lease in leases])
        self.called.set()
        await anyio.sleep(self._latency)
        outcomes = await self._queue.extend_many(leases, duration, progress=progress)
        await anyio.sleep(self._latency)
        return outcomes

    async def wait_for_calls(self, count: int) -> None:
        """Wait (bounded) until ``count`` extend_many calls were made."""
        with anyio.fail_after(WAIT_LIMIT):
            while len(self.calls) < count:
                self.called = anyio.Event()
                await self.called.wait()


async def test_one_call_per_tick_carries_every_due_lease_and_a_lost_one_stops_only_its_job(
    queue: JobQueue, qname: str
) -> None:
    counting = BatchCountingQueue(queue)
    # a lease of 1.2 s ticks every 0.2 s; the claim takes all 6 jobs at once, so they fall due
    # together at every tick
    worker = make_worker(counting, qname, concurrency=6, lease=1.2)  # type: ignore[arg-type]
    finish = anyio.Event()
    cancelled: list[int] = []

    @worker.task
    async def ping(msg: Ping) -> None:
        try:
            await finish.wait()
        except anyio.get_cancelled_exc_class():
            cancelled.append(msg.n)
            raise

    recorder = Recorder(worker)
    ids = await queue.enqueue_many([NewJob(payload=Ping(n=n), queue=qname) for n in range(6)])
    async with running(worker):
        await recorder.wait_for(EventKind.STARTED, 6)
        await counting.wait_for_calls(3)
        assert [sorted(call) for call in counting.calls[:3]] == [sorted(ids)] * 3
        # a cancel request makes that one lease come back as LeaseLost at the next heartbeat
        assert await queue.cancel(qname, ids[2]) is JobState.PROCESSING
        (lost,) = await recorder.wait_for(EventKind.LEASE_LOST)
        assert cancelled == [2]
        await counting.wait_for_calls(len(counting.calls) + 1)
        assert sorted(counting.calls[-1]) == sorted(ids[:2] + ids[3:])
        finish.set()
        await recorder.wait_for(EventKind.COMPLETED, 5)
    assert lost.job.id == ids[2]
    assert lost.error is not None
    assert "lease lost" in lost.error
    assert cancelled == [2]
    for job_id in ids[:2] + ids[3:]:
        assert recorder.kinds(job_id) == [EventKind.STARTED, EventKind.COMPLETED]
    # nothing was acknowledged for it: the backend settles it when its lease ends
    job = await queue.get(qname, ids[2])
    assert job.state in (JobState.PROCESSING, JobState.CANCELLED)
    assert job.errors == ()


@pytest.mark.slow
async def test_many_jobs_keep_their_leases_over_a_slow_link(queue: JobQueue, qname: str) -> None:
    """The fleet-scale fault: 60 jobs with a 1.2 s lease over a link adding 20 ms each way. One
    extend per job in series would take 2.4 s per round, twice the lease."""
    count = 60
    slow = BatchCountingQueue(queue, latency=0.02, single_extends=True)
    worker = make_worker(slow, qname, concurrency=count, lease=1.2)  # type: ignore[arg-type]
    runs: list[int] = []

    @worker.task
    async def ping(msg: Ping) -> None:
        runs.append(msg.n)
        await anyio.sleep(2.5)  # two leases

    recorder = Recorder(worker)
    await queue.enqueue_many([NewJob(payload=Ping(n=n), queue=qname) for n in range(count)])
    stolen: list[ClaimedJob] = []
    async with running(worker):
        await recorder.wait_for(EventKind.STARTED, count)
        with anyio.fail_after(WAIT_LIMIT):
            while len(recorder.of(EventKind.COMPLETED)) < count:
                # another claimer would take any job whose lease ran out
                stolen += await queue.claim(qname, limit=count, lease=30.0)
                await anyio.sleep(0.1)
    assert stolen == []
    assert recorder.of(EventKind.LEASE_LOST) == []
    assert sorted(runs) == list(range(count))


def _record(lease: float, renewed_at: float = 0.0) -> InFlight:
    job = Job(
        id="01J0000000000000000000000A",
        queue="q",
        task="Ping",
        payload=b"{}",
        state=JobState.PROCESSING,
        priority=0,
        run_at=0.0,
        created_at=0.0,
        attempts=1,
        max_attempts=3,
        backoff=Backoff(),
        lease=lease,
    )
    claimed = ClaimedJob(job=job, token="t")
    return InFlight(claimed, anyio.CancelScope(), renewed_at, lease)


async def test_leases_are_renewed_earlier_when_round_trips_are_slow_and_too_slow_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    record = _record(lease=3.0)
    beats = Heartbeats(object(), 3.0, {"t": record}, lambda record, reason: None)  # type: ignore[arg-type]
    assert beats.tick == 0.5
    # no round trip measured yet: once a third of the lease has passed
    assert beats.renew_at(record) == pytest.approx(1.0)
    assert beats.due(0.4) == []
    assert beats.due(0.6) == [record]  # due before the next tick (at 1.1)
    with caplog.at_level(logging.WARNING, logger="kmsg.worker"):
        beats.measured(0.3)  # 4 x 0.3 + 0.5 = 1.7 still fits in the 2 s left at 1.0
        assert beats.renew_at(record) == pytest.approx(1.0)
        assert caplog.records == []
        beats.measured(0.5)  # 4 x 0.5 + 0.5 = 2.5: renew with 2.5 s left, at 0.5
        assert beats.round_trip == 0.5
        assert beats.renew_at(record) == pytest.approx(0.5)
        assert beats.due(0.1) == [record]
        beats.measured(0.45)  # still too short: no second warning
    (warning,) = caplog.records
    assert "too short for heartbeat round trips of 0.500s" in warning.getMessage()
    assert "at least 4s" in warning.getMessage()
    record.renewed(10.0, 3.0)
    assert (record.renewed_at, record.expires_at) == (10.0, 13.0)


async def test_a_handlers_progress_rides_on_the_heartbeat_and_stays_when_it_ends(
    queue: JobQueue, qname: str
) -> None:
    counting = BatchCountingQueue(queue)
    worker = make_worker(counting, qname, concurrency=2, lease=1.2)  # type: ignore[arg-type]
    finish = anyio.Event()
    reported = anyio.Event()

    @worker.task
    async def ping(msg: Ping) -> None:
        current_job().progress({"sent": msg.n, "total": 10})
        reported.set()
        await finish.wait()
        current_job().progress({"sent": 10, "total": 10})

    job_id = await queue.enqueue(Ping(n=4), queue=qname)
    async with running(worker):
        with anyio.fail_after(WAIT_LIMIT):
            await reported.wait()
        # the next heartbeat carries the report; once the one after it is made, it is stored
        await counting.wait_for_calls(len(counting.calls) + 2)
        assert (await queue.get(qname, job_id)).progress == b'{"sent":4,"total":10}'
        finish.set()
        done = await queue.wait(qname, job_id, within=WAIT_LIMIT)
    # The last report came after the last heartbeat: the job keeps what was carried.
    assert (done.state, done.progress) == (JobState.COMPLETED, b'{"sent":4,"total":10}')


async def test_progress_that_is_too_big_or_not_json_is_refused_in_the_handler(
    queue: JobQueue, qname: str
) -> None:
    worker = make_worker(queue, qname)
    errors: list[str] = []

    @worker.task
    async def ping(msg: Ping) -> None:
        for value in ("x" * 2000, object()):
            try:
                current_job().progress(value)
            except ValidationError as exc:
                errors.append(str(exc))

    await queue.enqueue(Ping(n=1), queue=qname)
    await worker.run_until_idle()
    assert len(errors) == 2
    assert "limit is 1024" in errors[0]
    assert "cannot be encoded" in errors[1]
