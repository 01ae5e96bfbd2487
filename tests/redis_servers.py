"""Redis for the test suites: the shared server, private servers and a local 3-master cluster.

* :func:`shared_redis_url`: ``KMSG_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) if it answers;
  else a private ``redis-server`` on a free port if the binary exists; else the Redis tests are
  skipped (fakeredis cannot stand in: its Lua has neither ``cmsgpack`` nor Redis 7 script
  flags). With ``KMSG_REQUIRE_REDIS=1`` a missing server fails the run instead.
* :func:`shared_cluster_url`: a local 3-master Redis Cluster, started on first use.
* :class:`RedisServer`: one private ``redis-server`` process (tests that kill or reconfigure it).

Servers started here bind 127.0.0.1 on ports the OS picked, live in temporary folders, and are
stopped at interpreter exit (``atexit``). Stores never flush a database: each uses its own key
prefix and deletes only its own keys (``SCAN MATCH prefix:*`` on every primary).
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
import redis
from redis.cluster import RedisCluster

from tests.backends import Store

__all__ = [
    "RedisCluster3",
    "RedisServer",
    "delete_prefix",
    "free_port",
    "redis_cluster_store",
    "redis_store",
    "shared_cluster_url",
    "shared_redis_url",
]

DEFAULT_URL = "redis://127.0.0.1:6379/0"
START_WITHIN = 20.0


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


PORT_BASE = 20000
"""Private servers take ports from ``PORT_BASE`` up, below the kernel's ephemeral range (32768+)."""

PORTS_PER_WORKER = 1500
"""Each pytest-xdist worker draws from its own block of this many ports (``gw0`` the first)."""


_port_choice = random.SystemRandom()
"""Not the global ``random`` (Hypothesis seeds it, which would pick the same port every time)."""


def _worker_index() -> int:
    """The pytest-xdist worker number (0 outside xdist), folded into the available port blocks."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else 0
    return index % 8


def free_port() -> int:
    """A loopback port that was free a moment ago, with its cluster bus port (+10000) free too.

    Each xdist worker draws from its own block of ports, so two workers of one run never pick the
    same port; :meth:`RedisServer.start` still checks that the server answering is its own (another
    test run on the machine may have taken the port since). Redis Cluster needs the port to be at
    most 55535 so that the bus port exists.
    """
    first = PORT_BASE + _worker_index() * PORTS_PER_WORKER
    for _ in range(200):
        port = _port_choice.randrange(first, first + PORTS_PER_WORKER)
        if _bindable(port) and _bindable(port + 10000):
            return port
    raise RuntimeError("no free loopback port pair found")


def _answers(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0)
        with client:
            return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def _listening(port: int) -> bool:
    """Whether a Redis server answers on ``port`` (a refusal for want of a password counts)."""
    try:
        with redis.Redis(port=port, socket_connect_timeout=1.0, socket_timeout=2.0) as client:
            client.ping()
    except (redis.AuthenticationError, redis.ResponseError):
        return True
    except (redis.RedisError, OSError):
        return False
    return True


def _ready(log_path: Path, pid: int) -> bool:
    """Whether the server with ``pid`` logged that it is ready (so the one answering is ours, not
    another test run's server on a port taken since it was picked)."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return False
    return any(
        line.startswith(f"{pid}:") and "Ready to accept connections" in line
        for line in text.splitlines()
    )


def _wait_until(check: Any, what: str, within: float = START_WITHIN) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


class RedisServer:
    """One private ``redis-server`` on 127.0.0.1 in its own folder; ``config`` adds options."""

    def __init__(self, directory: Path, *, port: int | None = None, config: Sequence[str] = ()):
        self.directory = directory
        self._fixed_port = port is not None
        self.port = port or free_port()
        self.config = list(config)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start the process and wait until it answers PING (a new port if ours was taken)."""
        for _ in range(3):
            if self._launch():
                return self
            if not self._fixed_port:
                self.port = free_port()
        raise RuntimeError(f"redis-server did not start; see {self.directory / 'redis.log'}")

    def restart(self) -> None:
        """Start the process again on the same port and folder (after :meth:`kill`)."""
        if not self._launch():
            raise RuntimeError(f"redis-server did not restart on port {self.port}")

    def _launch(self) -> bool:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--dir", str(self.directory), "--protected-mode", "no", *self.config]
        log_path = self.directory / "redis.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        self._process = process
        deadline = time.monotonic() + START_WITHIN
        while time.monotonic() < deadline and process.poll() is None:
            if _ready(log_path, process.pid) and _listening(self.port):
                return True
            time.sleep(0.05)
        self.stop()
        return False

    def kill(self) -> None:
        """SIGKILL the process (a crash: nothing is flushed beyond what fsync already wrote)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def stop(self) -> None:
        """Terminate the process (idempotent)."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            self._process = None


class RedisCluster3:
    """Three cluster-enabled masters on free ports, joined with ``redis-cli --cluster create``."""

    def __init__(self, directory: Path) -> None:
        self.nodes: list[RedisServer] = []
        for index in range(3):
            node_dir = directory / f"node{index}"
            node_dir.mkdir()
            config = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
            self.nodes.append(RedisServer(node_dir, config=config))

    @property
    def url(self) -> str:
        """``redis+cluster://`` URL of the first node (the seed)."""
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self) -> RedisCluster3:
        """Start the nodes, assign the slots and wait for ``cluster_state:ok`` on every node."""
        try:
            for node in self.nodes:
                node.start()
            addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
            options = ["--cluster-replicas", "0", "--cluster-yes"]
            subprocess.run(
                ["redis-cli", "--cluster", "create", *addresses, *options],
                check=True,
                capture_output=True,
                timeout=60,
            )
            for node in self.nodes:
                _wait_until(lambda node=node: self._ok(node), "cluster_state:ok", within=30.0)
        except BaseException:
            self.stop()
            raise
        return self

    @staticmethod
    def _ok(node: RedisServer) -> bool:
        with redis.Redis(port=node.port, socket_timeout=2.0) as client:
            info: bytes = client.execute_command("CLUSTER", "INFO")
        return b"cluster_state:ok" in info

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop()


_lock = threading.Lock()
_shared: dict[str, str] = {}
_cleanups: list[Any] = []


@atexit.register
def _stop_everything() -> None:
    while _cleanups:
        _cleanups.pop()()


def _temp_dir() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="kmsg-redis-"))
    _cleanups.append(lambda: shutil.rmtree(directory, ignore_errors=True))
    return directory


def _find_redis_url() -> str:
    url = os.environ.get("KMSG_REDIS_URL", DEFAULT_URL)
    if _answers(url):
        return url
    if shutil.which("redis-server"):
        server = RedisServer(_temp_dir()).start()
        _cleanups.append(server.stop)
        return server.url
    if os.environ.get("KMSG_REQUIRE_REDIS") == "1":
        pytest.fail(f"KMSG_REQUIRE_REDIS=1 but no Redis answers at {url} and no redis-server")
    pytest.skip(f"no Redis answers at {url} and redis-server is not installed")


def shared_redis_url() -> str:
    """The URL of a Redis server for tests (found or started once per session)."""
    with _lock:
        if "redis" not in _shared:
            _shared["redis"] = _find_redis_url()
        return _shared["redis"]


def shared_cluster_url() -> str:
    """The URL of a local 3-master Redis Cluster (started once per session); skips without one."""
    with _lock:
        if "cluster" not in _shared:
            if not (shutil.which("redis-server") and shutil.which("redis-cli")):
                pytest.skip("redis-server and redis-cli are needed for a local Redis Cluster")
            cluster = RedisCluster3(_temp_dir()).start()
            _cleanups.append(cluster.stop)
            _shared["cluster"] = cluster.url
        return _shared["cluster"]


def delete_prefix(url: str, prefix: str) -> None:
    """Delete the keys under ``prefix:`` (every primary of a cluster), nothing else."""
    if "+cluster" in url.partition("://")[0]:
        plain = url.replace("+cluster", "", 1)
        with RedisCluster.from_url(plain) as cluster:
            for node in cluster.get_primaries():
                client = cluster.get_redis_connection(node)
                for key in client.scan_iter(match=f"{prefix}:*", count=500):
                    client.delete(key)
        return
    with redis.Redis.from_url(url) as client:
        for key in client.scan_iter(match=f"{prefix}:*", count=500):
            client.delete(key)


@asynccontextmanager
async def _prefixed_store(url: str) -> AsyncIterator[Store]:
    prefix = f"kmsg-test-{uuid4().hex}"
    store = Store(url=url, options={"key_prefix": prefix})
    try:
        yield store
    finally:
        await store.close_all()
        delete_prefix(url, prefix)


@asynccontextmanager
async def redis_store(tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh key prefix on the shared Redis server."""
    async with _prefixed_store(shared_redis_url()) as store:
        yield store


@asynccontextmanager
async def redis_cluster_store(tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh key prefix on the shared local Redis Cluster."""
    async with _prefixed_store(shared_cluster_url()) as store:
        yield store
