"""Cutting work into bounded steps (see :mod:`kmsg.queue`): pure helpers every backend uses.

A step is one Lua script call or one SQLite transaction, touching at most ``STEP_JOBS`` jobs and
writing about ``STEP_BYTES`` of new data at most, so the server (or the write lock) is never held
for long and other clients get in between the steps of a bulk call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from kmsg.errors import IncompleteBatch
from kmsg.jobs import PreparedJob
from kmsg.models import Enqueued
from kmsg.plans import Plan
from kmsg.validation import STEP_BYTES, STEP_JOBS

__all__ = ["batch_steps", "chunks", "in_steps", "most_steps", "sized_steps"]

T = TypeVar("T")
S = TypeVar("S")


def chunks(items: Sequence[T], size: int = STEP_JOBS) -> list[Sequence[T]]:
    """``items`` cut into consecutive slices of at most ``size`` (none for an empty sequence)."""
    return [items[start : start + size] for start in range(0, len(items), size)]


def sized_steps(items: Sequence[T], size: Callable[[T], int]) -> list[Sequence[T]]:
    """``items`` cut, in order, into slices of at most ``STEP_JOBS`` items whose ``size`` adds
    up to about ``STEP_BYTES`` at most (a single bigger item is a step of its own)."""
    steps: list[Sequence[T]] = []
    start, total = 0, 0
    for index, item in enumerate(items):
        weight = size(item)
        if index > start and (index - start >= STEP_JOBS or total + weight > STEP_BYTES):
            steps.append(items[start:index])
            start, total = index, 0
        total += weight
    if start < len(items):
        steps.append(items[start:])
    return steps


def most_steps(count: int) -> int:
    """How many steps of ``STEP_JOBS`` can be needed for ``count`` jobs found when a bulk call
    began (one more for the step that finds fewer): the bound of every bulk loop."""
    return count // STEP_JOBS + 1


def batch_steps(jobs: Sequence[PreparedJob], *, per_queue: bool) -> list[list[int]]:
    """The indexes of ``jobs`` grouped into the atomic steps of an ``enqueue_many``.

    A step holds at most ``STEP_JOBS`` jobs and about ``STEP_BYTES`` of payload (a single bigger
    job is a step of its own); with ``per_queue`` every step holds jobs of one queue only. Input
    order is kept within each queue, so dedupe between jobs of a batch applies in order.
    """
    if len(jobs) == 1:
        return [[0]]
    groups: dict[str, list[int]] = {}
    for index, job in enumerate(jobs):
        groups.setdefault(job.queue if per_queue else "", []).append(index)
    return [
        list(step)
        for indexes in groups.values()
        for step in sized_steps(indexes, lambda index: len(jobs[index].payload))
    ]


def in_steps(
    jobs: Sequence[PreparedJob],
    steps: list[list[int]],
    write: Callable[[list[PreparedJob]], Plan[S, list[Enqueued]]],
) -> Plan[S, list[Enqueued]]:
    """Plan: ``write`` each step's jobs in turn; return what each job's enqueue did, in input
    order.

    If a step fails after an earlier one stored its jobs, ``IncompleteBatch`` (caused by the
    step's error) says which ids are stored; if the first step fails, its error is raised as is.
    """
    if len(steps) == 1:  # one atomic step: nothing can be half done
        return (yield from write(list(jobs)))
    ids = [job.id for job in jobs]
    results: list[Enqueued | None] = [None] * len(jobs)
    stored: set[str] = set()
    for number, step in enumerate(steps):
        try:
            written = yield from write([jobs[index] for index in step])
        except Exception as exc:
            if number == 0:
                raise
            raise IncompleteBatch(
                f"enqueue_many stored {len(stored)} of {len(jobs)} jobs before step"
                f" {number + 1} of {len(steps)} failed ({type(exc).__name__}: {exc}); send the"
                " rest again with the same job ids",
                ids=ids,
                stored=frozenset(stored),
            ) from exc
        for index, result in zip(step, written, strict=True):
            ids[index] = result.id
            results[index] = result
        stored.update(result.id for result in written)
    return [result for result in results if result is not None]
