"""Job ids sort by creation and never repeat within a process."""

from __future__ import annotations

import re
import threading

from kmsg import new_job_id


def test_ids_are_ulids_and_strictly_increasing() -> None:
    ids = [new_job_id() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", job_id) for job_id in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_ids_are_unique_across_threads() -> None:
    made: list[str] = []

    def make() -> None:
        made.extend(new_job_id() for _ in range(2_000))

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 8_000
