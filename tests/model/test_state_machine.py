"""Model-based test: random operation sequences, run on a real backend and on the reference model.

:class:`QueueMachine` is a Hypothesis ``RuleBasedStateMachine``. Each step does one thing to
a real backend, through the public :class:`kmsg.JobQueue` API only, and the same thing to
:class:`~tests.model.reference.ReferenceQueue`, then compares what came back: the ids
returned, the jobs claimed (in order, with their snapshots), the states returned, each
``LeaseLost`` (with its reason) or ``JobNotFound`` raised or not, counts, stats and listings.
At the end of each run every job of both queues is compared, state by state in listing
order, and so are the stats. How time is kept in step with each backend (exactly on SQLite,
by outcomes that are certain on Redis) is in :mod:`tests.model.driver`; what is compared of
an outcome, in :mod:`tests.model.compare`; the options drawn, in :mod:`tests.model.options`.

One rule, ``step``, draws the operation by weight (``options.OPERATIONS``): with one rule per
operation Hypothesis spent most steps on a few of them and runs rarely got as far as a dead
letter. The lease or id an operation acts on is most often one the model says is live (a
held lease, a dead letter to retry, a live job to cancel), sometimes any ever seen. Each run
leaves a few operations out (swarm testing). ``retry_failed`` sometimes moves dead letters to
a second queue.

Size: by default ``EXACT_EXAMPLES`` examples on a driven clock (SQLite) and
``SERVER_EXAMPLES`` on a server clock (Redis, Redis Cluster), of up to ``STEPS`` steps each.
Measured on the 2-core development machine with ``.venv/bin/python -m pytest tests/model
--durations=0``: sqlite about 15 s, redis 16-25 s, redis-cluster 17-20 s (plus 2-3 s to
start the cluster); the whole folder about 55-65 s. For a longer search set
``KMSG_MODEL_EXAMPLES`` (examples per backend) and ``KMSG_MODEL_STEPS`` (most steps per
example); the per-test timeout is then lifted::

    KMSG_MODEL_EXAMPLES=3000 KMSG_MODEL_STEPS=60 .venv/bin/python -m pytest tests/model -x

(3000 examples take about 100 s on SQLite; on Redis each example takes about 0.4 s.)
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Final
from uuid import uuid4

import msgspec
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    rule,
    run_state_machine_as_test,
)

from kmsg import Job, JobQueue, JobState, NewJob
from tests.model.compare import HeldLease, SideBySide, paired
from tests.model.driver import Driver
from tests.model.options import (
    CLEAR_AT,
    ERRORS,
    LEASES,
    NEEDS_LEASE,
    PROGRESS,
    QUIET,
    RESULTS,
    RETRY_IN,
    REUSED_IDS,
    UNKNOWN_ID,
    WEIGHTED,
    JobSpec,
    job_batches,
    job_specs,
)
from tests.model.reference import LIVE, TERMINAL, ReferenceQueue

EXAMPLES: Final = int(os.environ.get("KMSG_MODEL_EXAMPLES", "0"))
"""Examples per backend (0: ``EXACT_EXAMPLES`` or ``SERVER_EXAMPLES``)."""
STEPS: Final = int(os.environ.get("KMSG_MODEL_STEPS", "40"))
"""Most steps per example."""
EXACT_EXAMPLES: Final = 500
"""Examples on a driven clock: cheap (about 30 ms each)."""
SERVER_EXAMPLES: Final = 40
"""Examples on a server clock: each sleeps past its short leases (about 0.4 s each)."""


class QueueMachine(RuleBasedStateMachine):
    """A queue of a real backend and the same queue in the model, driven side by side (with
    a second queue that dead letters may be moved to)."""

    def __init__(self, driver: Driver) -> None:
        super().__init__()
        self.time = driver.time
        self.model = ReferenceQueue(driver.time.clock)
        self.sides = SideBySide(driver, self.model)
        self.queue = f"m{uuid4().hex[:12]}"
        self.other = f"{self.queue}-to"
        """Where ``retry_failed(..., to_queue=...)`` moves dead letters."""
        self.leases: list[HeldLease] = []
        self.payloads = itertools.count()
        self.choices = list(WEIGHTED)

    # --- choosing what to act on ---------------------------------------------------------------

    def ids(self) -> list[str]:
        """Ids worth naming: every job's, the reused ones, and one that never exists."""
        known = {job.id for job in self.model.jobs(self.queue)}
        return sorted(known | {*REUSED_IDS, UNKNOWN_ID})

    def id_pool(self, data: st.DataObject, states: Iterable[JobState]) -> list[str]:
        """The ids of the jobs in ``states``, or (if none, or one time in four) every id."""
        wanted = set(states)
        chosen = sorted(job.id for job in self.model.jobs(self.queue) if job.state in wanted)
        if chosen and data.draw(st.integers(0, 3), label="any id?") > 0:
            return chosen
        return self.ids()

    def draw_id(self, data: st.DataObject, states: Iterable[JobState] = ()) -> str:
        """One id, as :meth:`id_pool` offers them."""
        return data.draw(st.sampled_from(self.id_pool(data, states)), label="job_id")

    def draw_ids(self, data: st.DataObject, states: Iterable[JobState]) -> list[str] | None:
        """None (every job), or 1-3 ids as :meth:`id_pool` offers them."""
        some = st.lists(st.sampled_from(self.id_pool(data, states)), min_size=1, max_size=3)
        return data.draw(st.none() | some, label="job_ids")

    def lease_pool(self, data: st.DataObject) -> list[HeldLease]:
        """The leases still held, or (if none, or one time in four) every lease ever issued:
        stale, of a job that ended, or of one now gone."""
        held = [lease for lease in self.leases if self.model.holds(lease.model)]
        if held and data.draw(st.integers(0, 3), label="any lease?") > 0:
            return held
        return self.leases

    def model_jobs(self, jobs: Sequence[NewJob], got: object) -> list[NewJob]:
        """``jobs`` as the model takes them. Where the backend chose an id, the model uses it
        if it is new (no job's, not earlier in the batch), else an id that matches nothing:
        so a backend that wrongly deduplicates, or wrongly creates a job, is caught."""
        if not isinstance(got, list):
            return list(jobs)
        taken = {job.id for job in self.model.jobs(self.queue)}
        chosen: list[NewJob] = []
        for index, job in enumerate(jobs):
            job_id = job.job_id
            if job_id is None:
                job_id = got[index] if got[index] not in taken else f"unexpected-{index}"
            taken.add(job_id)
            chosen.append(msgspec.structs.replace(job, job_id=job_id))
        return chosen

    # --- the one rule ------------------------------------------------------------------------

    @initialize(specs=st.lists(job_specs, min_size=1, max_size=4), quiet=st.sets(QUIET))
    def start(self, specs: list[JobSpec], quiet: set[str]) -> None:
        """Begin with a few jobs; leave the ``quiet`` operations out of this run (swarm
        testing: some faults only show when an operation that would hide them never runs)."""
        self.choices = [name for name in WEIGHTED if name not in quiet]
        self.enqueue_many(specs)

    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        """One operation, drawn by weight (``options.OPERATIONS``); one that needs a lease
        when none was ever issued is a ``claim`` instead."""
        name = data.draw(st.sampled_from(self.choices), label="operation")
        if name in NEEDS_LEASE and not self.leases:
            name = "claim"
        self.operations[name](data)

    @property
    def operations(self) -> dict[str, Callable[[st.DataObject], None]]:
        """Each operation's name and the method that runs it on both sides."""
        return {
            "claim": self.claim,
            "claim_moved": lambda data: self.claim(data, self.other),
            "enqueue": self.enqueue,
            "enqueue_many": lambda data: self.enqueue_many(data.draw(job_batches, "jobs")),
            "complete": self.complete,
            "fail": self.fail,
            "snooze": self.snooze,
            "extend": self.extend,
            "release": self.release,
            "complete_many": self.complete_many,
            "extend_many": self.extend_many,
            "cancel": self.cancel,
            "retry_failed": self.retry_failed,
            "purge_failed": self.purge_failed,
            "remove": self.remove,
            "cleanup": self.cleanup,
            "clear": self.clear,
            "pause": self.pause,
            "resume": self.resume,
            "set_rate_limit": self.set_rate_limit,
            "time_passes": self.time_passes,
            "get": self.get,
            "stats": lambda _: self.stats(self.queue),
            "list_jobs": self.list_jobs,
            "peek": self.peek,
        }

    # --- producing -----------------------------------------------------------------------------

    def enqueue(self, data: st.DataObject) -> None:
        """``enqueue`` one job."""
        new = data.draw(job_specs, label="job").new_job(self.queue, next(self.payloads))
        options = {f: getattr(new, f) for f in new.__struct_fields__ if f != "payload"}
        got, want = self.sides.run(
            lambda q: q.enqueue(new.payload, **options),
            lambda got: self.model.enqueue_many(self.model_jobs([new], [got]))[0],
        )
        self.sides.same("enqueue", got, want)

    def enqueue_many(self, specs: list[JobSpec]) -> None:
        """``enqueue_many`` a batch (a later job may dedupe onto an earlier one)."""
        jobs = [spec.new_job(self.queue, next(self.payloads)) for spec in specs]
        got, want = self.sides.run(
            lambda q: q.enqueue_many(jobs),
            lambda got: self.model.enqueue_many(self.model_jobs(jobs, got)),
        )
        self.sides.same("enqueue_many", got, want)

    # --- consuming -----------------------------------------------------------------------------

    def claim(self, data: st.DataObject, queue: str | None = None) -> None:
        """``claim`` 1-3 jobs (under their own lease, or a short or long one); both sides'
        leases are kept for the fenced calls."""
        queue = queue or self.queue
        limit = data.draw(st.integers(1, 3), label="limit")
        lease = data.draw(st.sampled_from((None, *LEASES)), label="lease")
        got, want = self.sides.run(
            lambda q: q.claim(queue, limit=limit, lease=lease),
            lambda _: self.model.claim(queue, limit=limit, lease=lease),
        )
        self.sides.same(f"claim {queue} limit={limit} lease={lease}", got, want)
        self.leases += paired(got, want)

    def draw_lease(self, data: st.DataObject) -> HeldLease:
        """One lease: most often a held one, sometimes any (stale, ended, gone)."""
        return data.draw(st.sampled_from(self.lease_pool(data)), label="lease")

    def draw_leases(self, data: st.DataObject) -> list[HeldLease]:
        """1-3 leases as :meth:`draw_lease` picks them (repeats allowed)."""
        pool = st.sampled_from(self.lease_pool(data))
        return data.draw(st.lists(pool, min_size=1, max_size=3), label="leases")

    def complete(self, data: st.DataObject) -> None:
        """``complete`` a lease (a held one, or replay one, or a stale one)."""
        held = self.draw_lease(data)
        result = data.draw(st.sampled_from(RESULTS), label="result")
        self.sides.call(
            f"complete {held.real.job_id}",
            lambda q: q.complete(held.real, result=result),
            lambda: self.model.complete(held.model, result=result),
        )

    def fail(self, data: st.DataObject) -> None:
        """``fail`` a lease: retried after its backoff or ``retry_in``, or dead-lettered."""
        held = self.draw_lease(data)
        error = data.draw(st.sampled_from(ERRORS), label="error")
        retry_in = data.draw(st.sampled_from(RETRY_IN), label="retry_in")
        retryable = data.draw(st.booleans(), label="retryable")
        self.sides.call(
            f"fail {held.real.job_id} retry_in={retry_in} retryable={retryable}",
            lambda q: q.fail(held.real, error, retry_in=retry_in, retryable=retryable),
            lambda: self.model.fail(held.model, error, retry_in=retry_in, retryable=retryable),
        )

    def snooze(self, data: st.DataObject) -> None:
        """``snooze`` a lease: back later without an attempt, or a failure past the maximum."""
        held = self.draw_lease(data)
        delay = data.draw(st.sampled_from([r for r in RETRY_IN if r is not None]), label="delay")
        most = data.draw(st.integers(1, 3), label="max_snoozes")
        self.sides.call(
            f"snooze {held.real.job_id} delay={delay} max_snoozes={most}",
            lambda q: q.snooze(held.real, delay, reason="busy", max_snoozes=most),
            lambda: self.model.snooze(held.model, delay, reason="busy", max_snoozes=most),
        )

    def extend(self, data: st.DataObject) -> None:
        """``extend`` a lease by a short or a long duration."""
        held = self.draw_lease(data)
        duration = data.draw(st.sampled_from(LEASES), label="duration")
        progress = data.draw(st.sampled_from(PROGRESS), label="progress")
        self.sides.call(
            f"extend {held.real.job_id} by {duration} progress={progress!r}",
            lambda q: q.extend(held.real, duration, progress=progress),
            lambda: self.model.extend(held.model, duration, progress=progress),
        )

    def release(self, data: st.DataObject) -> None:
        """``release`` a lease (attempt refunded; a requested cancel wins)."""
        held = self.draw_lease(data)
        self.sides.call(
            f"release {held.real.job_id}",
            lambda q: q.release(held.real),
            lambda: self.model.release(held.model),
        )

    def complete_many(self, data: st.DataObject) -> None:
        """``complete_many`` 1-3 leases."""
        batch = self.draw_leases(data)
        result = data.draw(st.sampled_from(RESULTS), label="result")
        self.sides.call(
            "complete_many",
            lambda q: q.complete_many([(held.real, result) for held in batch]),
            lambda: self.model.complete_many([(held.model, result) for held in batch]),
        )

    def extend_many(self, data: st.DataObject) -> None:
        """``extend_many`` 1-3 leases."""
        batch = self.draw_leases(data)
        duration = data.draw(st.sampled_from(LEASES), label="duration")
        progress = [data.draw(st.sampled_from(PROGRESS), label="progress") for _ in batch]
        self.sides.call(
            f"extend_many by {duration} progress={progress!r}",
            lambda q: q.extend_many([held.real for held in batch], duration, progress=progress),
            lambda: self.model.extend_many(
                [held.model for held in batch], duration, progress=progress
            ),
        )

    # --- one job by id -------------------------------------------------------------------------

    def cancel(self, data: st.DataObject) -> None:
        """``cancel`` a job: most often a live one (a held one gets a cancel request)."""
        job_id = self.draw_id(data, LIVE)
        self.sides.call(
            f"cancel {job_id}",
            lambda q: q.cancel(self.queue, job_id),
            lambda: self.model.cancel(self.queue, job_id),
        )

    def remove(self, data: st.DataObject) -> None:
        """``remove`` a job in any state (or one that does not exist)."""
        job_id = self.draw_id(data)
        self.sides.call(
            f"remove {job_id}",
            lambda q: q.remove(self.queue, job_id),
            lambda: self.model.remove(self.queue, job_id),
        )

    def get(self, data: st.DataObject) -> None:
        """``get`` a job (or one that does not exist)."""
        job_id = self.draw_id(data)
        self.sides.call(
            f"get {job_id}",
            lambda q: q.get(self.queue, job_id),
            lambda: self.model.get(self.queue, job_id),
        )

    # --- dead letters and housekeeping ---------------------------------------------------------

    def retry_failed(self, data: st.DataObject) -> None:
        """``retry_failed`` every dead letter or a few ids (a dead letter whose dedupe key a
        live job holds stays dead), back into the queue, or moved to the other one."""
        ids = self.draw_ids(data, [JobState.FAILED])
        move = data.draw(st.booleans(), label="move?")
        to_queue = self.other if move else None
        self.sides.call(
            f"retry_failed {ids} to_queue={to_queue}",
            lambda q: q.retry_failed(self.queue, ids, to_queue=to_queue),
            lambda: self.model.retry_failed(self.queue, ids, to_queue=to_queue),
        )

    def purge_failed(self, data: st.DataObject) -> None:
        """``purge_failed`` every dead letter or a few ids, maybe only older ones."""
        ids = self.draw_ids(data, [JobState.FAILED])
        age = data.draw(st.sampled_from((None, *self.time.ages)), label="older_than")
        self.sides.call(
            f"purge_failed {ids} older_than={age}",
            lambda q: q.purge_failed(self.queue, ids, older_than=age),
            lambda: self.model.purge_failed(self.queue, ids, older_than=age),
        )

    def cleanup(self, data: st.DataObject) -> None:
        """``cleanup`` terminal jobs that ended long enough ago."""
        states = data.draw(st.sets(st.sampled_from(sorted(TERMINAL)), min_size=1), "states")
        age = data.draw(st.sampled_from(self.time.ages), label="older_than")
        self.sides.call(
            f"cleanup {sorted(states)} older_than={age}",
            lambda q: q.cleanup(self.queue, sorted(states), age),
            lambda: self.model.cleanup(self.queue, states, age),
        )

    def clear(self, data: st.DataObject) -> None:
        """``clear`` the queue, once it holds ``CLEAR_AT`` jobs (it undoes everything)."""
        if self.model.count(self.queue, JobState) >= CLEAR_AT:
            self.sides.call(
                "clear", lambda q: q.clear(self.queue), lambda: self.model.clear(self.queue)
            )

    def pause(self, data: st.DataObject) -> None:
        """``pause`` the queue: claims hand out nothing."""
        self.sides.call(
            "pause", lambda q: q.pause(self.queue), lambda: self.model.pause(self.queue)
        )

    def resume(self, data: st.DataObject) -> None:
        """``resume`` the queue."""
        self.sides.call(
            "resume", lambda q: q.resume(self.queue), lambda: self.model.resume(self.queue)
        )

    def set_rate_limit(self, data: st.DataObject) -> None:
        """``set_rate_limit`` (one whose effect is certain under this timekeeping) or remove
        it."""
        limit = data.draw(st.sampled_from((None, *self.time.rate_limits)), label="limit")
        max_jobs, per_seconds = (None, 1.0) if limit is None else limit
        self.sides.call(
            f"set_rate_limit {limit}",
            lambda q: q.set_rate_limit(self.queue, max_jobs, per_seconds),
            lambda: self.model.set_rate_limit(self.queue, max_jobs, per_seconds),
        )

    def time_passes(self, data: st.DataObject) -> None:
        """Let time pass (to a short lease's very end, past it, or hours on, where allowed)."""
        self.time.pass_time(data.draw(st.sampled_from(self.time.jumps), label="seconds"))

    # --- reading -------------------------------------------------------------------------------

    def peek(self, data: st.DataObject) -> None:
        """``peek`` at the next 1-3 pending jobs, in claim order."""
        limit = data.draw(st.integers(1, 3), label="limit")
        self.sides.call(
            f"peek {limit}",
            lambda q: q.peek(self.queue, limit=limit),
            lambda: self.model.peek(self.queue, limit=limit),
        )

    def list_jobs(self, data: st.DataObject) -> None:
        """One state's ``list_jobs``, paged through 1, 2 or 100 at a time."""
        state = data.draw(st.sampled_from(JobState), label="state")
        self.list_state(self.queue, state, data.draw(st.sampled_from((100, 1, 2)), label="page"))

    def stats(self, queue: str) -> None:
        """Compare the counts per state, the oldest pending age and the settings."""
        self.sides.call(f"stats {queue}", lambda q: q.stats(queue), lambda: self.model.stats(queue))

    def list_state(self, queue: str, state: JobState, page: int) -> None:
        """Compare one state's whole listing, read ``page`` jobs at a time."""
        self.sides.call(
            f"list_jobs {queue} {state} by {page}",
            lambda q: self.list_all(q, queue, state, page),
            lambda: list(self.model.list_jobs(queue, state, limit=10_000).jobs),
        )

    @staticmethod
    async def list_all(backend: JobQueue, queue: str, state: JobState, page: int) -> list[Job]:
        """Every job of ``state`` on the backend, ``page`` at a time, following the cursor."""
        jobs: list[Job] = []
        cursor = None
        for _ in range(1000):
            listed = await backend.list_jobs(queue, state, limit=page, cursor=cursor)
            jobs += listed.jobs
            cursor = listed.next_cursor
            if cursor is None:
                return jobs
        raise AssertionError(f"listing {state} never ended")

    def teardown(self) -> None:
        """Compare every job, state by state in listing order, and the stats (unless a step
        failed already: its report is the one that matters)."""
        if self.sides.failed:
            return
        for queue in (self.queue, self.other):
            for state in JobState:
                self.list_state(queue, state, 100)
            self.stats(queue)


def machine_settings(driver: Driver) -> settings:
    """The Hypothesis settings for one backend (sizes: the module docstring)."""
    default = EXACT_EXAMPLES if driver.time.exact else SERVER_EXAMPLES
    return settings(
        max_examples=EXAMPLES or default,
        stateful_step_count=STEPS,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


@pytest.mark.model
@pytest.mark.timeout(0 if EXAMPLES else 180)
def test_backend_follows_the_model(driver: Driver) -> None:
    """Random operation sequences have the same outcomes on the backend and in the model."""
    run_state_machine_as_test(
        lambda: QueueMachine(driver),  # type: ignore[arg-type]  # a factory is fine too
        settings=machine_settings(driver),
    )
