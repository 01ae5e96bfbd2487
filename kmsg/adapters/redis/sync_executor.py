"""The blocking executor of the Redis planner's steps, for :class:`kmsg.sync.SyncQueue`.

Performs the same steps as the asyncio executor (``executor.py``), with redis-py's blocking
client: each script call is one ``EVALSHA`` round trip (redis-py's script objects load a script
the server lacks and call it again; on a Cluster they route by the queue's slot). Thread-safe:
the client's connection pool serves every thread, and the lost-data marker is checked by one
thread at a time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, Final

from kmsg.adapters.redis.connection import RedisSettings, backend_errors, translate_error
from kmsg.adapters.redis.keys import QueueKeys, marker_key
from kmsg.adapters.redis.plans import Command, Script, Step
from kmsg.adapters.redis.scripts import SCRIPT_NAMES, ScriptTarget, script_source
from kmsg.adapters.redis.server import MarkerWatch, check_server, parse_info
from kmsg.errors import BackendUnavailable
from kmsg.plans import run_sync

__all__ = ["SyncRedisExecutor"]

_log = logging.getLogger("kmsg.adapters.redis")
_TARGET_CACHE: Final = 4096
_SCAN_COUNT: Final = 1000
_MAX_SCANS: Final = 10_000_000


class SyncRedisExecutor:
    """Performs steps on one redis-py blocking client (plain Redis or a Cluster)."""

    def __init__(self, settings: RedisSettings, client: Any) -> None:
        self.settings = settings
        self.client = client
        self.marker = MarkerWatch(marker_key(settings.key_prefix), settings.redacted_url)
        self._scripts = {name: client.register_script(script_source(name)) for name in SCRIPT_NAMES}
        self._targets: dict[str, ScriptTarget] = {}
        self._checking = threading.Lock()

    def perform(self, step: Step) -> Any:
        """Perform one step of a plan and return the server's reply."""
        if isinstance(step, Script):
            return self.run(step.name, step.queue, step.args)
        if isinstance(step, Command):
            return self.command(*step.args)
        return self.scan(step.pattern)

    def _target(self, queue: str) -> ScriptTarget:
        found = self._targets.get(queue)
        if found is None:
            if len(self._targets) >= _TARGET_CACHE:
                self._targets.clear()
            found = self._targets[queue] = ScriptTarget(QueueKeys(self.settings.key_prefix, queue))
        return found

    def run(self, name: str, queue: str, args: Sequence[Any] = ()) -> Any:
        """Run script ``name`` on ``queue``; failures become kmsg errors (connection.py)."""
        target = self._target(queue)
        if self.marker.due():
            self.check_marker()
        try:
            return self._scripts[name](keys=target.keys, args=[*target.head, *args])
        except Exception as exc:
            error = translate_error(self.settings, exc)
            if error is exc:
                raise
            if type(error) is BackendUnavailable:
                self.marker.recheck = True
            raise error from exc

    def command(self, *args: Any, **options: Any) -> Any:
        """Run one plain Redis command."""
        with backend_errors(self.settings):
            return self.client.execute_command(*args, **options)

    def each_primary(self, *args: Any) -> list[Any]:
        """Run one command on every primary (the one server, or each Cluster primary)."""
        if not self.settings.cluster:
            return [self.command(*args)]
        return [self.command(*args, target_nodes=node) for node in self.client.get_primaries()]

    def scan(self, pattern: str) -> list[str]:
        """Every key matching ``pattern``, from a ``SCAN`` of each primary."""
        found: list[str] = []
        for node in self.client.get_primaries() if self.settings.cluster else [None]:
            options = {} if node is None else {"target_nodes": node}
            cursor: Any = 0
            for _ in range(_MAX_SCANS):
                cursor, keys = self.command(
                    "SCAN", cursor, "MATCH", pattern, "COUNT", _SCAN_COUNT, **options
                )
                if isinstance(cursor, dict):  # a Cluster client keys the cursor by node
                    (cursor,) = cursor.values()
                found += [key.decode() if isinstance(key, bytes) else key for key in keys]
                if int(cursor) == 0:
                    break
        return found

    def check_marker(self) -> None:
        """Check the marker (one thread at a time; the others go on)."""
        if not self._checking.acquire(blocking=False):
            return
        try:
            run_sync(self.marker.check(), self.perform)
        except BackendUnavailable as exc:
            self.marker.recheck = True
            _log.debug("could not check the marker of %s: %s", self.settings.redacted_url, exc)
        finally:
            self._checking.release()

    def check_server(self) -> None:
        """Refuse an old or evicting server (see :mod:`kmsg.adapters.redis.server`)."""
        try:
            infos = [parse_info(reply) for reply in self.each_primary("INFO", "all")]
        except BackendUnavailable as exc:
            _log.warning("cannot read INFO to check the server's settings: %s", exc)
            return
        check_server(infos, self.settings.redacted_url, eviction=self.settings.eviction)
        self.check_marker()

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()
