"""Cutting bulk work into bounded steps: each its own transaction of at most ``STEP_JOBS`` jobs
and about ``STEP_BYTES`` of new data (see :mod:`kmsg.queue`), so the write lock is never held
for long and other writers (a worker's claims and acknowledgements) get in between the steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from kmsg.validation import STEP_BYTES, STEP_JOBS

__all__ = ["most_steps", "sized_steps"]

T = TypeVar("T")


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
