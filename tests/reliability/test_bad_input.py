"""Bad input, property-based, on every adapter: a typed ``ValidationError`` and nothing written.

Wrong payload types, oversized payloads, deep nesting, strings that are not UTF-8, hostile queue
and task names, and absurd numbers are each tried through ``enqueue`` (and names through the
reading calls too); afterwards the store's queue list and the target queue's counts must be as
they were. Raw JSON (``PayloadCodec.encode_raw``, what the CLI and dashboard use) is tried for
unknown fields and undecodable bytes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmsg import JobQueue, PayloadCodec, ValidationError
from kmsg.validation import MAX_DELAY, MAX_PRIORITY, MIN_PRIORITY, NAME_PATTERN
from tests.backends import BACKENDS
from tests.reliability.worker_main import Work

pytestmark = pytest.mark.reliability

QNAME = "bad-input"
LIMIT = PayloadCodec().max_bytes
SETTINGS = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class Blob(msgspec.Struct, frozen=True):
    """A payload whose size the test chooses."""

    text: str


class Anything(msgspec.Struct, frozen=True):
    """A payload holding any JSON-like value."""

    value: Any


class Handle:
    """A queue opened in a portal's event loop, called from the (synchronous) property tests."""

    def __init__(self, portal: BlockingPortal, queue: JobQueue) -> None:
        self.portal = portal
        self.queue = queue

    def snapshot(self) -> tuple[list[str], int]:
        """The queue names and the target queue's job count."""
        names = self.portal.call(self.queue.queues)
        return names, self.portal.call(self.queue.stats, QNAME).total

    def refuses(self, payload: object, **options: Any) -> None:
        """``enqueue`` raises ValidationError and writes nothing."""
        before = self.snapshot()

        async def enqueue() -> str:
            return await self.queue.enqueue(payload, **{"queue": QNAME, **options})  # type: ignore[arg-type]

        with pytest.raises(ValidationError):
            self.portal.call(enqueue)
        assert self.snapshot() == before


@pytest.fixture(params=["sqlite", "redis"])
def handle(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Handle]:
    """A fresh store of each backend, with the target queue already known to it."""
    with start_blocking_portal("asyncio") as portal:
        store = portal.wrap_async_context_manager(BACKENDS[request.param].store(tmp_path))
        with store as opened:
            queue = portal.call(opened.open)
            portal.call(queue.pause, QNAME)  # registers the queue, so queues() has it
            yield Handle(portal, queue)


hostile_names = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["a'b", 'a"b', "a;b", "{a}", "a}{b", "a\x00b", "", " ", "a b", "*"]),
    st.integers(129, 5000).map(lambda n: "q" * n),
).filter(lambda name: NAME_PATTERN.fullmatch(name) is None)

not_structs = st.one_of(
    st.none(),
    st.integers(),
    st.floats(),
    st.text(),
    st.binary(),
    st.lists(st.integers()),
    st.dictionaries(st.text(), st.integers()),
)

bad_numbers = st.one_of(st.just(math.nan), st.just(math.inf), st.just(-math.inf))


@SETTINGS
@given(payload=not_structs)
def test_a_payload_that_is_not_a_struct_is_refused(handle: Handle, payload: object) -> None:
    handle.refuses(payload)


@SETTINGS
@given(value=st.one_of(st.text(), st.floats(), st.none(), st.lists(st.integers())))
def test_a_payload_field_of_the_wrong_type_is_refused(handle: Handle, value: object) -> None:
    handle.refuses(Work(n=value))  # type: ignore[arg-type]


@SETTINGS
@given(extra=st.integers(1, 3 * LIMIT))
def test_an_oversized_payload_is_refused(handle: Handle, extra: int) -> None:
    handle.refuses(Blob("x" * (LIMIT + extra)))


@SETTINGS
@given(text=st.text(min_size=1, max_size=20), surrogate=st.integers(0xD800, 0xDFFF))
def test_a_string_that_is_not_utf8_is_refused(handle: Handle, text: str, surrogate: int) -> None:
    handle.refuses(Blob(text + chr(surrogate)))


@SETTINGS
@given(name=hostile_names)
def test_a_hostile_queue_name_is_refused_everywhere(handle: Handle, name: str) -> None:
    before = handle.snapshot()
    handle_calls = [
        lambda: handle.queue.enqueue(Work(1), queue=name),
        lambda: handle.queue.claim(name),
        lambda: handle.queue.stats(name),
        lambda: handle.queue.get(name, "x"),
        lambda: handle.queue.pause(name),
    ]
    for call in handle_calls:
        with pytest.raises(ValidationError):
            handle.portal.call(call)
    assert handle.snapshot() == before


@SETTINGS
@given(name=hostile_names)
def test_a_hostile_task_name_is_refused(handle: Handle, name: str) -> None:
    payload_type = msgspec.defstruct("Hostile", [("n", int)], namespace={"__kmsg_task__": name})
    handle.refuses(payload_type(n=1))


@SETTINGS
@given(
    option=st.one_of(
        st.tuples(
            st.just("delay"),
            st.one_of(
                st.floats(max_value=-1e-9), st.floats(min_value=MAX_DELAY * 1.01), bad_numbers
            ),
        ),
        st.tuples(
            st.just("priority"),
            st.one_of(
                st.integers(max_value=MIN_PRIORITY - 1),
                st.integers(min_value=MAX_PRIORITY + 1),
                st.floats(),
                st.text(),
            ),
        ),
        st.tuples(
            st.just("max_attempts"),
            st.one_of(st.integers(max_value=0), st.integers(min_value=1001)),
        ),
        st.tuples(
            st.just("lease"), st.one_of(st.floats(max_value=0.0), bad_numbers, st.just(1e12))
        ),
        st.tuples(
            st.just("run_at"), st.one_of(st.floats(max_value=-1e-9), bad_numbers, st.just(1e15))
        ),
    )
)
def test_an_absurd_option_is_refused(handle: Handle, option: tuple[str, object]) -> None:
    name, value = option
    handle.refuses(Work(1), **{name: value})


@SETTINGS
@given(
    extra=st.dictionaries(
        st.text(min_size=1, max_size=10).filter(lambda k: k != "n"), st.integers(), min_size=1
    )
)
def test_raw_json_with_unknown_fields_is_refused(extra: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        PayloadCodec().encode_raw(Work, msgspec.json.encode({"n": 1, **extra}))


def test_a_deeply_nested_payload_is_refused() -> None:
    nested: list[Any] = []
    for _ in range(100_000):
        nested = [nested]
    with pytest.raises(ValidationError):
        PayloadCodec().encode(Anything(nested))


def test_deeply_nested_raw_json_is_refused() -> None:
    with pytest.raises(ValidationError):
        PayloadCodec().encode_raw(Anything, b'{"value": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")


def test_raw_json_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(ValidationError):
        PayloadCodec().encode_raw(Blob, b'{"text": "\xff\xfe"}')
