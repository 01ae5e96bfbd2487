"""Worker settings are validated when the worker is made."""

from __future__ import annotations

from typing import Any

import pytest

from kmsg import ValidationError
from kmsg.worker import Worker

QUEUE: Any = object()  # settings are checked before the queue is ever used


@pytest.mark.parametrize(
    "options",
    [
        {"queues": ()},
        {"queues": ("bad name",)},
        {"concurrency": 0},
        {"concurrency": 2.5},
        {"lease": 0.0},
        {"job_timeout": -1.0},
        {"shutdown_grace": float("nan")},
        {"idle_wait": -0.1},
        {"loop_block_threshold": 0.0},
        {"loop_block_threshold": float("inf")},
    ],
)
def test_bad_settings_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Worker(QUEUE, **options)


def test_queue_names_are_deduplicated_and_a_single_name_is_accepted() -> None:
    assert Worker(QUEUE, queues=("a", "b", "a")).queues == ("a", "b")
    assert Worker(QUEUE, queues="sms").queues == ("sms",)


def test_repr_names_queues_concurrency_and_tasks() -> None:
    assert repr(Worker(QUEUE, queues=("sms",), concurrency=4)) == (
        "Worker(queues=['sms'], concurrency=4, tasks=[])"
    )


def test_the_loop_block_threshold_defaults_to_a_quarter_lease_up_to_a_second() -> None:
    assert Worker(QUEUE).loop_block_threshold == 1.0
    assert Worker(QUEUE, lease=2.0).loop_block_threshold == 0.5
    assert Worker(QUEUE, lease=2.0, loop_block_threshold=3.0).loop_block_threshold == 3.0
