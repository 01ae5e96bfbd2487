"""WorkerEvent and listener dispatch."""

from __future__ import annotations

import logging

import msgspec
import pytest

from kmsg import Backoff, Job, JobState
from kmsg.worker import EventKind, WorkerEvent
from kmsg.worker.events import emit


def make_job() -> Job:
    return Job(
        id="01J0000000000000000000000A",
        queue="q",
        task="Ping",
        payload=b"{}",
        state=JobState.PROCESSING,
        priority=0,
        run_at=1.0,
        created_at=1.0,
        attempts=2,
        max_attempts=3,
        backoff=Backoff(),
        lease=30.0,
    )


def test_event_kinds_are_the_agreed_strings() -> None:
    assert [kind.value for kind in EventKind] == [
        "started",
        "completed",
        "retried",
        "dead",
        "lease_lost",
        "released",
        "timed_out",
        "loop_blocked",
    ]


def test_events_are_frozen_and_encode_to_json() -> None:
    event = WorkerEvent(kind=EventKind.DEAD, job=make_job(), error="NonRetryable: x", at=5.0)
    with pytest.raises(AttributeError):
        event.kind = EventKind.STARTED  # type: ignore[misc]
    decoded = msgspec.json.decode(msgspec.json.encode(event), type=WorkerEvent)
    assert decoded == event
    assert decoded.duration is None


def test_emit_calls_every_listener_even_after_one_fails(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def broken(event: WorkerEvent) -> None:
        raise RuntimeError("listener bug")

    event = WorkerEvent(kind=EventKind.STARTED, job=make_job(), at=1.0)
    with caplog.at_level(logging.ERROR, logger="kmsg.worker"):
        emit([broken, lambda e: seen.append(e.kind)], event)
    assert seen == ["started"]
    (record,) = caplog.records
    assert "listener" in record.getMessage()
    assert (record.job_id, record.queue, record.task, record.attempt) == (  # type: ignore[attr-defined]
        "01J0000000000000000000000A",
        "q",
        "Ping",
        2,
    )
