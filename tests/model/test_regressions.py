"""Disagreements between a backend and the model, kept as plain regression tests.

Each test replays one shrunk counterexample of the state machine (``test_state_machine.py``)
on the backend and on :class:`~tests.model.reference.ReferenceQueue` side by side
(:class:`~tests.model.compare.SideBySide`: same instants, same comparisons), so it fails
exactly where the two disagree. While a backend breaks the contract (``kmsg/queue.py``) its
test is marked ``xfail(strict=True)`` with the reason; the fix removes the mark.

Fixed: Redis's cross-queue move used to walk the dead letters newest first, so jobs moved
together came out in reverse, and of two dead letters sharing a dedupe key the newer one won.
"""

from __future__ import annotations

from uuid import uuid4

import pytest

from kmsg import JobState, NewJob
from tests.conformance.support import Ping
from tests.model.compare import HeldLease, SideBySide, paired
from tests.model.driver import Driver
from tests.model.reference import ReferenceQueue


class Script:
    """A scripted sequence on one backend and the model, compared call by call."""

    def __init__(self, driver: Driver) -> None:
        self.model = ReferenceQueue(driver.time.clock)
        self.sides = SideBySide(driver, self.model)
        self.source = f"r{uuid4().hex[:12]}"
        self.target = f"{self.source}-to"

    def enqueue(self, job_id: str, dedupe_key: str | None = None) -> None:
        """Enqueue one job into the source queue: this id, one attempt, maybe a dedupe key."""
        new = NewJob(
            payload=Ping(n=0),
            queue=self.source,
            job_id=job_id,
            max_attempts=1,
            dedupe_key=dedupe_key,
        )
        self.sides.call(
            f"enqueue {job_id}",
            lambda q: q.enqueue_many([new]),
            lambda: self.model.enqueue_many([new]),
        )

    def claim(self, queue: str, limit: int = 1) -> list[HeldLease]:
        """Claim on both sides; the claimed jobs must match."""
        got, want = self.sides.run(
            lambda q: q.claim(queue, limit=limit, lease=300.0),
            lambda _: self.model.claim(queue, limit=limit, lease=300.0),
        )
        self.sides.same(f"claim {queue} limit={limit}", got, want)
        return paired(got, want)

    def dead_letter(self, held: HeldLease) -> None:
        """Fail a held job (its last attempt): it becomes a dead letter."""
        self.sides.call(
            f"fail {held.real.job_id}",
            lambda q: q.fail(held.real, "boom"),
            lambda: self.model.fail(held.model, "boom"),
        )

    def move_all(self) -> None:
        """``retry_failed(source, to_queue=target)``: every dead letter."""
        self.sides.call(
            "retry_failed to_queue",
            lambda q: q.retry_failed(self.source, to_queue=self.target),
            lambda: self.model.retry_failed(self.source, to_queue=self.target),
        )

    def listing(self, queue: str, state: JobState) -> None:
        """Compare one state's listing (one page)."""
        self.sides.call(
            f"list_jobs {queue} {state}",
            lambda q: q.list_jobs(queue, state),
            lambda: self.model.list_jobs(queue, state),
        )


@pytest.mark.model
def test_jobs_moved_together_go_oldest_dead_letter_first(
    driver: Driver,
) -> None:
    """A and B (same priority) die in that order and move together: A is claimed first."""
    script = Script(driver)
    script.enqueue("A")
    script.enqueue("B")
    first, second = script.claim(script.source, limit=2)
    script.dead_letter(first)
    script.dead_letter(second)
    script.move_all()
    script.claim(script.target, limit=2)


@pytest.mark.model
def test_a_move_takes_the_oldest_dead_letter_first(
    driver: Driver,
) -> None:
    """E and then F (one dedupe key) die; a move of all takes E, and F stays dead (the key is
    E's by then), as retry_failed within a queue does."""
    script = Script(driver)
    script.enqueue("E", dedupe_key="k")
    (held,) = script.claim(script.source)
    script.dead_letter(held)
    script.enqueue("F", dedupe_key="k")
    (held,) = script.claim(script.source)
    script.dead_letter(held)
    script.move_all()
    script.listing(script.target, JobState.PENDING)
    script.listing(script.source, JobState.FAILED)
