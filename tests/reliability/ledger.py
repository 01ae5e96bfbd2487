"""The ledger: an append-only record of what producers and workers did, one JSONL file a process.

Every record is one ``os.write`` on a file opened with ``O_APPEND``, so a line is never split
between writers and survives a SIGKILL of its process (the kernel keeps written data; fsync is
only needed against power loss, which these tests do not simulate). Times come from
``CLOCK_REALTIME`` directly, so a worker whose ``time.time`` is skewed on purpose still writes
true times.

Record kinds (field ``e``):

* ``enq``: an acknowledged enqueue (``job``).
* ``claim``: a claim handed to this process (``job``, ``token``, ``attempt``, ``until``, ``lease``).
* ``start`` / ``end``: a handler run began / returned (``job``, ``token``, ``outcome``).
* ``ack``: ``complete`` / ``fail`` / ``release`` / ``extend`` (``op``) with ``ok`` false when the
  backend answered ``LeaseLost``; ``extend`` also has ``until``.
* ``fault``: the harness injected a fault (``kind``: kill, stop, cont, term, cut, blackhole,
  drop_reply, redis_kill, ...) on ``pid`` (None: every process of the run).
* ``error``: an error that reached the caller (``where``, ``type``, ``message``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

__all__ = ["Ledger", "now", "read_ledger"]

_encoder = msgspec.json.Encoder()


def now() -> float:
    """Epoch seconds from the real-time clock (immune to a monkeypatched ``time.time``)."""
    return time.clock_gettime(time.CLOCK_REALTIME)


class Ledger:
    """The writer for this process: ``directory/<role>-<pid>.jsonl``."""

    def __init__(self, directory: Path, role: str) -> None:
        self.pid = os.getpid()
        self.path = directory / f"{role}-{self.pid}.jsonl"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, event: str, /, **fields: Any) -> None:
        """Append one record (with ``pid`` and ``t``) in a single write."""
        record = {"e": event, "pid": self.pid, "t": now(), **fields}
        os.write(self._fd, _encoder.encode(record) + b"\n")

    def close(self) -> None:
        """Close the file (records already written stay)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def read_ledger(directory: Path, pattern: str = "*.jsonl") -> Iterator[dict[str, Any]]:
    """Every complete record of the files in ``directory`` (a torn last line is skipped)."""
    for path in sorted(directory.glob(pattern)):
        for line in path.read_bytes().splitlines():
            try:
                record = msgspec.json.decode(line)
            except msgspec.DecodeError:
                continue
            if isinstance(record, dict):
                yield record
