"""The KMsg facade: direct sends with hooks, and enqueueing."""

from __future__ import annotations

import anyio
import pytest

from kmsg import JobQueue, JobState, ProviderError, ProviderErrorCode, ValidationError
from kmsg.messaging import (
    Hooks,
    KMsg,
    Message,
    MessageJobProcessor,
    MockProvider,
    SendResult,
    Sms,
)
from kmsg.worker import Worker

pytestmark = pytest.mark.anyio

MESSAGE = Sms(to="010-1234-5678", text="hi")


class Recorder:
    """Hooks that append what they saw to ``events``."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    async def before_send(self, message: Message) -> None:
        self.events.append(("before", message.to))

    async def on_success(self, message: Message, result: SendResult) -> None:
        self.events.append(("success", result.message_id))

    async def on_error(self, message: Message, error: Exception) -> None:
        assert isinstance(error, ProviderError)
        self.events.append(("error", error.code))

    def hooks(self) -> Hooks:
        return Hooks(
            before_send=self.before_send, on_success=self.on_success, on_error=self.on_error
        )


async def test_send_runs_before_and_success_hooks() -> None:
    recorder = Recorder()
    kmsg_ = KMsg(MockProvider(), hooks=recorder.hooks())
    result = await kmsg_.send(MESSAGE)
    assert recorder.events == [("before", "01012345678"), ("success", result.message_id)]


async def test_send_runs_the_error_hook_and_reraises() -> None:
    provider = MockProvider()
    provider.mock_failure(1, ProviderErrorCode.AUTHENTICATION_FAILED)
    recorder = Recorder()
    with pytest.raises(ProviderError) as caught:
        await KMsg(provider, hooks=recorder.hooks()).send(MESSAGE)
    assert caught.value.code is ProviderErrorCode.AUTHENTICATION_FAILED
    assert recorder.events == [
        ("before", "01012345678"),
        ("error", ProviderErrorCode.AUTHENTICATION_FAILED),
    ]


async def test_before_send_can_refuse_a_message() -> None:
    async def refuse(message: Message) -> None:
        raise PermissionError("quiet hours")

    provider = MockProvider()
    with pytest.raises(PermissionError):
        await KMsg(provider, hooks=Hooks(before_send=refuse)).send(MESSAGE)
    assert provider.history == []


async def test_send_without_hooks() -> None:
    provider = MockProvider(name="p")
    kmsg_ = KMsg(provider)
    assert (await kmsg_.send(MESSAGE)).provider == kmsg_.name == "p"


async def test_enqueue_needs_a_queue() -> None:
    with pytest.raises(ValidationError, match="no queue"):
        await KMsg(MockProvider()).enqueue(MESSAGE)


async def test_enqueue_maps_priority(queue: JobQueue, qname: str) -> None:
    kmsg_ = KMsg(MockProvider(), queue, queue_name=qname)
    ids = [await kmsg_.enqueue(MESSAGE, priority=p) for p in ("high", "normal", "low")]
    jobs = [await queue.get(qname, job_id) for job_id in ids]
    assert [(job.task, job.priority) for job in jobs] == [
        ("send_message", 10),
        ("send_message", 0),
        ("send_message", -10),
    ]
    with pytest.raises(ValidationError, match="priority must be one of"):
        await kmsg_.enqueue(MESSAGE, priority="urgent")


async def test_enqueue_dedupes_by_key(queue: JobQueue, qname: str) -> None:
    kmsg_ = KMsg(MockProvider(), queue, queue_name=qname)
    first = await kmsg_.enqueue(MESSAGE, dedupe_key="otp:01012345678")
    assert await kmsg_.enqueue(MESSAGE, dedupe_key="otp:01012345678") == first
    assert (await queue.stats(qname)).pending == 1


async def test_a_processor_on_kmsg_runs_its_hooks_for_queued_sends(
    queue: JobQueue, qname: str
) -> None:
    recorder = Recorder()
    provider = MockProvider()
    provider.mock_failure(1)
    kmsg_ = KMsg(provider, queue, hooks=recorder.hooks(), queue_name=qname)
    job_id = await kmsg_.enqueue(MESSAGE)
    worker = Worker(queue, queues=(qname,), idle_wait=0.05)
    MessageJobProcessor(kmsg_).register(worker)
    with anyio.fail_after(60):
        await worker.run_until_idle()
    assert (await queue.get(qname, job_id)).state is JobState.COMPLETED
    assert [kind for kind, _ in recorder.events] == ["before", "error", "before", "success"]
