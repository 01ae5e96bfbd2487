"""What every benchmark task calls: records when it started, in the worker process.

Each worker process keeps its counts in memory and a daemon thread flushes them to the private
Redis every few milliseconds (``INCRBY`` of the done counter, the process's first and last start
times, the enqueue-to-start latencies). One pipelined round trip per flush keeps the measuring cost
out of the per-job path, so every system pays the same small price. The harness reads the keys.

Every benchmark task body is :func:`handle` (synchronous libraries) or :func:`ahandle` (asyncio
ones). Both record the start; when the harness sets ``BENCH_HANDLER=io`` in the worker's
environment (workload W2io) they then make one real network round trip, an ``RPUSH`` of the
timestamp to the list ``bench:io`` on the private Redis: redis-py's blocking client (one per
process, thread-safe through its connection pool) in ``handle``, its asyncio client (one per
process and event loop, created on first use) in ``ahandle``.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import TYPE_CHECKING, Final

import redis

if TYPE_CHECKING:
    import redis.asyncio

DONE_KEY: Final = "bench:done"
LATENCY_KEY: Final = "bench:lat"
PROC_PREFIX: Final = "bench:proc:"
IO_KEY: Final = "bench:io"
REDIS_URL_ENV: Final = "BENCH_REDIS_URL"
HANDLER_ENV: Final = "BENCH_HANDLER"
HANDLERS: Final = ("noop", "io")
FLUSH_EVERY: Final = 0.005


class _Sink:
    """Per-process counters plus the flushing thread (rebuilt after a fork)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.latencies: list[float] = []
        self.client = redis.Redis.from_url(os.environ[REDIS_URL_ENV])
        threading.Thread(target=self._flush_forever, name="bench-sink", daemon=True).start()

    def record(self, enqueued_at: float) -> None:
        now = time.time()
        with self.lock:
            if self.count == 0:
                self.first = now
            self.count += 1
            self.last = now
            self.latencies.append(now - enqueued_at)

    def _flush_forever(self) -> None:
        flushed = 0
        while True:
            time.sleep(FLUSH_EVERY)
            with self.lock:
                count, first, last = self.count, self.first, self.last
                latencies, self.latencies = self.latencies, []
            if count == flushed:
                continue
            pipe = self.client.pipeline(transaction=False)
            pipe.hset(f"{PROC_PREFIX}{self.pid}", mapping={"first": first, "last": last})
            if latencies:
                pipe.rpush(LATENCY_KEY, *latencies)
            pipe.incrby(DONE_KEY, count - flushed)
            pipe.execute()
            flushed = count


_sink: _Sink | None = None
_sink_lock = threading.Lock()


def record(enqueued_at: float) -> None:
    """Note that a job enqueued at ``enqueued_at`` (epoch seconds) starts now."""
    global _sink
    sink = _sink
    if sink is None or sink.pid != os.getpid():
        with _sink_lock:
            if _sink is None or _sink.pid != os.getpid():
                _sink = _Sink()
            sink = _sink
    sink.record(enqueued_at)


def _handler() -> str:
    handler = os.environ.get(HANDLER_ENV, "noop")
    if handler not in HANDLERS:
        raise ValueError(f"{HANDLER_ENV}={handler!r}: expected one of {', '.join(HANDLERS)}")
    return handler


IO: Final = _handler() == "io"

_io_client: tuple[int, redis.Redis] | None = None
_aio_client: tuple[int, asyncio.AbstractEventLoop, redis.asyncio.Redis] | None = None


def _sync_client() -> redis.Redis:
    """This process's blocking client for the handler's round trip (thread-safe pool)."""
    global _io_client
    pid = os.getpid()
    held = _io_client
    if held is None or held[0] != pid:
        with _sink_lock:
            if _io_client is None or _io_client[0] != pid:
                _io_client = (pid, redis.Redis.from_url(os.environ[REDIS_URL_ENV]))
            held = _io_client
    return held[1]


def _async_client() -> redis.asyncio.Redis:
    """This process's asyncio client for the running loop (created on first use)."""
    import redis.asyncio

    global _aio_client
    pid, loop = os.getpid(), asyncio.get_running_loop()
    held = _aio_client
    if held is None or held[0] != pid or held[1] is not loop:
        held = (pid, loop, redis.asyncio.Redis.from_url(os.environ[REDIS_URL_ENV]))
        _aio_client = held
    return held[2]


def handle(enqueued_at: float) -> None:
    """The benchmark job for synchronous libraries: record the start, then (W2io) one
    ``RPUSH`` to the private Redis with redis-py's blocking client."""
    record(enqueued_at)
    if IO:
        _sync_client().rpush(IO_KEY, enqueued_at)


async def ahandle(enqueued_at: float) -> None:
    """The benchmark job for asyncio libraries: record the start, then (W2io) one awaited
    ``RPUSH`` to the private Redis with redis-py's asyncio client."""
    record(enqueued_at)
    if IO:
        await _async_client().rpush(IO_KEY, enqueued_at)
