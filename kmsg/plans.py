"""Plans: an operation's steps as a generator, and the two loops that run one (async and sync).

A backend's planner (``kmsg.adapters.*.plans``) turns an :mod:`operation <kmsg.operations>`
into a generator that yields the steps the backend must take (a Lua script call, a SQLite
transaction body), receives each step's reply, and returns the operation's result, or raises the
error the caller gets. A plan does no I/O, so one plan serves both executors: :func:`run_async`
feeds it from an async executor's ``perform``, :func:`run_sync` from a blocking one. A step that
fails is thrown into the plan, which may turn it into another error (``IncompleteBatch``) or let
it go.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any, ClassVar, TypeVar

__all__ = ["Plan", "Planner", "handles", "run_async", "run_sync"]

S = TypeVar("S")
T = TypeVar("T")

Plan = Generator[S, Any, T]
"""A plan yielding steps of type ``S`` and returning a result of type ``T``."""

F = TypeVar("F", bound=Callable[..., Any])


def handles(operation_type: type) -> Callable[[F], F]:
    """Mark a :class:`Planner` method as the plan of ``operation_type``."""

    def mark(method: F) -> F:
        method.__kmsg_handles__ = operation_type  # type: ignore[attr-defined]
        return method

    return mark


class Planner:
    """The base of a backend's planner: :meth:`plan` calls the method marked with
    :func:`handles` for the operation's type (one dict lookup per call)."""

    _handlers: ClassVar[dict[type, Callable[..., Any]]] = {}

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls._handlers = {
            method.__kmsg_handles__: method
            for method in vars(cls).values()
            if hasattr(method, "__kmsg_handles__")
        }

    def plan(self, operation: Any) -> Plan[Any, Any]:
        """The plan of ``operation``."""
        handler = self._handlers.get(type(operation))
        if handler is None:
            raise TypeError(f"{type(self).__name__} has no plan for {type(operation).__name__}")
        plan: Plan[Any, Any] = handler(self, operation)
        return plan


async def run_async(plan: Plan[S, T], perform: Callable[[S], Awaitable[Any]]) -> T:
    """Run ``plan``, performing each step with ``await perform(step)``; return its result."""
    reply: Any = None
    error: Exception | None = None
    while True:
        try:
            step = plan.send(reply) if error is None else plan.throw(error)
        except StopIteration as done:
            result: T = done.value
            return result
        try:
            reply, error = await perform(step), None
        except Exception as exc:
            reply, error = None, exc


def run_sync(plan: Plan[S, T], perform: Callable[[S], Any]) -> T:
    """Run ``plan``, performing each step with ``perform(step)``; return its result."""
    reply: Any = None
    error: Exception | None = None
    while True:
        try:
            step = plan.send(reply) if error is None else plan.throw(error)
        except StopIteration as done:
            result: T = done.value
            return result
        try:
            reply, error = perform(step), None
        except Exception as exc:
            reply, error = None, exc
