"""The kmsg exception tree.

Every error kmsg raises on purpose derives from :class:`KmsgError`::

    KmsgError
    ├── ValidationError          bad input: a payload, option or name; nothing was written
    ├── JobNotFound              no job with that id in that queue
    ├── LeaseLost                fencing: the lease token is stale; nothing was changed
    ├── PayloadDecodeError       stored payload bytes do not decode to the task's type
    ├── WaitTimeout              ``wait``/``result``: the job did not end in time (a TimeoutError)
    ├── JobFailed                ``result``: the job ended as a dead letter (has the job)
    ├── JobCancelled             ``result``: the job was cancelled (has the job)
    ├── BackendUnavailable       the backend cannot be reached or run here, or refused the store
    │   ├── BackendFull          out of memory or disk: writes refused, draining still works
    │   └── IncompleteBatch      a multi-step ``enqueue_many`` stopped part way (see ``stored``)
    ├── MissingDependencyError   an optional extra is not installed
    └── ProviderError            a message provider refused or failed a send (has a code)

Subclasses carry structured fields (``LeaseLost.job_id``, ``ProviderError.code``) so callers never
parse messages. ``KMsgError`` and ``KMsgErrorCode`` (the K-Message platform's names) are aliases of
``ProviderError`` and ``ProviderErrorCode``, kept so that code written against them still works;
the new names keep the root ``KmsgError`` and a provider's error from reading alike.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kmsg.models import Job

__all__ = [
    "BackendFull",
    "BackendUnavailable",
    "IncompleteBatch",
    "JobCancelled",
    "JobFailed",
    "JobNotFound",
    "KMsgError",
    "ProviderErrorCode",
    "KmsgError",
    "LeaseLost",
    "MissingDependencyError",
    "PayloadDecodeError",
    "ValidationError",
    "WaitTimeout",
]


class KmsgError(Exception):
    """Root of every error kmsg raises on purpose."""


class ValidationError(KmsgError, ValueError):
    """Input was refused before anything was written: a payload, an option, a name or a URL."""


class JobNotFound(KmsgError, LookupError):
    """No job with ``job_id`` exists in ``queue`` (it never did, or it was removed)."""

    def __init__(self, queue: str, job_id: str) -> None:
        super().__init__(f"job {job_id!r} not found in queue {queue!r}")
        self.queue = queue
        self.job_id = job_id


class LeaseLost(KmsgError):
    """The caller no longer holds the job's lease, so the call changed nothing.

    Raised by ``complete``, ``fail``, ``extend`` and ``release`` when the job is not ``processing``
    under the given token: the lease expired and the job was reclaimed (perhaps by another worker),
    the job was cancelled, or it was removed.
    """

    def __init__(self, queue: str, job_id: str, reason: str = "the lease token is stale") -> None:
        super().__init__(f"lease lost on job {job_id!r} in queue {queue!r}: {reason}")
        self.queue = queue
        self.job_id = job_id
        self.reason = reason


class PayloadDecodeError(KmsgError):
    """Stored payload bytes could not be decoded to the task's payload type."""

    def __init__(self, task: str, detail: str) -> None:
        super().__init__(f"payload of task {task!r} does not decode: {detail}")
        self.task = task
        self.detail = detail


class WaitTimeout(KmsgError, TimeoutError):
    """The job waited for did not end in the time given (it may still end later)."""

    def __init__(self, queue: str, job_id: str, within: float) -> None:
        super().__init__(f"job {job_id!r} in queue {queue!r} did not end within {within:g} s")
        self.queue = queue
        self.job_id = job_id
        self.within = within


class JobFailed(KmsgError):
    """The job awaited by ``result`` ended as a dead letter; ``job`` holds its error history."""

    def __init__(self, job: Job) -> None:
        last = job.last_error
        why = f"{last.type}: {last.message}" if last else "no error recorded"
        super().__init__(f"job {job.id!r} in queue {job.queue!r} failed: {why}")
        self.job = job


class JobCancelled(KmsgError):
    """The job awaited by ``result`` was cancelled; ``job`` is its final snapshot."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"job {job.id!r} in queue {job.queue!r} was cancelled")
        self.job = job


class BackendUnavailable(KmsgError):
    """The backend cannot be reached, cannot run under the current async library, or refused to
    open the store (a file that is not kmsg's, a corrupted file, an unsafe server setting)."""


class BackendFull(BackendUnavailable):
    """The backend refused a write for want of memory or disk; nothing of that call was written.

    Redis answers ``OOM`` above ``maxmemory`` (with ``maxmemory-policy noeviction``); SQLite
    answers ``SQLITE_FULL`` when the disk is full. Enqueueing is refused, while the calls that
    drain a queue and free space (claim, complete, fail, extend, release, cancel, remove, purge,
    cleanup, clear) keep working on Redis.
    """


class IncompleteBatch(BackendUnavailable):
    """``enqueue_many`` wrote a large batch in several atomic steps and one of them failed.

    ``ids`` holds every job's id in input order (the ids the call chose, or the id each job was
    deduplicated onto for the steps that ran); ``stored`` is the set of ids known to be written.
    The jobs of the failed step and after it may or may not be stored: enqueue them again with
    the same ``job_id`` (a replayed id is a harmless no-op). The failed step's own error is the
    ``__cause__``.
    """

    def __init__(self, message: str, *, ids: list[str], stored: frozenset[str]) -> None:
        super().__init__(message)
        self.ids = ids
        self.stored = stored


class MissingDependencyError(KmsgError, ImportError):
    """An optional dependency is missing; ``extra`` names the extra that installs it."""

    def __init__(self, feature: str, extra: str) -> None:
        super().__init__(f'{feature} needs an optional dependency: pip install "kmsg[{extra}]"')
        self.feature = feature
        self.extra = extra


class ProviderErrorCode(enum.StrEnum):
    """Why a message provider refused or failed a send."""

    INVALID_REQUEST = "INVALID_REQUEST"
    AUTHENTICATION_FAILED = "AUTHENTICATION_FAILED"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    TEMPLATE_NOT_FOUND = "TEMPLATE_NOT_FOUND"
    INVALID_RECIPIENT = "INVALID_RECIPIENT"
    NOT_KAKAO_USER = "NOT_KAKAO_USER"
    OUTSIDE_SEND_WINDOW = "OUTSIDE_SEND_WINDOW"
    RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
    NETWORK_ERROR = "NETWORK_ERROR"
    NETWORK_TIMEOUT = "NETWORK_TIMEOUT"
    PROVIDER_ERROR = "PROVIDER_ERROR"
    UNKNOWN_ERROR = "UNKNOWN_ERROR"

    @property
    def retryable(self) -> bool:
        """Whether a send that failed with this code may succeed if tried again later."""
        return self in _RETRYABLE_CODES

    @property
    def falls_back(self) -> bool:
        """Whether a KakaoTalk message refused with this code may still reach its recipient by
        SMS/LMS (not a KakaoTalk user, or outside KakaoTalk's send window)."""
        return self in _FALLBACK_CODES


_RETRYABLE_CODES = frozenset(
    {
        ProviderErrorCode.RATE_LIMIT_EXCEEDED,
        ProviderErrorCode.NETWORK_ERROR,
        ProviderErrorCode.NETWORK_TIMEOUT,
        ProviderErrorCode.PROVIDER_ERROR,
        ProviderErrorCode.UNKNOWN_ERROR,
    }
)


_FALLBACK_CODES = frozenset(
    {ProviderErrorCode.NOT_KAKAO_USER, ProviderErrorCode.OUTSIDE_SEND_WINDOW}
)


class ProviderError(KmsgError):
    """A message provider refused or failed a send.

    ``retryable`` defaults to what the code implies; ``retry_after`` (seconds) is the provider's
    hint, e.g. from an HTTP ``Retry-After`` header on ``RATE_LIMIT_EXCEEDED``.
    """

    def __init__(
        self,
        code: ProviderErrorCode,
        message: str,
        *,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message
        self.retryable = code.retryable if retryable is None else retryable
        self.retry_after = retry_after


KMsgError = ProviderError
"""The K-Message platform's name for :class:`ProviderError` (an alias)."""
KMsgErrorCode = ProviderErrorCode
"""The K-Message platform's name for :class:`ProviderErrorCode` (an alias)."""
