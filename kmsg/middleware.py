"""The one seam around every queue operation: middleware sees each operation and its outcome.

A middleware is a callable ``(operation, call_next) -> result``: it may look at the operation
(a value of :mod:`kmsg.operations`), run it with ``call_next(operation)`` (the rest of the chain,
then the backend), and look at or pass on the result or the error. Async queues take async
middleware (:class:`Middleware`), :class:`kmsg.sync.SyncQueue` sync middleware
(:class:`SyncMiddleware`); a class may be both. Add it with ``queue.use(middleware)``; the first
added runs outermost. Metrics (:class:`kmsg.metrics.EnqueueCounter`) hook in here, and tracing
and events will, once for every backend.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from kmsg.operations import Operation

__all__ = ["Middleware", "Next", "SyncMiddleware", "SyncNext", "chain", "chain_sync"]

Next = Callable[[Operation], Awaitable[Any]]
"""What an async middleware calls to run the operation further in."""
SyncNext = Callable[[Operation], Any]
"""What a sync middleware calls to run the operation further in."""


class Middleware(Protocol):
    """Async middleware (see the module docstring)."""

    async def __call__(self, operation: Operation, call_next: Next) -> Any:
        """Run ``operation`` (``await call_next(operation)``), seeing it and its outcome."""
        ...


class SyncMiddleware(Protocol):
    """Sync middleware, for :class:`kmsg.sync.SyncQueue` (see the module docstring)."""

    def sync_call(self, operation: Operation, call_next: SyncNext) -> Any:
        """Run ``operation`` (``call_next(operation)``), seeing it and its outcome."""
        ...


def chain(middleware: Sequence[Middleware], last: Next) -> Next:
    """``last`` wrapped in ``middleware``, the first one outermost."""
    run = last
    for outer in reversed(middleware):
        run = _wrap(outer, run)
    return run


def _wrap(outer: Middleware, inner: Next) -> Next:
    async def run(operation: Operation) -> Any:
        return await outer(operation, inner)

    return run


def chain_sync(middleware: Sequence[SyncMiddleware], last: SyncNext) -> SyncNext:
    """``last`` wrapped in sync ``middleware``, the first one outermost."""
    run = last
    for outer in reversed(middleware):
        run = _wrap_sync(outer, run)
    return run


def _wrap_sync(outer: SyncMiddleware, inner: SyncNext) -> SyncNext:
    def run(operation: Operation) -> Any:
        return outer.sync_call(operation, inner)

    return run
