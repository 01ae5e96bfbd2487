"""The worker's logger and the fields every one of its records carries.

Every record of logger ``kmsg.worker`` has ``job_id``, ``queue``, ``task`` and ``attempt`` as
attributes (``extra``), so structured formatters can index them. Records about the worker as a
whole carry None in the fields that do not apply.
"""

from __future__ import annotations

import logging
from typing import Final

from kmsg.models import Job

__all__ = ["job_extra", "logger", "queue_extra"]

logger: Final = logging.getLogger("kmsg.worker")


def job_extra(job: Job) -> dict[str, object]:
    """The ``extra`` fields of a record about ``job``."""
    return {"job_id": job.id, "queue": job.queue, "task": job.task, "attempt": job.attempts}


def queue_extra(queue: str | None = None) -> dict[str, object]:
    """The ``extra`` fields of a record about the worker, or one of its queues."""
    return {"job_id": None, "queue": queue, "task": None, "attempt": None}
