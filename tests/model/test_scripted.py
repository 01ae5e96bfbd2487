"""Sequences the state machine does not reach in a few dozen steps, scripted, and compared with
the model exactly as the machine compares (:class:`~tests.model.compare.SideBySide`)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from kmsg import Backoff, JobState, NewJob
from kmsg.rules import MAX_ERRORS
from kmsg.validation import STEP_JOBS
from tests.conformance.support import Ping
from tests.model.compare import HeldLease, SideBySide, paired
from tests.model.driver import Driver
from tests.model.reference import ReferenceQueue

NO_BACKOFF = Backoff(initial=0.0, factor=1.0, maximum=0.0)


def side_by_side(driver: Driver) -> tuple[SideBySide, str]:
    """The backend and a fresh model side by side, and a queue name no other test uses."""
    return SideBySide(driver, ReferenceQueue(driver.time.clock)), f"s{uuid4().hex[:12]}"


def claim(sides: SideBySide, queue: str, limit: int) -> list[HeldLease]:
    """Claim on both sides (the claimed jobs must match, in order); return the leases."""
    got, want = sides.run(
        lambda q: q.claim(queue, limit=limit, lease=300.0),
        lambda _: sides.model.claim(queue, limit=limit, lease=300.0),
    )
    sides.same(f"claim {queue} limit={limit}", got, want)
    return paired(got, want)


def fail(sides: SideBySide, held: HeldLease, error: str) -> None:
    """Fail the held job on both sides (compared)."""
    sides.call(
        f"fail {held.real.job_id}",
        lambda q: q.fail(held.real, error),
        lambda: sides.model.fail(held.model, error),
    )


@pytest.mark.model
def test_an_error_history_keeps_the_last_max_errors(driver: Driver) -> None:
    """A job failed MAX_ERRORS + 2 times keeps its last MAX_ERRORS errors, on both sides."""
    sides, queue = side_by_side(driver)
    new = NewJob(
        payload=Ping(n=0),
        queue=queue,
        max_attempts=MAX_ERRORS + 5,
        backoff=NO_BACKOFF,
        job_id="long",
    )
    sides.call("enqueue", lambda q: q.enqueue_many([new]), lambda: sides.model.enqueue_many([new]))
    for attempt in range(1, MAX_ERRORS + 3):
        (held,) = claim(sides, queue, 1)
        fail(sides, held, f"failure {attempt}")
    (job,) = sides.model.jobs(queue)
    assert len(job.errors) == MAX_ERRORS
    assert job.errors[0].message == "failure 3"
    sides.call("get", lambda q: q.get(queue, job.id), lambda: sides.model.get(queue, job.id))


@pytest.mark.model
def test_one_claim_takes_at_most_step_jobs(driver: Driver) -> None:
    """A claim for more than STEP_JOBS jobs takes STEP_JOBS, the same ones in the same order."""
    sides, queue = side_by_side(driver)
    jobs = [
        NewJob(payload=Ping(n=n), queue=queue, priority=n % 3, job_id=f"j{n}")
        for n in range(STEP_JOBS + 20)
    ]
    sides.call(
        "enqueue_many", lambda q: q.enqueue_many(jobs), lambda: sides.model.enqueue_many(jobs)
    )
    assert len(claim(sides, queue, STEP_JOBS + 20)) == STEP_JOBS
    sides.call("stats", lambda q: q.stats(queue), lambda: sides.model.stats(queue))
    sides.call(
        "list_jobs pending",
        lambda q: q.list_jobs(queue, JobState.PENDING),
        lambda: sides.model.list_jobs(queue, JobState.PENDING),
    )
