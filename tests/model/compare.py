"""How one operation runs on a backend and on the model side by side, and what is compared.

With a shared clock every field is compared, times included. With a server clock the times
differ by how long the test took, so a snapshot is compared by its other fields and by which
times are set (see :mod:`tests.model.driver`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeAlias, TypeVar

import msgspec

from kmsg import ClaimedJob, Job, JobNotFound, JobPage, JobQueue, Lease, LeaseLost, QueueStats
from tests.model.driver import Driver
from tests.model.reference import ReferenceQueue

__all__ = [
    "HeldLease",
    "Outcome",
    "SideBySide",
    "attempt",
    "paired",
    "presence",
    "timeless",
    "view",
]

T = TypeVar("T")
U = TypeVar("U")
Outcome: TypeAlias = T | LeaseLost | JobNotFound
"""A call's result, or the contract error it raised (errors are outcomes to compare too)."""


@dataclass(frozen=True)
class HeldLease:
    """One claim's lease as each side issued it: same job, different tokens."""

    real: Lease
    model: Lease


def paired(got: object, want: object) -> list[HeldLease]:
    """The leases of the jobs both sides claimed (the claims already compared equal)."""
    assert isinstance(got, list)
    assert isinstance(want, list)
    pairs: list[tuple[ClaimedJob, ClaimedJob]] = list(zip(got, want, strict=True))
    return [HeldLease(real.lease, model.lease) for real, model in pairs]


def attempt(call: Callable[[], T]) -> Outcome[T]:
    """``call()``, or the ``LeaseLost`` / ``JobNotFound`` it raised."""
    try:
        return call()
    except (LeaseLost, JobNotFound) as error:
        return error


def presence(value: float | None) -> str | None:
    """A time shown only by whether it is set."""
    return None if value is None else "set"


def timeless(job: Job) -> tuple[object, ...]:
    """Every field of a snapshot that does not depend on the clock; times by presence."""
    errors = tuple((e.attempt, e.type, e.message) for e in job.errors)
    times = (job.lease_until, job.completed_at, job.failed_at, job.cancelled_at)
    return (
        *(job.id, job.queue, job.task, job.payload, job.state, job.priority, job.attempts),
        *(job.max_attempts, job.backoff, job.lease, job.dedupe_key, errors, job.result),
        job.cancel_requested,
        *(presence(t) for t in times),
    )


def view(value: object, *, exact: bool) -> object:
    """What of an outcome is compared: all of it when ``exact``, else nothing clock-made.

    Lease tokens and listing cursors are never compared (each side makes its own); a
    ``LeaseLost`` is compared by job and reason, a ``JobNotFound`` by job.
    """
    if isinstance(value, list | tuple):
        return [view(item, exact=exact) for item in value]
    if isinstance(value, ClaimedJob):
        return view(value.job, exact=exact)
    if isinstance(value, JobPage):
        return view(value.jobs, exact=exact)
    if isinstance(value, LeaseLost):
        return ("LeaseLost", value.queue, value.job_id, value.reason)
    if isinstance(value, JobNotFound):
        return ("JobNotFound", value.queue, value.job_id)
    if exact:
        return value
    if isinstance(value, Job):
        return timeless(value)
    if isinstance(value, QueueStats):
        age = presence(value.oldest_pending_age)
        return (msgspec.structs.replace(value, oldest_pending_age=None), age)
    if isinstance(value, float):
        return "a deadline"
    return value


@dataclass
class SideBySide:
    """A backend (through its :class:`~tests.model.driver.Driver`) and the model, kept in step:
    each operation runs on both at one instant and their outcomes are compared."""

    driver: Driver
    model: ReferenceQueue
    failed: bool = False
    """Set once a comparison failed or an operation raised something unexpected."""

    def run(
        self, real: Callable[[JobQueue], Awaitable[T]], model: Callable[[Outcome[T]], U]
    ) -> tuple[Outcome[T], Outcome[U]]:
        """One operation on both sides at one instant: the backend first (``model`` gets its
        outcome, to learn the ids the backend chose), then the model."""
        time = self.driver.time
        time.before()
        try:
            got = attempt(lambda: self.driver.call(real))
            want = attempt(lambda: model(got))
        except BaseException:
            self.failed = True
            raise
        time.after(self.model.lease_deadlines())
        return got, want

    def same(self, what: str, got: object, want: object) -> None:
        """Fail unless the backend's outcome is the model's (as far as the clocks agree)."""
        exact = self.driver.time.exact
        if view(got, exact=exact) != view(want, exact=exact):
            self.failed = True
            raise AssertionError(f"{what}:\n  backend: {got!r}\n  model:   {want!r}")

    def call(
        self, what: str, real: Callable[[JobQueue], Awaitable[T]], model: Callable[[], U]
    ) -> Outcome[T]:
        """Run one operation on both sides, compare the outcomes, return the backend's."""
        got, want = self.run(real, lambda _: model())
        self.same(what, got, want)
        return got
