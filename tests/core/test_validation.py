"""Option validation shared by every adapter: every bad value is refused with a clear message."""

from __future__ import annotations

import math

import msgspec
import pytest

from kmsg import Backoff, JobState, NewJob, PayloadCodec, ValidationError
from kmsg.jobs import prepare_job
from kmsg.validation import check_dedupe_key, check_name, check_states


class Ping(msgspec.Struct):
    n: int


def prepare(**options: object) -> object:
    return prepare_job(NewJob(payload=Ping(n=1), **options), PayloadCodec())  # type: ignore[arg-type]


def test_defaults() -> None:
    job = prepare_job(NewJob(payload=Ping(n=1)), PayloadCodec())
    assert (job.queue, job.task, job.priority, job.max_attempts, job.lease) == (
        "default",
        "Ping",
        0,
        3,
        30.0,
    )
    assert job.delay is None
    assert job.run_at is None
    assert job.backoff == Backoff()
    assert len(job.id) == 26


@pytest.mark.parametrize(
    "name",
    ["", "a b", "q'; DROP TABLE jobs;--", "{q}", "q\x00", "x" * 129, "ünïcode", 5, None],
)
def test_bad_names_are_refused(name: object) -> None:
    with pytest.raises(ValidationError, match="invalid queue name"):
        check_name("queue", name)


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("priority", 1001),
        ("priority", -1001),
        ("priority", 1.5),
        ("priority", True),
        ("delay", -1),
        ("delay", math.inf),
        ("delay", math.nan),
        ("delay", 1e12),
        ("run_at", -5.0),
        ("max_attempts", 0),
        ("max_attempts", 1001),
        ("lease", 0),
        ("lease", 0.01),
        ("lease", 1e9),
        ("dedupe_key", ""),
        ("dedupe_key", "x" * 513),
        ("dedupe_key", "a\nb"),
        ("backoff", Backoff(factor=0.5)),
        ("backoff", Backoff(initial=-1)),
        ("job_id", "bad id"),
        ("queue", "bad queue"),
    ],
)
def test_bad_options_are_refused(option: str, value: object) -> None:
    with pytest.raises(ValidationError, match=option.split("_")[0]):
        prepare(**{option: value})


def test_delay_and_run_at_together_are_refused() -> None:
    with pytest.raises(ValidationError, match="not both"):
        prepare(delay=1.0, run_at=1e9)


def test_dedupe_key_accepts_printable_unicode() -> None:
    assert check_dedupe_key("캠페인:01012345678") == "캠페인:01012345678"


def test_check_states() -> None:
    terminal = [JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED]
    assert check_states(["completed"], allowed=terminal) == {JobState.COMPLETED}
    with pytest.raises(ValidationError, match="not allowed"):
        check_states(["pending"], allowed=terminal)
    with pytest.raises(ValidationError, match="unknown job state"):
        check_states(["done"], allowed=terminal)
    with pytest.raises(ValidationError, match="at least one"):
        check_states([], allowed=terminal)


def test_backoff_delay_is_exponential_and_capped() -> None:
    backoff = Backoff(initial=1.0, factor=2.0, maximum=10.0)
    assert [backoff.delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert Backoff(initial=1.0, factor=100.0, maximum=60.0).delay(1000) == 60.0
