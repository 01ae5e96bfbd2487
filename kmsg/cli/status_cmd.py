"""``kmsg status <job id or message id>``: a message's job state and its delivery state.

The id is tried as a job id of the queue first. A send job's result names the provider and
message id, whose delivery record is then read from the queue's delivery store
(:mod:`kmsg.messaging.reports`); a job without one is looked up in the store by its id (a record
linked to it). An id that is no job is looked up as a provider message id (``--provider`` to
choose among gateways). The delivery state shown is the record's, else the one the job implies
(queued, sending, sent, failed, cancelled). Exit 3 when neither a job nor a record is found.
"""

from __future__ import annotations

from typing import Any

import click
import msgspec

from kmsg.cli.app import CliState, ExitCode, fail, run_with_queue
from kmsg.cli.output import console, format_time, print_json, safe
from kmsg.cli.params import queue_option
from kmsg.errors import JobNotFound, ValidationError
from kmsg.messaging.delivery import DeliveryState
from kmsg.messaging.models import SendResult
from kmsg.messaging.reports import DeliveryRecord, open_delivery_store
from kmsg.models import Job, JobState
from kmsg.queue import JobQueue
from kmsg.validation import check_name

__all__ = ["status_cmd"]

_FROM_JOB = {
    JobState.PENDING: DeliveryState.QUEUED,
    JobState.DELAYED: DeliveryState.QUEUED,
    JobState.PROCESSING: DeliveryState.SENDING,
    JobState.COMPLETED: DeliveryState.SENT,
    JobState.FAILED: DeliveryState.FAILED,
    JobState.CANCELLED: DeliveryState.CANCELLED,
}
_result_decoder = msgspec.json.Decoder(SendResult)


class _Found(msgspec.Struct, frozen=True, kw_only=True):
    job: Job | None
    result: SendResult | None
    record: DeliveryRecord | None


def _send_result(job: Job) -> SendResult | None:
    if job.result is None:
        return None
    try:
        return _result_decoder.decode(job.result)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None


async def _get_job(queue: JobQueue, queue_name: str, some_id: str) -> Job | None:
    try:
        check_name("job id", some_id)
    except ValidationError:
        return None
    try:
        return await queue.get(queue_name, some_id)
    except JobNotFound:
        return None


async def _find(
    state: CliState, queue: JobQueue, queue_name: str, some_id: str, provider: str | None
) -> _Found:
    job = await _get_job(queue, queue_name, some_id)
    result = None if job is None else _send_result(job)
    async with open_delivery_store(state.queue_url, queue=queue_name) as store:
        if result is not None:
            record = await store.lookup(result.provider, result.message_id)
        elif job is not None:
            record = await store.by_job(job.id)
        elif provider is not None:
            record = await store.lookup(provider, some_id)
        else:
            record = await store.find(some_id)
    return _Found(job=job, result=result, record=record)


def _overall(found: _Found) -> DeliveryState:
    if found.record is not None:
        return found.record.state
    assert found.job is not None
    return _FROM_JOB[found.job.state]


def _to_builtins(found: _Found) -> dict[str, Any]:
    job = found.job
    return {
        "state": _overall(found).value,
        "job": None
        if job is None
        else {
            "id": job.id,
            "queue": job.queue,
            "task": job.task,
            "state": job.state.value,
            "attempts": job.attempts,
            "last_error": None if job.last_error is None else job.last_error.message,
        },
        "result": msgspec.to_builtins(found.result),
        "delivery": msgspec.to_builtins(found.record),
    }


def _print(found: _Found) -> None:
    rows: list[tuple[str, object]] = [("delivery state", _overall(found).value)]
    job = found.job
    if job is not None:
        rows += [
            ("job", job.id),
            ("queue", job.queue),
            ("task", job.task),
            ("job state", f"{job.state.value} (attempts {job.attempts})"),
        ]
        if job.last_error is not None:
            rows.append(("last error", f"{job.last_error.type}: {job.last_error.message}"))
    record = found.record
    if found.result is not None:
        rows += [("provider", found.result.provider), ("message id", found.result.message_id)]
    elif record is not None:
        rows += [("provider", record.provider), ("message id", record.message_id)]
    if record is None:
        rows.append(("report", "none yet"))
    else:
        rows.append(("reported", f"{record.state.value} at {format_time(record.reported_at)}"))
        if record.error_code is not None:
            rows.append(("error code", record.error_code))
        if job is None and record.job_id is not None:
            rows.append(("job", record.job_id))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        console.print(f"{name.ljust(width)}  {safe(value)}")


@click.command("status")
@click.argument("some_id", metavar="ID")
@queue_option()
@click.option("--provider", default=None, help="The gateway of a message id (default: any).")
@click.pass_obj
def status_cmd(state: CliState, some_id: str, queue_name: str, provider: str | None) -> None:
    """Show a message's job state and delivery state, by job id or provider message id."""

    async def body(queue: JobQueue) -> _Found:
        return await _find(state, queue, queue_name, some_id, provider)

    found = run_with_queue(state, body)
    if found.job is None and found.record is None:
        fail(f"no job or delivery report {some_id!r} in queue {queue_name}", ExitCode.NOT_FOUND)
    if state.json:
        print_json(_to_builtins(found))
    else:
        _print(found)
