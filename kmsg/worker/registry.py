"""Task name -> handler, with the payload type read from the handler's first parameter.

``async def send(msg: SendSms) -> SendResult`` registers under ``SendSms``'s task name (its
``__kmsg_task__``, else the class name) unless a task name is given, and the worker decodes the
stored payload to ``SendSms`` before calling it. A plain ``def`` handler is registered the same
way and marked to run in a worker thread (:attr:`Handler.in_thread`), so blocking code in it never
stalls the event loop. Everything is checked at registration, so a mistake fails at start-up
rather than on the first job.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from kmsg.codec import task_name_of
from kmsg.errors import ValidationError
from kmsg.validation import check_name
from kmsg.worker.handler_errors import RegistrationError

__all__ = ["Handler", "HandlerFunc", "HandlerRegistry", "is_async", "payload_type_of"]

HandlerFunc = Callable[[Any], Awaitable[Any]] | Callable[[Any], Any]
"""A handler: an ``async def`` or a plain ``def`` taking the payload Struct first."""


@dataclass(frozen=True, slots=True)
class Handler:
    """A registered handler: its task name, the callable, the payload type it takes, and whether
    it is a plain ``def`` that the worker calls in a thread (``in_thread``)."""

    task: str
    func: HandlerFunc
    payload_type: type[msgspec.Struct]
    in_thread: bool = False


def _describe(func: object) -> str:
    return getattr(func, "__qualname__", None) or repr(func)


def is_async(func: HandlerFunc) -> bool:
    """Whether calling ``func`` returns a coroutine: an ``async def`` function or method, a
    ``functools.partial`` of one, or an object whose ``__call__`` is one."""
    if inspect.iscoroutinefunction(func):
        return True
    call = None if inspect.isroutine(func) else getattr(func, "__call__", None)  # noqa: B004
    return call is not None and inspect.iscoroutinefunction(call)


def payload_type_of(func: HandlerFunc) -> type[msgspec.Struct]:
    """The msgspec Struct type annotated on ``func``'s first parameter.

    Raises ``RegistrationError`` if ``func`` is a generator (sync or async), has no parameter,
    or its first parameter is not annotated with a Struct type.
    """
    name = _describe(func)
    if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
        raise RegistrationError(
            f"handler {name} must be a function (async def or def) that returns its result, "
            "not a generator"
        )
    params = list(inspect.signature(func).parameters.values())
    if not params or params[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise RegistrationError(f"handler {name} must take the payload as its first parameter")
    try:
        hints = typing.get_type_hints(func)
    except (NameError, TypeError) as exc:
        raise RegistrationError(f"cannot resolve the annotations of handler {name}: {exc}") from exc
    annotation = hints.get(params[0].name)
    if not (isinstance(annotation, type) and issubclass(annotation, msgspec.Struct)):
        raise RegistrationError(
            f"the first parameter of handler {name} ({params[0].name!r}) must be annotated "
            f"with a msgspec.Struct type, not {annotation!r}"
        )
    return annotation


class HandlerRegistry:
    """The handlers of one worker, by task name."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def add(self, func: HandlerFunc, task: str | None = None) -> Handler:
        """Register ``func`` under ``task`` (default: its payload type's task name).

        Raises ``RegistrationError`` for a bad handler, a bad task name, or a task name that
        already has a handler.
        """
        payload_type = payload_type_of(func)
        try:
            name = task_name_of(payload_type) if task is None else check_name("task", task)
        except ValidationError as exc:
            raise RegistrationError(str(exc)) from None
        existing = self._handlers.get(name)
        if existing is not None:
            raise RegistrationError(
                f"task {name!r} already has handler {_describe(existing.func)}; "
                f"cannot also register {_describe(func)}"
            )
        handler = self._handlers[name] = Handler(name, func, payload_type, not is_async(func))
        return handler

    def get(self, task: str) -> Handler | None:
        """The handler registered for ``task``, or None."""
        return self._handlers.get(task)

    def names(self) -> list[str]:
        """The registered task names, sorted."""
        return sorted(self._handlers)

    def __len__(self) -> int:
        return len(self._handlers)
