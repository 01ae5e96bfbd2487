"""Task name -> handler, with the payload type read from the handler's first parameter.

``async def send(msg: SendSms) -> SendResult`` registers under ``SendSms``'s task name (its
``__kmsg_task__``, else the class name) unless a task name is given, and the worker decodes the
stored payload to ``SendSms`` before calling it. Everything is checked at registration, so a
mistake fails at start-up rather than on the first job.
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
from kmsg.worker.errors import RegistrationError

__all__ = ["Handler", "HandlerFunc", "HandlerRegistry", "payload_type_of"]

HandlerFunc = Callable[[Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Handler:
    """A registered handler: its task name, the async callable and the payload type it takes."""

    task: str
    func: HandlerFunc
    payload_type: type[msgspec.Struct]


def _describe(func: object) -> str:
    return getattr(func, "__qualname__", None) or repr(func)


def payload_type_of(func: HandlerFunc) -> type[msgspec.Struct]:
    """The msgspec Struct type annotated on ``func``'s first parameter.

    Raises ``RegistrationError`` if ``func`` is not an async function, has no parameter, or its
    first parameter is not annotated with a Struct type.
    """
    name = _describe(func)
    if not inspect.iscoroutinefunction(func):
        raise RegistrationError(f"handler {name} must be an async function (async def)")
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
        handler = self._handlers[name] = Handler(name, func, payload_type)
        return handler

    def get(self, task: str) -> Handler | None:
        """The handler registered for ``task``, or None."""
        return self._handlers.get(task)

    def names(self) -> list[str]:
        """The registered task names, sorted."""
        return sorted(self._handlers)

    def __len__(self) -> int:
        return len(self._handlers)
