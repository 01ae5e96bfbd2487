"""RetryPolicy: capped exponential delays with full, equal or no jitter."""

from __future__ import annotations

import random

import pytest

from kmsg import ValidationError
from kmsg.worker import RetryPolicy


def test_base_delay_grows_exponentially_up_to_the_cap() -> None:
    policy = RetryPolicy(initial=0.5, factor=3.0, maximum=10.0, jitter="none")
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.5, 4.5, 10.0, 10.0]


def test_attempt_zero_or_less_counts_as_the_first() -> None:
    policy = RetryPolicy(initial=2.0, jitter="none")
    assert policy.delay(0) == policy.delay(1) == 2.0


def test_huge_attempt_numbers_return_the_cap_without_overflow() -> None:
    policy = RetryPolicy(initial=1.0, factor=10.0, maximum=60.0, jitter="none")
    assert policy.delay(10_000) == 60.0


def test_full_jitter_stays_within_zero_and_the_base_delay() -> None:
    policy = RetryPolicy(initial=1.0, factor=2.0, maximum=8.0, jitter="full", rng=random.Random(1))
    delays = [policy.delay(4) for _ in range(500)]
    assert all(0.0 <= d <= 8.0 for d in delays)
    assert min(delays) < 1.0
    assert max(delays) > 7.0


def test_equal_jitter_stays_within_half_and_the_whole_base_delay() -> None:
    policy = RetryPolicy(initial=4.0, jitter="equal", rng=random.Random(2))
    delays = [policy.delay(1) for _ in range(500)]
    assert all(2.0 <= d <= 4.0 for d in delays)
    assert len(set(delays)) > 400


def test_a_seeded_rng_makes_delays_repeatable() -> None:
    first = RetryPolicy(jitter="full", rng=random.Random(42))
    second = RetryPolicy(jitter="full", rng=random.Random(42))
    assert [first.delay(n) for n in range(1, 20)] == [second.delay(n) for n in range(1, 20)]


def test_apply_jitter_never_returns_a_negative_delay() -> None:
    assert RetryPolicy(jitter="full").apply_jitter(-5.0) == 0.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"initial": -1.0},
        {"maximum": float("inf")},
        {"factor": 0.5},
        {"factor": float("nan")},
        {"factor": True},
        {"jitter": "half"},
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_repr_shows_the_settings() -> None:
    text = repr(RetryPolicy(initial=0.25, factor=2, maximum=9, jitter="none"))
    assert text == "RetryPolicy(initial=0.25, factor=2, maximum=9, jitter='none')"
