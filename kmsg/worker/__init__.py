"""The worker runtime: typed handlers, leases with heartbeats, retries and graceful shutdown.

::

    worker = Worker(queue, queues=("sms",), concurrency=20)

    @worker.task
    async def send(msg: SendSms) -> SendResult:
        ctx = current_job()  # the job, its attempt number, the queue
        ...

    await worker.run()  # until SIGINT / SIGTERM or worker.stop()
"""

from kmsg.worker.context import JobContext, current_job
from kmsg.worker.errors import (
    JobTimeout,
    NonRetryable,
    RegistrationError,
    ResultError,
    Retry,
    UnknownTask,
)
from kmsg.worker.events import EventKind, EventListener, WorkerEvent
from kmsg.worker.retry import Jitter, RetryPolicy
from kmsg.worker.runtime import Worker

__all__ = [
    "EventKind",
    "EventListener",
    "Jitter",
    "JobContext",
    "JobTimeout",
    "NonRetryable",
    "RegistrationError",
    "ResultError",
    "Retry",
    "RetryPolicy",
    "UnknownTask",
    "Worker",
    "WorkerEvent",
    "current_job",
]
