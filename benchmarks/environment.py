"""The machine and versions a run used, saved next to its figures."""

from __future__ import annotations

import os
import platform
import sqlite3
from importlib import metadata
from typing import Any

from benchmarks.harness import Bench

DISTRIBUTIONS = {
    "kmsg-sqlite": "kmsg",
    "kmsg-redis": "kmsg",
    "huey-sqlite": "huey",
    "huey-redis": "huey",
    "taskiq": "taskiq-redis",
    "bullmq": "bullmq",
    "saq": "saq",
    "dramatiq": "dramatiq",
    "arq": "arq",
    "rq": "rq",
    "celery": "celery",
    "streaq": "streaq",
}
ALWAYS = ["redis", "hiredis", "msgspec", "anyio", "taskiq"]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        return 0.0


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe(bench: Bench, systems: list[str]) -> dict[str, Any]:
    """Machine, Python, redis-server and library versions."""
    server = str(bench.client.info("server")["redis_version"])
    dists = sorted({DISTRIBUTIONS[s] for s in systems} | set(ALWAYS))
    return {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "ram_gib": round(_ram_gib(), 1),
        "python": platform.python_version(),
        "redis_server": server,
        "sqlite": sqlite3.sqlite_version,
        "versions": {dist: _version(dist) for dist in dists},
    }
