"""What the adapter checks about its Redis: the version, the eviction policy, and lost data.

* **Version.** The scripts declare Redis 7 flags (``allow-oom``, ``no-writes``), so a server older
  than 7.0 is refused at open with ``BackendUnavailable``.
* **Eviction.** A Redis that may evict keys (any ``maxmemory-policy`` but ``noeviction``) can
  silently drop a queue's index or its job records: jobs vanish while enqueues were
  acknowledged. Opening a queue refuses such a server with ``BackendUnavailable`` naming the
  setting and the fix, unless the ``eviction=warn`` option downgrades that to a logged warning.
  A server that does not let the client read ``INFO`` cannot be checked; that is logged too.
* **Lost data.** The first client writes ``<prefix>:marker`` (a random epoch) once. Each adapter
  remembers the epoch it saw and checks it again after its connection was re-made and at least
  every :data:`CHECK_EVERY` seconds: a marker that is gone or changed means the server lost its
  data (a restart without persistence, a failover to an empty replica, a flush). That is logged
  as an error once per event and counted in :attr:`MarkerWatch.data_losses`.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any, Final

from kmsg.adapters.redis.plans import Command
from kmsg.errors import BackendUnavailable
from kmsg.plans import Plan

__all__ = ["CHECK_EVERY", "MarkerWatch", "check_server", "parse_info"]

CHECK_EVERY: Final = 30.0
MIN_VERSION: Final = (7, 0)

_log = logging.getLogger("kmsg.adapters.redis")


def parse_info(reply: Any) -> dict[str, str]:
    """``INFO`` text (or redis-py's parsed dict) as a flat ``name -> value`` dict of strings."""
    if isinstance(reply, dict):
        return {str(key): str(value) for key, value in reply.items()}
    text = reply.decode() if isinstance(reply, bytes) else str(reply)
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and not line.startswith("#"):
            fields[name.strip()] = value.strip()
    return fields


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split(".")[:2]:
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def check_server(infos: list[dict[str, str]], where: str, *, eviction: str) -> None:
    """Refuse (``BackendUnavailable``) or warn about what the ``INFO`` of each primary shows."""
    for info in infos:
        version = info.get("redis_version", "")
        if version and _version(version) < MIN_VERSION:
            raise BackendUnavailable(
                f"Redis at {where} runs version {version}; kmsg needs Redis 7.0 or newer"
                " (its scripts declare Redis 7 script flags)"
            )
        policy = info.get("maxmemory_policy")
        if policy is None or policy == "noeviction":
            continue
        message = (
            f"Redis at {where} has maxmemory-policy {policy}: it may evict kmsg's keys and lose"
            " acknowledged jobs without a trace. Set `maxmemory-policy noeviction` (CONFIG SET"
            " maxmemory-policy noeviction, and in redis.conf), or open the queue with"
            " eviction=warn to accept the risk"
        )
        if eviction == "refuse":
            raise BackendUnavailable(message)
        _log.warning("%s", message)


class MarkerWatch:
    """Notices a server that lost its data, through the marker key (module docstring)."""

    def __init__(self, key: str, where: str) -> None:
        self._key = key
        self._where = where
        self._epoch: bytes | None = None
        self._next_check = 0.0
        self.recheck = True
        """Set when a connection was re-made: the next call checks the marker first."""
        self.data_losses = 0
        """How many times the marker was found gone or changed since the adapter opened."""

    def due(self) -> bool:
        """Whether the marker should be checked before the next call."""
        return self.recheck or time.monotonic() >= self._next_check

    def check(self) -> Plan[Command, None]:
        """Plan: read the marker (creating it if there is none) and report a change once."""
        self.recheck = False
        self._next_check = time.monotonic() + CHECK_EVERY
        found = yield Command(("GET", self._key))
        if found is None:  # first client, or the data is gone (SET only then: it needs memory)
            yield Command(("SET", self._key, secrets.token_hex(8), "NX"))
            found = yield Command(("GET", self._key))
        seen, self._epoch = self._epoch, found
        if seen is None or found == seen:
            return
        self.data_losses += 1
        _log.error(
            "Redis at %s lost its data: the marker %s written earlier is gone (a restart without"
            " persistence, a failover to an empty replica or a flush); jobs queued before may be"
            " lost and their holders will see LeaseLost",
            self._where,
            self._key,
        )
