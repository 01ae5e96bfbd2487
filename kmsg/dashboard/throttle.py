"""Per-client backoff for wrong credentials (the login form and ``Authorization: Bearer``).

A client (an IPv4 address, or the /64 network of an IPv6 address, since one host commonly holds a
whole /64) may get its credentials wrong ``free_failures`` times in a row; after that each wrong
attempt locks it out for ``base_delay * 2**k`` seconds (k = 0, 1, ...), at most ``max_delay``.
While locked out every attempt is refused with 429 and ``Retry-After`` without checking the
credentials, so guessing is slowed even when the guess is right. A success forgets the client; so
does ``forget_after`` seconds without a failure.

Memory is bounded: at most ``capacity`` clients are remembered; when full, the client whose last
failure is oldest is forgotten first. Behind a reverse proxy, declare it trusted (see
:mod:`kmsg.dashboard.network`), or every client shares the proxy's address and one client's
failures lock everyone out.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LoginThrottle", "client_key"]


def client_key(address: str | None) -> str:
    """The key failures are counted under: the address, an IPv6 address's /64, or ``?``."""
    if not address:
        return "?"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


@dataclass
class _Record:
    failures: int
    last_failure: float
    locked_until: float


class LoginThrottle:
    """Counts wrong credentials per client and says how long a client must wait (module docs).

    ``clock`` is a monotonic clock in seconds (injectable for tests).
    """

    def __init__(
        self,
        *,
        free_failures: int = 5,
        base_delay: float = 1.0,
        max_delay: float = 300.0,
        forget_after: float = 900.0,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if free_failures < 0 or base_delay <= 0 or max_delay < base_delay or capacity < 1:
            raise ValueError("LoginThrottle needs free_failures >= 0, 0 < base <= max, capacity>0")
        self.free_failures = free_failures
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.forget_after = max(forget_after, max_delay)
        self.capacity = capacity
        self.clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def _live(self, key: str, now: float) -> _Record | None:
        record = self._records.get(key)
        if record is not None and now - record.last_failure >= self.forget_after:
            del self._records[key]
            return None
        return record

    def retry_after(self, address: str | None) -> float:
        """Seconds the client must still wait before its credentials are checked (0: go on)."""
        now = self.clock()
        record = self._live(client_key(address), now)
        return max(0.0, record.locked_until - now) if record is not None else 0.0

    def failed(self, address: str | None) -> float:
        """Record a wrong attempt; return the seconds the client is now locked out (0: none)."""
        now = self.clock()
        key = client_key(address)
        record = self._live(key, now) or _Record(failures=0, last_failure=now, locked_until=now)
        record.failures += 1
        record.last_failure = now
        over = record.failures - self.free_failures
        if over > 0:
            delay = min(self.max_delay, self.base_delay * 2.0 ** min(over - 1, 64))
            record.locked_until = now + delay
        self._records[key] = record
        self._records.move_to_end(key)
        while len(self._records) > self.capacity:
            self._records.popitem(last=False)
        return max(0.0, record.locked_until - now)

    def succeeded(self, address: str | None) -> None:
        """Forget the client's failures."""
        self._records.pop(client_key(address), None)

    @staticmethod
    def header(seconds: float) -> str:
        """A ``Retry-After`` value: whole seconds, rounded up, at least 1."""
        return str(max(1, math.ceil(seconds)))
