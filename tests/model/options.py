"""What the state machine draws from: small sets of options, so that random sequences meet.

Two reusable job ids, dedupe keys mostly shared, three priorities, 1-3 attempts, leases that
end within the test or never, due times and backoffs of zero or of hours, and the weight of
each operation (how often a step runs it). Every value is one whose outcome is certain under
either timekeeping (:mod:`tests.model.driver`); the "time passes" jumps, rate limits and ages
that depend on the timekeeping are the driver's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hypothesis import strategies as st

from kmsg import Backoff, NewJob
from tests.conformance.support import Ping
from tests.model.driver import HOUR, LONG_LEASE, SHORT_LEASE

__all__ = [
    "CLEAR_AT",
    "ERRORS",
    "LEASES",
    "NEEDS_LEASE",
    "OPERATIONS",
    "QUIET",
    "PROGRESS",
    "RESULTS",
    "RETRY_IN",
    "REUSED_IDS",
    "UNKNOWN_ID",
    "WEIGHTED",
    "JobSpec",
    "job_batches",
    "job_specs",
]

REUSED_IDS: Final = ("a", "b")
"""Job ids given on purpose, so that they are reused (otherwise the backend picks the id)."""
UNKNOWN_ID: Final = "nobody"
"""An id no job ever has."""
DEDUPE_KEYS: Final = (None, "k1", "k1", "k2")
"""Most keyed jobs share one key, so that dedupe meets retries and dead letters often."""
PRIORITIES: Final = (0, 1, -1)
LEASES: Final = (SHORT_LEASE, LONG_LEASE)
WHEN: Final = ((None, None), (HOUR, None), (0.0, None), (None, 1.0), (None, 4e9))
"""``(delay, run_at)``: due now, in an hour, now (by a zero delay), long ago (due at once,
ahead of every job of its priority), or in 2096: certain whatever the clock."""
BACKOFFS: Final = (
    Backoff(initial=0.0, factor=1.0, maximum=0.0),
    Backoff(initial=1.5 * HOUR, factor=2.0, maximum=24 * HOUR),
)
RETRY_IN: Final = (None, 0.0, 2 * HOUR)
ERRORS: Final[tuple[str | Exception, ...]] = ("plain failure", ValueError("bad value"))
RESULTS: Final = (None, b"done")
PROGRESS: Final = (None, b"0.5", b'{"sent": 1}')
CLEAR_AT: Final = 6
"""Jobs the queue must hold before ``clear`` runs (it undoes everything, so it is kept rare)."""

OPERATIONS: Final = {
    "claim": 5,
    "claim_moved": 1,
    "enqueue": 4,
    "enqueue_many": 2,
    "complete": 2,
    "fail": 4,
    "snooze": 2,
    "extend": 1,
    "release": 1,
    "complete_many": 1,
    "extend_many": 1,
    "cancel": 2,
    "retry_failed": 3,
    "purge_failed": 1,
    "remove": 1,
    "cleanup": 1,
    "clear": 1,
    "pause": 1,
    "resume": 2,
    "set_rate_limit": 1,
    "time_passes": 3,
    "get": 1,
    "stats": 1,
    "list_jobs": 1,
    "peek": 1,
}
"""Each operation a step may run, and its weight (how often it is drawn, relatively)."""
WEIGHTED: Final = tuple(name for name, weight in OPERATIONS.items() for _ in range(weight))
NEEDS_LEASE: Final = frozenset(
    {"complete", "fail", "snooze", "extend", "release", "complete_many", "extend_many"}
)
QUIET: Final = st.sampled_from(sorted(set(OPERATIONS) - {"claim", "enqueue"}))
"""The operations a run may leave out (all but the two every run needs)."""


@dataclass(frozen=True)
class JobSpec:
    """The options of one job to enqueue, drawn from the small sets above."""

    job_id: str | None
    priority: int
    dedupe_key: str | None
    max_attempts: int
    lease: float
    when: tuple[float | None, float | None]
    backoff: Backoff

    def new_job(self, queue: str, n: int) -> NewJob:
        """The job to enqueue, with payload ``Ping(n=n)``."""
        return NewJob(
            payload=Ping(n=n),
            queue=queue,
            priority=self.priority,
            delay=self.when[0],
            run_at=self.when[1],
            max_attempts=self.max_attempts,
            backoff=self.backoff,
            lease=self.lease,
            dedupe_key=self.dedupe_key,
            job_id=self.job_id,
        )


job_specs: Final = st.builds(
    JobSpec,
    job_id=st.none() | st.sampled_from(REUSED_IDS),
    priority=st.sampled_from(PRIORITIES),
    dedupe_key=st.sampled_from(DEDUPE_KEYS),
    max_attempts=st.integers(1, 3),
    lease=st.sampled_from(LEASES),
    when=st.sampled_from(WHEN),
    backoff=st.sampled_from(BACKOFFS),
)
job_batches: Final = st.lists(job_specs, min_size=2, max_size=3)
