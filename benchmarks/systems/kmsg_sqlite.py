"""kmsg on SQLite (a file in the run's temp directory)."""

from __future__ import annotations

from benchmarks.systems._kmsg import KmsgSystem
from benchmarks.systems.base import Env


def _url(env: Env) -> str:
    return f"sqlite:///{env.sqlite_path}"


SYSTEM = KmsgSystem("kmsg-sqlite", _url)
