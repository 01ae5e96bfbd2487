"""enqueue and enqueue_many: what is stored, when it is due, batches, ids."""

from __future__ import annotations

import time
import unicodedata
from typing import ClassVar

import anyio
import msgspec
import pytest

from kmsg import Backoff, EnqueueOutcome, JobQueue, JobState, NewJob, ValidationError
from tests.conformance.support import MARGIN, Ping, claim_one, enqueue_pings, ping_of

pytestmark = pytest.mark.anyio


class Named(msgspec.Struct, frozen=True):
    """A payload whose task name is set explicitly."""

    __kmsg_task__: ClassVar[str] = "sms.send"
    to: str


async def test_enqueue_stores_a_pending_job_with_its_options(queue: JobQueue, qname: str) -> None:
    before = time.time()
    backoff = Backoff(initial=2.0, factor=3.0, maximum=50.0)
    job_id = await queue.enqueue(
        Ping(n=7),
        queue=qname,
        priority=5,
        max_attempts=4,
        backoff=backoff,
        lease=12.0,
        dedupe_key="k1",
    )
    job = await queue.get(qname, job_id)
    assert (job.id, job.queue, job.task, job.state) == (job_id, qname, "Ping", JobState.PENDING)
    assert ping_of(job) == Ping(n=7)
    assert (job.priority, job.max_attempts, job.backoff, job.lease) == (5, 4, backoff, 12.0)
    assert (job.attempts, job.errors, job.result, job.dedupe_key) == (0, (), None, "k1")
    assert before - 1.0 <= job.created_at <= time.time() + 1.0
    assert job.run_at <= time.time() + 1.0
    assert not job.cancel_requested


async def test_enqueue_defaults(queue: JobQueue, qname: str) -> None:
    job = await queue.get(qname, await queue.enqueue(Ping(n=1), queue=qname))
    assert (job.priority, job.max_attempts, job.lease) == (0, 3, 30.0)
    assert job.backoff == Backoff()
    assert job.dedupe_key is None


async def test_task_name_comes_from_kmsg_task(queue: JobQueue, qname: str) -> None:
    job = await queue.get(qname, await queue.enqueue(Named(to="01012345678"), queue=qname))
    assert job.task == "sms.send"
    assert msgspec.json.decode(job.payload, type=Named) == Named(to="01012345678")


async def test_delayed_jobs_are_not_claimable_before_they_are_due(
    queue: JobQueue, qname: str
) -> None:
    by_delay = await queue.enqueue(Ping(n=1), queue=qname, delay=0.5)
    by_run_at = await queue.enqueue(Ping(n=2), queue=qname, run_at=time.time() + 0.5)
    for job_id in (by_delay, by_run_at):
        job = await queue.get(qname, job_id)
        assert job.state is JobState.DELAYED
        assert job.run_at > time.time() - 0.2
    assert await queue.claim(qname, limit=10) == []
    assert (await queue.stats(qname)).delayed == 2
    await anyio.sleep(0.5 + MARGIN)
    claimed = await queue.claim(qname, limit=10)
    assert {c.job.id for c in claimed} == {by_delay, by_run_at}


async def test_run_at_in_the_past_is_pending_at_once(queue: JobQueue, qname: str) -> None:
    job_id = await queue.enqueue(Ping(n=1), queue=qname, run_at=time.time() - 60.0)
    assert (await queue.get(qname, job_id)).state is JobState.PENDING
    assert (await claim_one(queue, qname)).job.id == job_id


async def test_enqueue_many_returns_ids_in_input_order(queue: JobQueue, qname: str) -> None:
    ids = await enqueue_pings(queue, qname, 20)
    assert len(set(ids)) == 20
    for n, job_id in enumerate(ids):
        assert ping_of(await queue.get(qname, job_id)) == Ping(n=n)
    assert (await queue.stats(qname)).pending == 20


async def test_ids_sort_by_creation(queue: JobQueue, qname: str) -> None:
    ids = [await queue.enqueue(Ping(n=n), queue=qname) for n in range(5)]
    ids += await enqueue_pings(queue, qname, 5)
    assert ids == sorted(ids)


async def test_enqueue_many_may_name_several_queues(
    queue: JobQueue, qname: str, qname2: str
) -> None:
    jobs = [NewJob(payload=Ping(n=n), queue=(qname, qname2)[n % 2]) for n in range(6)]
    ids = await queue.enqueue_many(jobs)
    for n, job_id in enumerate(ids):
        job = await queue.get((qname, qname2)[n % 2], job_id)
        assert ping_of(job) == Ping(n=n)
    assert (await queue.stats(qname)).pending == 3
    assert (await queue.stats(qname2)).pending == 3


async def test_enqueue_many_of_nothing_writes_nothing(queue: JobQueue, qname: str) -> None:
    assert await queue.enqueue_many([]) == []
    assert (await queue.stats(qname)).total == 0


@pytest.mark.parametrize(
    "bad",
    [
        NewJob(payload=Ping(n=-1)),
        NewJob(payload=Ping(n=1), queue="no spaces"),
        NewJob(payload=Ping(n=1), priority=5000),
        NewJob(payload=Ping(n=1), delay=1.0, run_at=time.time() + 1.0),
    ],
    ids=["constraint", "queue-name", "priority", "delay-and-run-at"],
)
async def test_one_bad_job_refuses_the_whole_batch(
    queue: JobQueue, qname: str, qname2: str, bad: NewJob
) -> None:
    good = [NewJob(payload=Ping(n=n), queue=(qname, qname2)[n % 2]) for n in range(4)]
    placed = msgspec.structs.replace(bad, queue=qname) if bad.queue == "default" else bad
    with pytest.raises(ValidationError):
        await queue.enqueue_many([*good, placed])
    assert (await queue.stats(qname)).total == 0
    assert (await queue.stats(qname2)).total == 0


async def test_a_batch_over_the_limit_is_refused(queue: JobQueue, qname: str) -> None:
    jobs = [NewJob(payload=Ping(n=1), queue=qname)] * 10_001
    with pytest.raises(ValidationError):
        await queue.enqueue_many(jobs)
    assert (await queue.stats(qname)).total == 0


async def test_replayed_job_id_returns_it_and_writes_nothing(queue: JobQueue, qname: str) -> None:
    first = await queue.enqueue(Ping(n=1), queue=qname, job_id="order-42")
    again = await queue.enqueue(Ping(n=2), queue=qname, job_id="order-42", priority=9)
    batch = await queue.enqueue_many([NewJob(payload=Ping(n=3), queue=qname, job_id="order-42")])
    assert first == again == "order-42"
    assert batch == ["order-42"]
    job = await queue.get(qname, "order-42")
    assert (ping_of(job), job.priority) == (Ping(n=1), 0)
    assert (await queue.stats(qname)).total == 1


async def test_replayed_job_id_of_a_finished_job_does_not_revive_it(
    queue: JobQueue, qname: str
) -> None:
    await queue.enqueue(Ping(n=1), queue=qname, job_id="once")
    claimed = await claim_one(queue, qname)
    await queue.complete(claimed.lease)
    assert await queue.enqueue(Ping(n=1), queue=qname, job_id="once") == "once"
    assert (await queue.get(qname, "once")).state is JobState.COMPLETED
    assert await queue.claim(qname) == []


async def test_enqueue_results_say_what_each_enqueue_did(queue: JobQueue, qname: str) -> None:
    """created, same_id (a job with the id exists, finished or not), same_key (a live holder)."""
    first = await queue.enqueue(Ping(n=1), queue=qname, dedupe_key="k", job_id="a")
    done = await queue.enqueue(Ping(n=2), queue=qname, job_id="finished", max_attempts=1)
    (claimed,) = [c for c in await queue.claim(qname, limit=2) if c.job.id == done]
    await queue.complete(claimed.lease)
    results = await queue.enqueue_results(
        [
            NewJob(payload=Ping(n=3), queue=qname, job_id="b"),
            NewJob(payload=Ping(n=4), queue=qname, dedupe_key="k"),
            NewJob(payload=Ping(n=5), queue=qname, job_id="a"),
            NewJob(payload=Ping(n=6), queue=qname, job_id="finished"),
            NewJob(payload=Ping(n=7), queue=qname, dedupe_key="k2"),
            NewJob(payload=Ping(n=8), queue=qname, dedupe_key="k2"),
        ]
    )
    assert [(r.id, r.outcome) for r in results[:4]] == [
        ("b", EnqueueOutcome.CREATED),
        (first, EnqueueOutcome.SAME_KEY),
        ("a", EnqueueOutcome.SAME_ID),
        ("finished", EnqueueOutcome.SAME_ID),
    ]
    assert results[4].created
    assert (results[5].id, results[5].outcome) == (results[4].id, EnqueueOutcome.SAME_KEY)
    assert (await queue.get(qname, "finished")).state is JobState.COMPLETED
    assert (await queue.stats(qname)).total == 4


async def test_dedupe_keys_are_compared_in_unicode_nfc(queue: JobQueue, qname: str) -> None:
    """The composed and decomposed spellings of one text are one key (stored composed)."""
    composed, decomposed = "\ud55c\uae00-\u00e9", "\u1112\u1161\u11ab\u1100\u1173\u11af-e\u0301"
    assert composed != decomposed
    assert unicodedata.normalize("NFC", decomposed) == composed
    held = await queue.enqueue(Ping(n=1), queue=qname, dedupe_key=decomposed)
    assert await queue.enqueue(Ping(n=2), queue=qname, dedupe_key=composed) == held
    assert (await queue.get(qname, held)).dedupe_key == composed
