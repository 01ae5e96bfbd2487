"""Fixtures for the CLI tests: run the real ``kmsg`` command in a subprocess against a backend.

Every test gets its own store: a fresh SQLite file, or the shared Redis server under a unique key
prefix (``?key_prefix=...``, removed afterwards), so tests never see each other's jobs and never
flush Redis.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from kmsg import JobQueue, open_queue

REDIS_URL = "redis://127.0.0.1:6379/0"
_TIMEOUT = 60.0


def redis_available() -> bool:
    """Whether a Redis server answers on the default port and the adapter is importable."""
    try:
        import kmsg.adapters.redis  # noqa: F401
    except ImportError:
        return False
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Kmsg:
    """Runs ``python -m kmsg`` with a queue URL, in a working directory of its own."""

    url: str
    queue: str
    cwd: Path
    env: dict[str, str]

    def run(
        self,
        *args: str,
        input: str | None = None,
        url: str | None = None,
        default_url: bool = False,
        timeout: float = _TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``kmsg --queue-url URL ARGS...`` (no ``--queue-url`` with ``default_url``)."""
        head = [] if default_url else ["--queue-url", url or self.url]
        return subprocess.run(
            [sys.executable, "-m", "kmsg", *head, *args],
            cwd=self.cwd,
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ok(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """Run and assert exit code 0."""
        done = self.run(*args, **kwargs)
        assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
        return done

    def json(self, *args: str, **kwargs: Any) -> Any:
        """Run with ``--json`` and parse stdout."""
        return json.loads(self.ok("--json", *args, **kwargs).stdout)

    def spawn(self, *args: str) -> subprocess.Popen[str]:
        """Start ``kmsg --queue-url URL ARGS...`` in the background."""
        command = [sys.executable, "-m", "kmsg", "--queue-url", self.url, *args]
        return subprocess.Popen(
            command,
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def with_queue(self, func: Callable[[JobQueue], Any]) -> Any:
        """Run ``await func(queue)`` in this process on the same store."""

        async def body() -> Any:
            async with open_queue(self.url) as queue:
                return await func(queue)

        return anyio.run(body)


def _env(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("K_MSG_")}
    env["K_MSG_MOCK"] = "true"
    env["COLUMNS"] = "200"
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[2]), env.get("PYTHONPATH", "")])
    env["HOME"] = str(tmp_path)
    return env


def sqlite_url(tmp_path: Path, name: str = "kmsg.db") -> str:
    """A SQLite URL for a fresh file in the test's folder."""
    return f"sqlite:///{tmp_path / name}"


BACKEND_PARAMS: Sequence[Any] = (
    pytest.param("sqlite", id="sqlite"),
    pytest.param(
        "redis",
        id="redis",
        marks=pytest.mark.skipif(not redis_available(), reason="no Redis at 127.0.0.1:6379"),
    ),
)


@contextmanager
def private_redis_url() -> Iterator[str]:
    """A Redis URL with a unique key prefix; every key under that prefix is deleted afterwards."""
    import redis

    prefix = f"kmsg-clitest-{uuid.uuid4().hex}"
    try:
        yield f"{REDIS_URL}?key_prefix={prefix}"
    finally:
        client = redis.Redis(host="127.0.0.1", port=6379, db=0)
        try:
            keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """See :func:`private_redis_url`."""
    if not redis_available():
        pytest.skip("no Redis at 127.0.0.1:6379")
    with private_redis_url() as url:
        yield url


@pytest.fixture(params=BACKEND_PARAMS)
def kmsg(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Kmsg]:
    """The CLI against a fresh store of each backend (SQLite file, Redis key prefix)."""
    queue = f"cli-{uuid.uuid4().hex[:12]}"
    if request.param == "sqlite":
        yield Kmsg(url=sqlite_url(tmp_path), queue=queue, cwd=tmp_path, env=_env(tmp_path))
        return
    with private_redis_url() as url:
        yield Kmsg(url=url, queue=queue, cwd=tmp_path, env=_env(tmp_path))


@pytest.fixture
def sqlite_kmsg(tmp_path: Path) -> Kmsg:
    """The CLI against a fresh SQLite file only (for checks that do not depend on the backend)."""
    return Kmsg(url=sqlite_url(tmp_path), queue="default", cwd=tmp_path, env=_env(tmp_path))


class Ping(msgspec.Struct, frozen=True):
    """A payload for seeding queues from the test process."""

    n: int
