"""What every benchmark task calls: records when it started, in the worker process.

Each worker process keeps its counts in memory and a daemon thread flushes them to the private
Redis every few milliseconds (``INCRBY`` of the done counter, the process's first and last start
times, the enqueue-to-start latencies). One pipelined round trip per flush keeps the measuring cost
out of the per-job path, so every system pays the same small price. The harness reads the keys.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Final

import redis

DONE_KEY: Final = "bench:done"
LATENCY_KEY: Final = "bench:lat"
PROC_PREFIX: Final = "bench:proc:"
REDIS_URL_ENV: Final = "BENCH_REDIS_URL"
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
