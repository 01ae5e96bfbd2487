"""One module per benchmarked system; ``load(name)`` imports it lazily (peers are optional)."""

from __future__ import annotations

import importlib
from typing import Final

from benchmarks.systems.base import System

SYSTEMS: Final[dict[str, str]] = {
    "kmsg-sqlite": "kmsg_sqlite",
    "kmsg-redis": "kmsg_redis",
    "huey-sqlite": "huey_sqlite",
    "huey-redis": "huey_redis",
    "taskiq": "taskiq_redis",
    "bullmq": "bullmq",
    "saq": "saq",
    "dramatiq": "dramatiq",
    "arq": "arq",
    "rq": "rq",
    "celery": "celery",
    "streaq": "streaq",
}


def load(name: str) -> System:
    """The system object of ``name`` (its module's ``SYSTEM``)."""
    module = importlib.import_module(f"benchmarks.systems.{SYSTEMS[name]}")
    system: System = module.SYSTEM
    return system
