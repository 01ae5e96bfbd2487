"""huey on Redis (``RedisHuey``, blocking BRPOP dequeue)."""

from __future__ import annotations

from typing import Any

from huey import RedisHuey

from benchmarks.systems._huey import HueySystem
from benchmarks.systems.base import QUEUE_NAME, Env


def _make(env: Env) -> Any:
    return RedisHuey(QUEUE_NAME, url=env.redis_url)


SYSTEM = HueySystem(
    "huey-redis", "RedisHuey(blocking=True default), consumer -w 10 -k thread", _make
)
