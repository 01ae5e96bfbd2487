"""kmsg: a typed, at-least-once job queue for message-sending work, on SQLite or Redis.

Open a queue with :func:`open_queue`, enqueue msgspec Struct payloads, and run them with a worker.
The contract every backend keeps is :class:`JobQueue` (see ``kmsg.queue``).
"""

import logging

from kmsg.codec import PayloadCodec, TaskRegistry, task_name_of
from kmsg.errors import (
    BackendFull,
    BackendUnavailable,
    IncompleteBatch,
    JobCancelled,
    JobFailed,
    JobNotFound,
    KMsgError,
    KmsgError,
    KMsgErrorCode,
    LeaseLost,
    MissingDependencyError,
    PayloadDecodeError,
    ProviderError,
    ProviderErrorCode,
    ValidationError,
    WaitTimeout,
)
from kmsg.ids import new_job_id
from kmsg.jobs import NewJob
from kmsg.models import (
    Backoff,
    ClaimedJob,
    Enqueued,
    EnqueueOutcome,
    Job,
    JobError,
    JobPage,
    JobState,
    Lease,
    QueueStats,
    RateLimit,
    RetryResult,
    Skipped,
    SkipReason,
)
from kmsg.queue import Capabilities, JobQueue
from kmsg.urls import open_queue, redact_url

__version__ = "0.1.0"

# A library never configures logging; this keeps Python's last-resort handler from printing our
# records when the application has not set logging up.
logging.getLogger("kmsg").addHandler(logging.NullHandler())

__all__ = [
    "BackendFull",
    "BackendUnavailable",
    "Backoff",
    "Capabilities",
    "ClaimedJob",
    "EnqueueOutcome",
    "Enqueued",
    "IncompleteBatch",
    "Job",
    "JobCancelled",
    "JobError",
    "JobFailed",
    "JobNotFound",
    "JobPage",
    "JobQueue",
    "JobState",
    "KMsgError",
    "KMsgErrorCode",
    "KmsgError",
    "Lease",
    "LeaseLost",
    "MissingDependencyError",
    "NewJob",
    "PayloadCodec",
    "PayloadDecodeError",
    "ProviderError",
    "ProviderErrorCode",
    "QueueStats",
    "RateLimit",
    "RetryResult",
    "SkipReason",
    "Skipped",
    "TaskRegistry",
    "ValidationError",
    "WaitTimeout",
    "__version__",
    "new_job_id",
    "open_queue",
    "redact_url",
    "task_name_of",
]
