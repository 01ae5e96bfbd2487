"""kmsg on the run's private Redis."""

from __future__ import annotations

from benchmarks.systems._kmsg import KmsgSystem
from benchmarks.systems.base import Env


def _url(env: Env) -> str:
    return env.redis_url


SYSTEM = KmsgSystem("kmsg-redis", _url)
