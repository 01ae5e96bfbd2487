"""Invalid input raises ValidationError before anything is written."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest

from kmsg import Backoff, JobQueue, JobState, NewJob, QueueStats, ValidationError
from tests.conformance.support import Blob, Ping, claim_one, stats_snapshot

pytestmark = pytest.mark.anyio

FAR_FUTURE = 4_102_444_800.0
"""2100-01-01 UTC: a fixed run_at, so the test ids stay the same between runs (xdist needs that)."""

BAD_NAMES = [
    "",
    "x" * 129,
    "has space",
    "quote'",
    'double"quote',
    "semi;colon",
    "{brace}",
    "nul\x00byte",
    "slash/path",
    "star*",
    "new\nline",
    "\u00e9t\u00e9",
]

BAD_OPTIONS: list[dict[str, Any]] = [
    {"priority": 1001},
    {"priority": -1001},
    {"priority": 1.5},
    {"priority": True},
    {"delay": -1.0},
    {"delay": math.nan},
    {"delay": math.inf},
    {"run_at": -5.0},
    {"delay": 1.0, "run_at": FAR_FUTURE},
    {"lease": 0.0},
    {"lease": 0.01},
    {"lease": math.inf},
    {"lease": 8 * 24 * 3600.0},
    {"max_attempts": 0},
    {"max_attempts": 1001},
    {"dedupe_key": ""},
    {"dedupe_key": "x" * 513},
    {"backoff": Backoff(initial=-1.0)},
    {"backoff": Backoff(factor=0.5)},
    {"job_id": "has space"},
    {"job_id": ""},
]


class Wrong(msgspec.Struct):
    """A payload whose field is declared int but may be given anything."""

    n: int


BAD_PAYLOADS: list[object] = [
    {"n": 1},
    "a string",
    Ping(n=-1),
    Wrong(n="not an int"),  # type: ignore[arg-type]
    Blob(data="x" * (256 * 1024 + 1)),
]


@pytest.fixture
async def baseline(queue: JobQueue, qname: str) -> QueueStats:
    """Stats of a queue holding one pending and one processing job, before the bad call."""
    await queue.enqueue(Ping(n=1), queue=qname)
    await queue.enqueue(Ping(n=2), queue=qname, priority=1)
    await claim_one(queue, qname)
    return await stats_snapshot(queue, qname)


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
async def test_a_bad_queue_name_is_refused_everywhere(
    queue: JobQueue, qname: str, baseline: QueueStats, name: str
) -> None:
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "enqueue": lambda: queue.enqueue(Ping(n=1), queue=name),
        "enqueue_many": lambda: queue.enqueue_many([NewJob(payload=Ping(n=1), queue=name)]),
        "claim": lambda: queue.claim(name),
        "stats": lambda: queue.stats(name),
        "get": lambda: queue.get(name, "job"),
        "peek": lambda: queue.peek(name),
        "list_jobs": lambda: queue.list_jobs(name, JobState.PENDING),
        "pause": lambda: queue.pause(name),
        "set_rate_limit": lambda: queue.set_rate_limit(name, 1),
        "clear": lambda: queue.clear(name),
    }
    for method, call in calls.items():
        with pytest.raises(ValidationError):
            await call()
        assert name not in await queue.queues(), f"{method} wrote something"
    assert await stats_snapshot(queue, qname) == baseline


@pytest.mark.parametrize("options", BAD_OPTIONS, ids=repr)
async def test_a_bad_option_is_refused(
    queue: JobQueue, qname: str, baseline: QueueStats, options: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError):
        await queue.enqueue(Ping(n=5), queue=qname, **options)
    with pytest.raises(ValidationError):
        await queue.enqueue_many([NewJob(payload=Ping(n=5), queue=qname, **options)])
    assert await stats_snapshot(queue, qname) == baseline


@pytest.mark.parametrize("payload", BAD_PAYLOADS, ids=lambda p: type(p).__name__)
async def test_a_bad_payload_is_refused(
    queue: JobQueue, qname: str, baseline: QueueStats, payload: Any
) -> None:
    with pytest.raises(ValidationError):
        await queue.enqueue(payload, queue=qname)
    assert await stats_snapshot(queue, qname) == baseline


@pytest.mark.parametrize(
    "options",
    [{"limit": 0}, {"limit": -1}, {"limit": 10_001}, {"lease": 0.0}, {"lease": math.nan}],
    ids=repr,
)
async def test_a_bad_claim_is_refused(
    queue: JobQueue, qname: str, baseline: QueueStats, options: dict[str, Any]
) -> None:
    with pytest.raises(ValidationError):
        await queue.claim(qname, **options)
    assert await stats_snapshot(queue, qname) == baseline


@pytest.mark.parametrize("duration", [0.0, -1.0, math.inf])
async def test_a_bad_extension_is_refused(queue: JobQueue, qname: str, duration: float) -> None:
    await queue.enqueue(Ping(n=1), queue=qname)
    claimed = await claim_one(queue, qname)
    before = await queue.get(qname, claimed.job.id)
    with pytest.raises(ValidationError):
        await queue.extend(claimed.lease, duration)
    assert await queue.get(qname, claimed.job.id) == before
