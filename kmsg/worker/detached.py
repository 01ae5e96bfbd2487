"""Job tasks a worker can walk away from: an anyio task group hosted by a detached task.

An anyio task group always waits for its children, so a handler that swallows cancellation
(``except BaseException: pass``) would keep ``Worker.run()`` and ``stop()`` waiting forever. The
worker therefore starts its job tasks in a :class:`DetachedTaskGroup`: an ordinary anyio task group
whose *host* is a task nobody awaits (asyncio: ``loop.create_task``, with a strong reference kept
here; trio: ``trio.lowlevel.spawn_system_task``). Starting a job costs what it costs in any task
group, cancel scopes behave as usual, and the host is made once per run. The worker tracks its
jobs through its own accounting; when one will not end, it stops waiting and returns, and the
group stays behind until its last task ends.

A task that raises a ``BaseException`` other than cancellation (``KeyboardInterrupt``,
``SystemExit``) ends the group as it would end any task group: the other tasks are cancelled, and
the exception is kept in :attr:`DetachedTaskGroup.error` for the owner to raise.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from typing import Any, TypeVarTuple

import anyio
import anyio.abc

__all__ = ["DetachedTaskGroup"]

PosArgs = TypeVarTuple("PosArgs")
_hosts: set[asyncio.Task[None]] = set()  # asyncio keeps only weak references to tasks


def _on_asyncio() -> bool:
    try:
        return asyncio.current_task() is not None
    except RuntimeError:  # no asyncio loop in this thread: trio
        return False


class DetachedTaskGroup:
    """A task group that its opener does not wait for.

    ``on_end(error)`` is called when the group has ended, with :attr:`error`.
    """

    def __init__(
        self, name: str, on_end: Callable[[BaseException | None], None] = lambda error: None
    ) -> None:
        self._name = name
        self._on_end = on_end
        self._group: anyio.abc.TaskGroup | None = None
        self._ready = anyio.Event()
        self._closing = anyio.Event()
        self._ended = anyio.Event()
        self.error: BaseException | None = None
        """What ended the group, if a task raised something other than cancellation."""

    async def open(self) -> None:
        """Start the host task and wait until the group accepts tasks."""
        if _on_asyncio():
            task = asyncio.get_running_loop().create_task(self._host(), name=self._name)
            _hosts.add(task)
            task.add_done_callback(_hosts.discard)
        else:
            import trio

            trio.lowlevel.spawn_system_task(
                self._host, name=self._name, context=contextvars.copy_context()
            )
        await self._ready.wait()

    def start_soon(
        self, func: Callable[[*PosArgs], Coroutine[Any, Any, object]], *args: *PosArgs, name: str
    ) -> None:
        """Start ``func(*args)`` as a task of the group (in the caller's context variables)."""
        if self._group is None:
            raise self.error or RuntimeError(f"{self._name} is not open")
        self._group.start_soon(func, *args, name=name)

    def close(self) -> None:
        """Accept no more tasks; the group ends when its last task does."""
        self._closing.set()

    def cancel(self) -> None:
        """Cancel every task of the group (and accept no more)."""
        if self._group is not None:
            self._group.cancel_scope.cancel()
        self._closing.set()

    @property
    def ended(self) -> bool:
        """Whether every task of the group has ended."""
        return self._ended.is_set()

    async def wait(self) -> None:
        """Wait until every task of the group has ended."""
        await self._ended.wait()

    async def _host(self) -> None:
        try:
            async with anyio.create_task_group() as group:
                self._group = group
                self._ready.set()
                await self._closing.wait()
        except anyio.get_cancelled_exc_class():
            raise  # the event loop itself is shutting down
        except BaseException as exc:
            self.error = exc
        finally:
            self._group = None
            self._ready.set()
            self._ended.set()
            self._on_end(self.error)
