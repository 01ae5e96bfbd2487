"""huey on SQLite (``SqliteHuey``; the consumer polls with huey's default backoff)."""

from __future__ import annotations

from typing import Any

from huey import SqliteHuey

from benchmarks.systems._huey import HueySystem
from benchmarks.systems.base import QUEUE_NAME, Env


def _make(env: Env) -> Any:
    return SqliteHuey(QUEUE_NAME, filename=env.sqlite_path)


SYSTEM = HueySystem(
    "huey-sqlite",
    "SqliteHuey, consumer -w 10 -k thread, default polling (0.1 s, x1.15 backoff, 10 s cap)",
    _make,
)
