"""Job ids: 26-character ULIDs (Crockford base32), made by the client.

The first 10 characters are the creation time in milliseconds, the last 16 are random, so ids
sort by creation time and stay unique without asking the backend; that lets a job keep its id when
it moves between backends. Within one process ids are strictly increasing, even within one millisecond.
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["new_job_id"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_RANDOM_BITS = 80
_lock = threading.Lock()
_last_ms = 0
_last_random = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_job_id() -> str:
    """A new ULID, greater than every id this process made before it."""
    global _last_ms, _last_random
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= _last_ms:
            now_ms = _last_ms
            _last_random += 1
            if _last_random >> _RANDOM_BITS:
                now_ms += 1
                _last_random = int.from_bytes(os.urandom(10), "big") >> 1
        else:
            _last_random = int.from_bytes(os.urandom(10), "big") >> 1
        _last_ms = now_ms
        return _encode(now_ms, 10) + _encode(_last_random, 16)
