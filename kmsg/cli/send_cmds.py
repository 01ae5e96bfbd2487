"""``kmsg send`` and ``kmsg test-send``: enqueue one message, and optionally wait for its outcome.

The message is built (and so validated: phone number, lengths) before anything is written; an
invalid one exits 2, and so does an option the message type has no use for (``--subject`` on an
SMS, which has no subject: it would be dropped silently). An AlimTalk template and its variables
are checked with the provider when it can look templates up (:mod:`kmsg.cli.template_check`).
Sending happens in a worker (``kmsg worker``); ``--wait`` polls the job until it is completed,
dead-lettered or cancelled.
"""

from __future__ import annotations

import time
from typing import Any, Final

import click
import msgspec

from kmsg.cli.app import CliState, fail, run_with_queue
from kmsg.cli.output import console, job_to_builtins, print_json, safe
from kmsg.cli.params import DURATION, queue_option
from kmsg.cli.template_check import check_template
from kmsg.errors import ValidationError, WaitTimeout
from kmsg.messaging.models import (
    AlimTalk,
    FriendTalk,
    Lms,
    Message,
    MessagePriority,
    Mms,
    Sms,
)
from kmsg.messaging.processor import SendMessageJob, SendScheduledMessageJob
from kmsg.models import Job, JobState
from kmsg.queue import JobQueue

__all__ = ["KINDS", "build_message", "send_cmd", "test_send_cmd"]

KINDS: Final = ("sms", "lms", "mms", "alimtalk", "friendtalk")


# option (the send_cmd parameter) -> its flag and the message types that use it
_OPTION_KINDS: Final = {
    "text": ("--text", ("sms", "lms", "mms", "friendtalk")),
    "subject": ("--subject", ("lms", "mms")),
    "images": ("--image", ("mms",)),
    "image_url": ("--image-url", ("friendtalk",)),
    "template": ("--template", ("alimtalk",)),
    "variables": ("--var", ("alimtalk",)),
}


def _refuse_unused_options(kind: str, fields: dict[str, Any]) -> None:
    """A usage error for an option given that a ``kind`` message would silently drop."""
    for name, (flag, kinds) in _OPTION_KINDS.items():
        if fields.get(name) and kind not in kinds:
            hint = " (an SMS has no subject: use --type lms)" if name == "subject" else ""
            raise click.UsageError(f"{flag} is for {', '.join(kinds)} messages, not {kind}{hint}")


def _variables(pairs: tuple[str, ...]) -> dict[str, str]:
    variables: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--var")
        variables[name] = value
    return variables


def _text(kind: str, fields: dict[str, Any]) -> str:
    text = fields.get("text")
    if not isinstance(text, str) or not text:
        raise ValidationError(f"a {kind} message needs --text")
    return text


def build_message(kind: str, to: str, sender: str | None, **fields: Any) -> Message:
    """Build (and so validate) a message of ``kind`` (one of :data:`KINDS`).

    Raises ``ValidationError`` for an invalid number, text or template option.
    """
    subject = fields.get("subject")
    if kind == "sms":
        return Sms(to=to, sender=sender, text=_text(kind, fields))
    if kind == "lms":
        return Lms(to=to, sender=sender, text=_text(kind, fields), subject=subject)
    if kind == "mms":
        images = tuple(fields.get("images", ()))
        return Mms(to=to, sender=sender, text=_text(kind, fields), subject=subject, images=images)
    if kind == "friendtalk":
        image_url = fields.get("image_url")
        return FriendTalk(to=to, sender=sender, text=_text(kind, fields), image_url=image_url)
    if kind != "alimtalk":
        raise ValidationError(f"unknown message type {kind!r}; use one of {list(KINDS)}")
    template = fields.get("template")
    if not template:
        raise ValidationError("an alimtalk message needs --template")
    variables = fields.get("variables", {})
    return AlimTalk(to=to, sender=sender, template_code=template, variables=variables)


async def enqueue_message(
    queue: JobQueue, message: Message, *, queue_name: str, priority: str, delay: float | None
) -> str:
    """Enqueue ``message`` as a ``send_message`` job (``send_scheduled_message`` with a delay)."""
    payload: SendMessageJob | SendScheduledMessageJob = SendMessageJob(message=message)
    run_at = None
    if delay:
        run_at = time.time() + delay
        payload = SendScheduledMessageJob(message=message, scheduled_at=run_at)
    return await queue.enqueue(
        payload,
        queue=queue_name,
        priority=MessagePriority(priority).queue_priority,
        run_at=run_at,
    )


async def wait_for_job(queue: JobQueue, queue_name: str, job_id: str, patience: float) -> Job:
    """The job once it has ended (:meth:`kmsg.JobQueue.wait`), or its snapshot when
    ``patience`` seconds pass first."""
    try:
        return await queue.wait(queue_name, job_id, within=patience)
    except WaitTimeout:
        return await queue.get(queue_name, job_id)


def _enqueue_and_report(
    state: CliState,
    message: Message,
    options: dict[str, Any],
    wait: float | None,
    *,
    check: bool = False,
) -> None:
    queue_name: str = options["queue_name"]

    async def body(queue: JobQueue) -> tuple[str, Job | None]:
        if check and isinstance(message, AlimTalk):
            await check_template(state, message)
        job_id = await enqueue_message(queue, message, **options)
        if wait is None:
            return job_id, None
        return job_id, await wait_for_job(queue, queue_name, job_id, wait)

    job_id, job = run_with_queue(state, body)
    if job is None:
        if state.json:
            print_json({"job_id": job_id, "queue": queue_name, "to": message.to})
        else:
            console.print(
                safe(f"queued {job_id} on {queue_name} ({type(message).__name__} to {message.to})")
            )
        return
    _report_outcome(state, job)


def _report_outcome(state: CliState, job: Job) -> None:
    if state.json:
        print_json(job_to_builtins(job))
    elif job.state is JobState.COMPLETED:
        result = msgspec.json.decode(job.result) if job.result else None
        console.print(
            safe(f"sent: job {job.id} completed after {job.attempts} attempt(s): {result}")
        )
    if job.state is JobState.COMPLETED:
        return
    if not job.state.terminal:
        fail(f"job {job.id} is still {job.state.value} (is a worker running on {job.queue}?)")
    error = job.last_error
    detail = f": {error.type}: {error.message}" if error else ""
    fail(f"job {job.id} ended {job.state.value}{detail}")


def _pop_wait(fields: dict[str, Any]) -> float | None:
    """Take ``--wait`` and ``--timeout`` out of ``fields``: the seconds to wait, or None."""
    timeout: float = fields.pop("timeout")
    return timeout if fields.pop("wait") else None


def _common_options(func: Any) -> Any:
    for decorator in reversed(
        (
            click.option("--to", required=True, help="Recipient mobile number."),
            click.option("--sender", help="Caller id (a registered number)."),
            queue_option(),
            click.option(
                "--priority",
                type=click.Choice([p.value for p in MessagePriority]),
                default="normal",
                show_default=True,
            ),
            click.option("--delay", type=DURATION, help="Send this long from now (e.g. 10s)."),
            click.option("--wait", is_flag=True, help="Wait for the outcome and print it."),
            click.option(
                "--timeout",
                type=DURATION,
                default="30s",
                show_default=True,
                help="How long --wait waits.",
            ),
        )
    ):
        func = decorator(func)
    return func


@click.command("send")
@click.option(
    "--type",
    "kind",
    type=click.Choice(KINDS, case_sensitive=False),
    default="sms",
    show_default=True,
)
@click.option("--text", help="Message text (SMS, LMS, MMS, FRIENDTALK).")
@click.option("--subject", help="Subject (LMS, MMS).")
@click.option("--image", "images", multiple=True, help="Provider image id (MMS; repeatable).")
@click.option("--image-url", help="Image URL (FRIENDTALK).")
@click.option("--template", help="Template code (ALIMTALK).")
@click.option(
    "--var", "variables", multiple=True, help="Template variable NAME=VALUE (repeatable)."
)
@click.option(
    "--no-template-check",
    is_flag=True,
    help="Enqueue an ALIMTALK message without checking its template with the provider.",
)
@_common_options
@click.pass_obj
def send_cmd(state: CliState, /, kind: str, to: str, sender: str | None, **fields: Any) -> None:
    """Enqueue one message for a worker to send (exit 2 if it is invalid).

    Options the message type does not use are refused (exit 2). An ALIMTALK template is looked up
    with the provider first when it can (exit 3 if unknown, 2 if not approved or a variable is
    missing).
    """
    wait = _pop_wait(fields)
    check = not fields.pop("no_template_check")
    options = {key: fields.pop(key) for key in ("queue_name", "priority", "delay")}
    kind = kind.lower()
    _refuse_unused_options(kind, fields)
    fields["variables"] = _variables(fields["variables"])
    message = build_message(kind, to, sender, **fields)
    _enqueue_and_report(state, message, options, wait, check=check)


@click.command("test-send")
@_common_options
@click.pass_obj
def test_send_cmd(state: CliState, /, to: str, sender: str | None, **fields: Any) -> None:
    """Enqueue a short test SMS to check the whole pipeline (use --wait with a worker running)."""
    wait = _pop_wait(fields)
    text = f"[kmsg] test message {time.strftime('%H:%M:%S')}"
    message = build_message("sms", to, sender, text=text)
    _enqueue_and_report(state, message, fields, wait)
