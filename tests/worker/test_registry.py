"""Handler registration: the payload type comes from the first parameter's annotation."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar

import msgspec
import pytest

from kmsg.worker import RegistrationError, Worker
from kmsg.worker.registry import HandlerRegistry, is_async, payload_type_of


class Ping(msgspec.Struct):
    n: int


class Named(msgspec.Struct):
    __kmsg_task__: ClassVar[str] = "sms.send"
    to: str


async def on_ping(msg: Ping) -> None:
    """A handler."""


async def on_named(msg: Named) -> int:
    return 1


def test_task_name_defaults_to_the_payload_types_task_name() -> None:
    registry = HandlerRegistry()
    assert registry.add(on_ping).task == "Ping"
    handler = registry.add(on_named)
    assert (handler.task, handler.payload_type, handler.func) == ("sms.send", Named, on_named)
    assert registry.get("sms.send") is handler
    assert registry.get("nope") is None
    assert registry.names() == ["Ping", "sms.send"]
    assert len(registry) == 2


def test_an_explicit_task_name_is_used_and_validated() -> None:
    registry = HandlerRegistry()
    assert registry.add(on_ping, "ping.urgent").payload_type is Ping
    with pytest.raises(RegistrationError, match="invalid task name"):
        registry.add(on_ping, "no spaces")


def test_a_duplicate_task_is_refused_naming_both_handlers() -> None:
    registry = HandlerRegistry()
    registry.add(on_ping)

    async def other(msg: Ping) -> None:
        """Another handler."""

    with pytest.raises(RegistrationError, match=r"'Ping' already has handler on_ping.*other"):
        registry.add(other)


def test_string_annotations_are_resolved() -> None:
    # this module uses `from __future__ import annotations`, so every annotation is a string
    assert payload_type_of(on_ping) is Ping


def test_methods_take_the_parameter_after_self() -> None:
    class Service:
        async def handle(self, msg: Named) -> None:
            """A bound handler."""

    assert payload_type_of(Service().handle) is Named


def test_a_plain_def_is_registered_to_run_in_a_thread() -> None:
    def sync(msg: Ping) -> int:
        """Blocking work."""
        return msg.n

    registry = HandlerRegistry()
    handler = registry.add(sync)
    assert (handler.task, handler.payload_type, handler.in_thread) == ("Ping", Ping, True)
    assert registry.add(on_named).in_thread is False


def test_async_callables_of_every_shape_run_on_the_loop() -> None:
    class Service:
        async def handle(self, msg: Ping) -> None:
            """A bound async method."""

    class Callable:
        async def __call__(self, msg: Named) -> None:
            """An object whose __call__ is async."""

    assert is_async(on_ping)
    assert is_async(Service().handle)
    assert is_async(functools.partial(on_ping))
    assert is_async(Callable())
    assert not is_async(lambda msg: None)


def test_a_generator_is_refused() -> None:
    def sync_gen(msg: Ping) -> Iterator[int]:
        yield msg.n

    async def async_gen(msg: Ping) -> AsyncIterator[int]:
        yield msg.n

    for func in (sync_gen, async_gen):
        with pytest.raises(RegistrationError, match="not a generator"):
            payload_type_of(func)


def test_a_handler_without_parameters_is_refused() -> None:
    async def nothing() -> None:
        """No payload."""

    with pytest.raises(RegistrationError, match="first parameter"):
        payload_type_of(nothing)  # type: ignore[arg-type]


def test_a_keyword_only_payload_is_refused() -> None:
    async def kw(*, msg: Ping) -> None:
        """Keyword-only."""

    with pytest.raises(RegistrationError, match="first parameter"):
        payload_type_of(kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("annotation", ["missing", "dict", "int"])
def test_a_first_parameter_not_annotated_with_a_struct_is_refused(annotation: str) -> None:
    async def missing(msg):  # type: ignore[no-untyped-def]
        """Unannotated."""

    async def as_dict(msg: dict[str, Any]) -> None:
        """A dict is not a Struct type."""

    async def as_int(msg: int) -> None:
        """Nor is an int."""

    handlers = {"missing": missing, "dict": as_dict, "int": as_int}
    with pytest.raises(RegistrationError, match=r"must be annotated with a msgspec\.Struct type"):
        payload_type_of(handlers[annotation])


def test_an_unresolvable_annotation_is_a_clear_error() -> None:
    async def later(msg: NotDefinedYet) -> None:  # type: ignore[name-defined]  # noqa: F821
        """Forward reference that never resolves."""

    with pytest.raises(RegistrationError, match="cannot resolve the annotations"):
        payload_type_of(later)


def test_worker_task_decorator_and_register_return_the_handler() -> None:
    worker = Worker(object(), install_signal_handlers=False)  # type: ignore[arg-type]
    assert worker.task(on_ping) is on_ping
    assert worker.register(on_named, task="custom") is on_named
    assert worker.tasks == ["Ping", "custom"]
    with pytest.raises(RegistrationError):
        worker.task(on_ping)
