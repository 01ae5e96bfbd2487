"""Checks every public entry point runs before anything is written, shared by all adapters.

Each ``check_*`` returns its (normalised) argument or raises ``ValidationError`` with a message that
names the argument and the allowed range. (:mod:`kmsg.jobs` turns a ``NewJob`` into the validated,
encoded ``PreparedJob`` an adapter stores.)
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from typing import Final

from kmsg.errors import ValidationError
from kmsg.models import Backoff, JobState, Lease

__all__ = [
    "MAX_ATTEMPTS",
    "MAX_BATCH",
    "MAX_DELAY",
    "MAX_LEASE",
    "MAX_PRIORITY",
    "MAX_PROGRESS_BYTES",
    "MIN_LEASE",
    "MIN_PRIORITY",
    "STEP_BYTES",
    "STEP_JOBS",
    "check_batch",
    "check_dedupe_key",
    "check_job_ids",
    "check_lease",
    "check_lease_arg",
    "check_int",
    "check_limit",
    "check_name",
    "check_number",
    "check_progress",
    "check_rate_limit",
    "check_seconds",
    "check_trace_parent",
    "check_states",
    "describe_error",
]

NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
MIN_PRIORITY: Final = -1000
MAX_PRIORITY: Final = 1000
MAX_ATTEMPTS: Final = 1000
MIN_LEASE: Final = 0.05
MAX_LEASE: Final = 7 * 24 * 3600.0
MAX_DELAY: Final = 10 * 366 * 24 * 3600.0
MAX_BATCH: Final = 10_000
STEP_JOBS: Final = 500
"""Most jobs one atomic step (one Lua script, one SQLite transaction) touches; see kmsg.queue."""
STEP_BYTES: Final = 1 << 20
"""About the most bytes of new job data one atomic step writes (a bigger single job is a step)."""
MAX_DEDUPE_KEY: Final = 512
MAX_RESULT_BYTES: Final = 64 * 1024
MAX_PROGRESS_BYTES: Final = 1024
MAX_RATE_JOBS: Final = 1_000_000
MAX_ERROR_MESSAGE: Final = 2000
DEFAULT_QUEUE: Final = "default"
DEFAULT_LEASE: Final = 30.0
DEFAULT_MAX_ATTEMPTS: Final = 3


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_name(kind: str, name: object) -> str:
    """Return ``name`` if it is a valid queue, task or job-id name, else raise ``ValidationError``.

    Names are 1-128 characters of ``[A-Za-z0-9_.:-]``: safe in SQL parameters, Redis keys and hash
    tags, URLs and file names alike.
    """
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        raise ValidationError(
            f"invalid {kind} name {_shown(name)}: use 1-128 characters of [A-Za-z0-9_.:-]"
        )
    return name


def check_number(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"{name} must be a number, not {_shown(value)}")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise ValidationError(f"{name} must be between {low:g} and {high:g}, not {_shown(value)}")
    return number


def check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{name} must be an integer, not {_shown(value)}")
    if not low <= value <= high:
        raise ValidationError(f"{name} must be between {low} and {high}, not {value}")
    return value


def check_seconds(name: str, value: object, *, high: float = MAX_DELAY) -> float:
    """A duration in seconds: finite, 0 or more, at most ``high``."""
    return check_number(name, value, 0.0, high)


def check_lease(value: object) -> float:
    """A lease duration in seconds, between ``MIN_LEASE`` and ``MAX_LEASE``."""
    return check_number("lease", value, MIN_LEASE, MAX_LEASE)


def check_limit(value: object, *, high: int = MAX_BATCH) -> int:
    """A positive count (claim limit, page size), at most ``high``."""
    return check_int("limit", value, 1, high)


def check_batch(count: int) -> None:
    """A batch of ``count`` items may be written in one step (1 to ``MAX_BATCH``; 0 is fine too)."""
    if count > MAX_BATCH:
        raise ValidationError(f"a batch holds at most {MAX_BATCH} items, not {count}")


def check_dedupe_key(value: object) -> str | None:
    """None, or a non-empty printable string of at most 512 characters, normalised to Unicode
    NFC: keys that look the same are the same key (the composed and the decomposed spelling of
    a Korean syllable or an accented letter dedupe onto one job)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationError(f"dedupe_key must be a string of 1-{MAX_DEDUPE_KEY} characters")
    value = unicodedata.normalize("NFC", value)
    if not 1 <= len(value) <= MAX_DEDUPE_KEY:
        raise ValidationError(f"dedupe_key must be a string of 1-{MAX_DEDUPE_KEY} characters")
    if not value.isprintable():
        raise ValidationError(f"dedupe_key must be printable, not {_shown(value)}")
    return value


def check_states(states: Iterable[object], *, allowed: Iterable[JobState]) -> frozenset[JobState]:
    """A non-empty set of states drawn from ``allowed`` (strings are accepted)."""
    permitted = frozenset(allowed)
    result: set[JobState] = set()
    for state in states:
        try:
            parsed = JobState(state) if isinstance(state, str) else JobState(str(state))
        except ValueError:
            raise ValidationError(f"unknown job state {_shown(state)}") from None
        if parsed not in permitted:
            names = sorted(s.value for s in permitted)
            raise ValidationError(f"state {parsed.value!r} is not allowed here; use one of {names}")
        result.add(parsed)
    if not result:
        raise ValidationError("at least one state is required")
    return frozenset(result)


def check_result(result: object) -> bytes | None:
    """None, or bytes of at most 64 KiB (a job's result is meant to be small)."""
    if result is None:
        return None
    if not isinstance(result, bytes):
        raise ValidationError(f"result must be bytes or None, not {type(result).__name__}")
    if len(result) > MAX_RESULT_BYTES:
        raise ValidationError(f"result is {len(result)} bytes; the limit is {MAX_RESULT_BYTES}")
    return result


def check_progress(progress: object) -> bytes | None:
    """None (leave it as it is), or a job's progress: 1 to 1 KiB of bytes (JSON, by the worker)."""
    if progress is None:
        return None
    if not isinstance(progress, bytes):
        raise ValidationError(f"progress must be bytes or None, not {type(progress).__name__}")
    if not 0 < len(progress) <= MAX_PROGRESS_BYTES:
        raise ValidationError(
            f"progress is {len(progress)} bytes; it must be 1 to {MAX_PROGRESS_BYTES}"
        )
    return progress


_TRACE_PARENT: Final = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


def check_trace_parent(value: object) -> str | None:
    """None, or a W3C ``traceparent`` header value (version-traceid-parentid-flags, lowercase
    hex), which is how a job carries its producer's trace context."""
    if value is None:
        return None
    if not isinstance(value, str) or not _TRACE_PARENT.fullmatch(value):
        raise ValidationError(f"trace_parent must be a W3C traceparent value, not {value!r:.80}")
    return value


def check_lease_arg(lease: object) -> Lease:
    """A :class:`~kmsg.Lease` (what ``complete``, ``fail``, ``extend`` and ``release`` take)."""
    if not isinstance(lease, Lease):
        raise ValidationError(f"expected a kmsg.Lease, not {type(lease).__name__}")
    return lease


def check_job_ids(job_ids: Iterable[object] | None) -> list[str] | None:
    """None (meaning every job), or valid job ids without repeats, at most ``MAX_BATCH``."""
    if job_ids is None:
        return None
    if isinstance(job_ids, str | bytes):
        raise ValidationError("job_ids must be an iterable of ids, not a single string")
    ids = list(dict.fromkeys(check_name("job id", job_id) for job_id in job_ids))
    check_batch(len(ids))
    return ids


def check_rate_limit(max_jobs: object, per_seconds: object) -> tuple[int | None, float]:
    """``(max_jobs, per_seconds)``: None or 1 to 1,000,000 jobs, per a positive duration."""
    if max_jobs is not None:
        max_jobs = check_int("max_jobs", max_jobs, 1, MAX_RATE_JOBS)
    period = check_seconds("per_seconds", per_seconds)
    if period <= 0:
        raise ValidationError("per_seconds must be more than 0")
    return max_jobs, period


def describe_error(error: object) -> tuple[str, str]:
    """``(type name, message)`` recorded for a failed attempt; the message is cut at 2,000 chars.

    A string is recorded with the type name ``Error``.
    """
    if isinstance(error, str):
        return "Error", error[:MAX_ERROR_MESSAGE]
    if isinstance(error, BaseException):
        return type(error).__name__, str(error)[:MAX_ERROR_MESSAGE]
    raise ValidationError(f"error must be an exception or a string, not {type(error).__name__}")


def check_backoff(value: object) -> Backoff:
    """A Backoff with initial and maximum in [0, MAX_DELAY] and factor in [1, 100]."""
    if not isinstance(value, Backoff):
        raise ValidationError(f"backoff must be a kmsg.Backoff, not {type(value).__name__}")
    check_seconds("backoff.initial", value.initial)
    check_seconds("backoff.maximum", value.maximum)
    check_number("backoff.factor", value.factor, 1.0, 100.0)
    return value
