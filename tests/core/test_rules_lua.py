"""The Lua rules agree with the Python rules to the last bit, on the same inputs.

``kmsg.rules`` is the reference; ``lua/includes/common.lua`` keeps a copy of each rule under the
same name, because the Redis scripts must decide inside their own atomic step. Each test below
draws batches of inputs (Hypothesis) over the whole range the contract allows
(``kmsg.validation``), runs the Lua copy on a real Redis (``shared_source()`` followed by a short
body, one ``EVALSHA`` per batch) and the Python rule in this process, and compares the results.

Inputs travel as text that reads back to the same double: ``repr`` of a float (Lua's
``tonumber`` is ``strtod``), ``str`` of an int, ``'1'`` / ``'0'`` for a flag and ``'nil'`` for
None. Results come back through common.lua's ``exact`` (``%.17g``), or ``'nil'``, and are
compared with ``==`` after ``float()``. So infinities and None are compared explicitly, and
``-0.0 == 0.0`` (the sign of a zero is the one bit the comparison forgives: no rule's caller can
tell the two apart).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Final, TypeAlias

import pytest
import redis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kmsg.adapters.redis.scripts import shared_source
from kmsg.rules import backoff_delay, claim_allowance, due_time, refill, retry_at
from kmsg.validation import MAX_ATTEMPTS, MAX_BATCH, MAX_DELAY, MAX_RATE_JOBS
from tests.redis_servers import shared_redis_url

Arg: TypeAlias = float | int | bool | None
"""One input of a rule, as the Python rule takes it."""
Inputs: TypeAlias = tuple[Arg, ...]
"""One call's inputs, in the rule's positional order."""
Result: TypeAlias = float | int | None

NOW: Final = 1_800_000_000.0
"""Around now, in epoch seconds (2027)."""
FAR: Final = 1e300
"""Far away: large enough to overflow nothing a rule computes except on purpose."""
BATCH: Final = 40
"""Most calls one EVAL makes."""
EXAMPLES: Final = int(os.environ.get("KMSG_RULES_EXAMPLES", "100"))
"""Batches drawn per rule: 100 in the default run, 400 in CI's second step (``.ci/run``)."""
SETTINGS: Final = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Each rule's call in Lua. num(k), flag(k) and opt(k) read the k-th input of the current call
# (a number, a '1'/'0' flag, and a number or 'nil').
LUA_CALLS: Final = {
    "due_time": "due_time(num(0))",
    "backoff_delay": "backoff_delay(num(0), num(1), num(2), num(3))",
    "retry_at": "retry_at(num(0), num(1), num(2), num(3), flag(4))",
    "refill": "refill(num(0), num(1), num(2), num(3), num(4))",
    "claim_allowance": "claim_allowance(num(0), flag(1), opt(2))",
}

# ARGV[1] is the notify channel every script gets (unused here), ARGV[2] the inputs per call,
# then the inputs of each call in turn. Returns one text per call: exact(result), or 'nil'.
LUA_BODY: Final = """
local width = tonumber(ARGV[2])
local base = 0
local function num(k)
  local value = tonumber(ARGV[base + k])
  if value == nil then error('not a number: ' .. tostring(ARGV[base + k])) end
  return value
end
local function flag(k) return ARGV[base + k] == '1' end
local function opt(k)
  if ARGV[base + k] == 'nil' then return nil end
  return num(k)
end
local out = {}
for first = 3, #ARGV, width do
  base = first
  local result = CALL
  if result == nil then out[#out + 1] = 'nil' else out[#out + 1] = exact(result) end
end
return out
"""


class LuaRules:
    """The Lua copies of the rules, each registered once on a real Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self._scripts = {
            name: client.register_script(f"{shared_source()}\n{LUA_BODY.replace('CALL', call)}")
            for name, call in LUA_CALLS.items()
        }

    def run(self, name: str, calls: Sequence[Inputs]) -> list[str]:
        """Lua rule ``name`` applied to each of ``calls``: its results as exact text."""
        width = len(calls[0])
        argv = ["unused-channel", str(width)]
        for inputs in calls:
            assert len(inputs) == width
            argv.extend(as_text(value) for value in inputs)
        reply = self._scripts[name](keys=[], args=argv)
        assert isinstance(reply, list)
        return [item.decode() for item in reply]


@pytest.fixture(scope="module")
def lua() -> Iterator[LuaRules]:
    """The Lua rules on the shared Redis server (the module is skipped when there is none)."""
    client = redis.Redis.from_url(shared_redis_url())
    with client:
        yield LuaRules(client)


def as_text(value: Arg) -> str:
    """``value`` as ARGV text that Lua reads back to the same number (or flag, or nil)."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    assert math.isfinite(value), "the contract gives the rules finite numbers only"
    return repr(value)


def disagreement(lua_text: str, expected: Result) -> str | None:
    """Why the Lua result ``lua_text`` is not the Python result ``expected``, or None if equal."""
    if expected is None or lua_text == "nil":
        return None if expected is None and lua_text == "nil" else "one is nil, the other not"
    got = float(lua_text)
    if math.isnan(got) or math.isnan(expected):
        return "NaN is never a rule's result"
    if math.isinf(got) or math.isinf(expected):
        return None if got == expected else "an infinity on one side only, or of opposite sign"
    return None if got == expected else f"differ by {got - expected!r}"


def check_agreement(
    lua: LuaRules, name: str, python: Callable[..., Result], calls: Sequence[Inputs]
) -> None:
    """Assert that Lua rule ``name`` and ``python`` give the same result on each of ``calls``."""
    results = lua.run(name, calls)
    assert len(results) == len(calls)
    failures = []
    for inputs, lua_text in zip(calls, results, strict=True):
        expected = python(*inputs)
        why = disagreement(lua_text, expected)
        if why is not None:
            failures.append(f"{name}{inputs!r}: Lua {lua_text}, Python {expected!r} ({why})")
    assert not failures, "\n".join(failures)


def neighbours(value: float, steps: int) -> float:
    """The double ``steps`` representable numbers above ``value`` (below when negative)."""
    for _ in range(abs(steps)):
        value = math.nextafter(value, math.inf if steps > 0 else -math.inf)
    return value


def finite(low: float, high: float) -> st.SearchStrategy[float]:
    """Finite doubles from ``low`` to ``high``, bounds and subnormals included."""
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


def near_integers(low: int, high: int) -> st.SearchStrategy[float]:
    """Doubles just around the integers from ``low`` to ``high``: a few ulps away, or 1e-10 /
    1e-9 / 2e-9 away (claim_allowance's tolerance is 1e-9), or a few ulps either side of that
    (so a hair below ``low`` too: what a claim of 0.9999999999 tokens leaves)."""
    offsets = st.sampled_from([0.0, 1e-10, -1e-10, 1e-9, -1e-9, 2e-9, -2e-9])
    return st.builds(
        lambda n, offset, ulps: neighbours(n + offset, ulps),
        st.integers(low, high),
        offsets,
        st.integers(-3, 3),
    )


def whole_milliseconds(low: float, high: float) -> st.SearchStrategy[float]:
    """Times a few ulps around a whole millisecond (where flooring to the ms is decided)."""
    return st.builds(
        lambda ms, ulps: neighbours(ms / 1000, ulps),
        st.integers(int(low * 1000), int(high * 1000)),
        st.integers(-2, 2),
    )


# Epoch times: around now, anywhere the contract accepts a run_at (0 to 1e11), at whole
# milliseconds, before 1970 (a clock gone wrong), and far away.
times: Final = st.one_of(
    finite(NOW - 1e6, NOW + 1e6),
    whole_milliseconds(NOW - 1e5, NOW + 1e5),
    finite(0.0, 1e11),
    finite(-1e11, 0.0),
    finite(-FAR, FAR),
)
delays: Final = st.one_of(finite(0.0, MAX_DELAY), near_integers(0, 1000))
attempt_numbers: Final = st.integers(1, MAX_ATTEMPTS)


def batches(call: st.SearchStrategy[Inputs]) -> st.SearchStrategy[list[Inputs]]:
    """Lists of 1 to ``BATCH`` calls (one EVAL each)."""
    return st.lists(call, min_size=1, max_size=BATCH)


@given(batches(st.tuples(st.one_of(times, finite(-1e305, 1e305)))))
@example([(0.0,), (-0.0,), (0.0005,), (0.001,), (-0.0005,), (NOW + 0.0009999999,)])
@example([(1e11,), (neighbours(1.1, -1),), (0.1 + 0.2,), (1e305,)])
@SETTINGS
def test_due_time(lua: LuaRules, calls: list[Inputs]) -> None:
    """Lua's due_time floors to the millisecond exactly as Python's, whatever the time."""
    check_agreement(lua, "due_time", due_time, calls)


backoffs: Final = st.tuples(
    st.one_of(finite(0.0, MAX_DELAY), st.integers(0, 100).map(float)),
    st.one_of(finite(1.0, 100.0), st.integers(1, 100).map(float)),
    st.one_of(finite(0.0, MAX_DELAY), st.sampled_from([0.0, 300.0, MAX_DELAY])),
    attempt_numbers,
)


@given(batches(backoffs))
@example([(1.0, 2.0, 300.0, 1), (1.0, 2.0, 300.0, 9), (1.0, 2.0, 300.0, 10)])
@example([(0.0, 100.0, MAX_DELAY, 1000), (MAX_DELAY, 100.0, MAX_DELAY, 1000)])
@example([(0.1, 1.0, 0.0, 1000), (5e-324, 100.0, MAX_DELAY, 154), (3.0, 1.5, 1e9, 500)])
@SETTINGS
def test_backoff_delay(lua: LuaRules, calls: list[Inputs]) -> None:
    """Lua's backoff_delay grows, caps and overflows to the maximum exactly as Python's."""
    check_agreement(lua, "backoff_delay", backoff_delay, calls)


@st.composite
def failures(draw: st.DrawFn) -> Inputs:
    """(now, attempts, max_attempts, delay, retryable): attempts at, below, or above the max."""
    max_attempts = draw(attempt_numbers)
    attempts = draw(
        st.one_of(
            st.just(max_attempts),
            st.integers(max(1, max_attempts - 2), max_attempts),
            attempt_numbers,
        )
    )
    return (draw(times), attempts, max_attempts, draw(delays), draw(st.booleans()))


def python_retry_at(
    now: float, attempts: int, max_attempts: int, delay: float, retryable: bool
) -> float | None:
    """``kmsg.rules.retry_at`` called positionally (its ``retryable`` is keyword-only)."""
    return retry_at(now, attempts, max_attempts, delay, retryable=retryable)


@given(batches(failures()))
@example([(NOW, 3, 3, 1.0, True), (NOW, 2, 3, 1.0, True), (NOW, 1, 3, 1.0, False)])
@example([(NOW, 1000, 1000, MAX_DELAY, True), (NOW, 999, 1000, 0.0, True)])
@example([(NOW + 0.0004, 1, 2, 0.0006, True), (-FAR, 1, 2, MAX_DELAY, True)])
@SETTINGS
def test_retry_at(lua: LuaRules, calls: list[Inputs]) -> None:
    """Lua's retry_at retries or dead-letters, and picks the due time, exactly as Python's."""
    check_agreement(lua, "retry_at", python_retry_at, calls)


@st.composite
def buckets(draw: st.DrawFn) -> Inputs:
    """(tokens, refilled_at, now, max_jobs, per_seconds) of a rate bucket; the clock may have
    gone back, stood still, or moved a little or very far."""
    max_jobs = draw(st.one_of(st.integers(1, MAX_RATE_JOBS), st.integers(1, 10)))
    # A claim of all the whole tokens can leave a hair below 0 (0.9999999999 - 1), never more
    # than max_jobs.
    # An empty bucket shows every bit of the refill (tokens added would round some away).
    tokens = draw(st.one_of(st.just(0.0), finite(0.0, float(max_jobs)), near_integers(0, max_jobs)))
    tokens = min(tokens, float(max_jobs))
    refilled_at = draw(times)
    now = draw(
        st.one_of(
            times,
            st.just(refilled_at),
            st.builds(lambda d: refilled_at + d, finite(-1e3, 1e3)),
            st.builds(lambda ulps: neighbours(refilled_at, ulps), st.integers(-3, 3)),
        )
    )
    per_seconds = draw(
        st.one_of(
            st.floats(0.0, MAX_DELAY, exclude_min=True),
            st.sampled_from([1e-3, 0.1, 1.0, 3.0, 60.0, 3600.0]),
        )
    )
    return (tokens, refilled_at, now, max_jobs, per_seconds)


@given(batches(buckets()))
@example([(0.0, NOW, NOW - 10.0, 5, 1.0), (0.0, NOW, NOW + 0.2, 5, 1.0)])
@example([(0.5, NOW, NOW + 1e-3, 1_000_000, 5e-324), (3.0, -FAR, FAR, 1_000_000, MAX_DELAY)])
@example([(0.9999999999, NOW, NOW, 1, 3.0), (2.0000000001, NOW, NOW + 1e-9, 3, 0.1)])
@SETTINGS
def test_refill(lua: LuaRules, calls: list[Inputs]) -> None:
    """Lua's refill adds, caps and ignores a backward clock exactly as Python's."""
    check_agreement(lua, "refill", refill, calls)


claims: Final = st.tuples(
    st.integers(1, MAX_BATCH),
    st.booleans(),
    st.one_of(
        st.none(),
        near_integers(0, 20),
        near_integers(0, MAX_RATE_JOBS),
        finite(0.0, float(MAX_RATE_JOBS)),
    ),
)


def python_claim_allowance(limit: int, paused: bool, tokens: float | None) -> int:
    """``kmsg.rules.claim_allowance`` called positionally (it takes keywords)."""
    allowance = claim_allowance(limit, paused=paused, tokens=tokens)
    assert isinstance(allowance, int)
    return allowance


@given(batches(claims))
@example([(10, False, 0.9999999999), (10, False, 2.0000000001), (10, False, 0.999999999)])
@example([(10, True, 5.0), (10, True, None), (7, False, None), (3, False, 1e6)])
@example([(MAX_BATCH, False, 0.0), (1, False, neighbours(1.0 - 1e-9, -1)), (500, False, 499.5)])
@SETTINGS
def test_claim_allowance(lua: LuaRules, calls: list[Inputs]) -> None:
    """Lua's claim_allowance takes as many jobs as Python's: paused, unlimited, or rate-limited
    with whole and almost-whole tokens."""
    check_agreement(lua, "claim_allowance", python_claim_allowance, calls)
