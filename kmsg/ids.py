"""Job ids: 26-character ULIDs (Crockford base32), made by the client.

The first 10 characters are the creation time in milliseconds, the last 16 are random, so ids
sort by creation time and stay unique without asking the backend; that lets a job keep its id when
it moves between backends. Within one process ids are strictly increasing, even within one
millisecond.
"""

from __future__ import annotations

import base64
import os
import threading
import time

__all__ = ["new_job_id"]

_ALPHABET = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# base64's base32 speaks RFC 4648's alphabet; this table turns it into Crockford's.
_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET)
_RANDOM_BITS = 80
_lock = threading.Lock()
_last_ms = 0
_last_random = 0


def _encode(value: int) -> str:
    """26 Crockford base32 characters for a 128-bit value (130 bits, the top two zero)."""
    # Shifted into 160 bits, the value fills exactly 32 base32 characters; the first 26 are it.
    padded = base64.b32encode((value << 30).to_bytes(20, "big"))
    return padded[:26].translate(_TO_CROCKFORD).decode("ascii")


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
        return _encode(now_ms << _RANDOM_BITS | _last_random)
