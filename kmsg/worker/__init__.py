"""The worker runtime: typed handlers, leases with heartbeats, retries and graceful shutdown.

::

    worker = Worker(queue, queues=("sms",), concurrency=20)

    @worker.task
    async def send(msg: SendSms) -> SendResult:
        ctx = current_job()  # the job, its attempt number, the queue
        ...

    @worker.task
    def render(msg: RenderPdf) -> None:  # a plain def: runs in a worker thread, may block
        ...

    await worker.run()  # until SIGINT / SIGTERM or worker.stop()

An ``async def`` handler must never block the event loop; a watchdog warns, naming the job,
when one does (see :mod:`kmsg.worker.watchdog`).
"""

from kmsg.worker.context import JobContext, current_job
from kmsg.worker.events import EventKind, EventListener, WorkerEvent
from kmsg.worker.handler_errors import (
    JobTimeout,
    NonRetryable,
    RegistrationError,
    ResultError,
    Retry,
    Snooze,
    UnknownTask,
)
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
    "Snooze",
    "UnknownTask",
    "Worker",
    "WorkerEvent",
    "current_job",
]
