"""The asyncio executor of the Redis planner's steps: the one place the async adapter does I/O.

Scripts run through the :class:`~kmsg.adapters.redis.runner.ScriptRunner` (a
:class:`~kmsg.adapters.redis.pipe.CommandPipe` on plain Redis, redis-py's script objects on a
Cluster); plain commands and key scans through the redis-py client. Failures become kmsg errors
(:func:`~kmsg.adapters.redis.connection.translate_error`). Before a call, when due, the server's
marker is checked for lost data (:mod:`kmsg.adapters.redis.server`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final

from kmsg.adapters.redis.connection import RedisSettings, backend_errors, translate_error
from kmsg.adapters.redis.keys import QueueKeys, marker_key
from kmsg.adapters.redis.pipe import CommandPipe
from kmsg.adapters.redis.plans import Command, Script, Step
from kmsg.adapters.redis.runner import ScriptRunner
from kmsg.adapters.redis.scripts import ScriptTarget
from kmsg.adapters.redis.server import MarkerWatch, check_server, parse_info
from kmsg.errors import BackendUnavailable
from kmsg.plans import run_async

__all__ = ["RedisExecutor"]

_log = logging.getLogger("kmsg.adapters.redis")
_TARGET_CACHE: Final = 4096
_SCAN_COUNT: Final = 1000
_MAX_SCANS: Final = 10_000_000


class RedisExecutor:
    """Performs steps on one redis-py asyncio client (plain Redis or a Cluster)."""

    def __init__(self, settings: RedisSettings, client: Any) -> None:
        self.settings = settings
        self.client = client
        self.marker = MarkerWatch(marker_key(settings.key_prefix), settings.redacted_url)
        self.pipe = (
            None
            if settings.cluster
            else CommandPipe(
                client.connection_pool,
                timeout=settings.socket_timeout,
                on_reconnect=self._recheck_marker,
            )
        )
        self._scripts = ScriptRunner(client, self.pipe)
        self._targets: dict[str, ScriptTarget] = {}
        self._checking = False

    def _recheck_marker(self) -> None:
        self.marker.recheck = True

    def _target(self, queue: str) -> ScriptTarget:
        """What the scripts of ``queue`` run on; cached per queue name."""
        found = self._targets.get(queue)
        if found is None:
            if len(self._targets) >= _TARGET_CACHE:
                self._targets.clear()
            found = self._targets[queue] = ScriptTarget(QueueKeys(self.settings.key_prefix, queue))
        return found

    async def perform(self, step: Step) -> Any:
        """Perform one step of a plan and return the server's reply."""
        if isinstance(step, Script):
            return await self.run(step.name, step.queue, step.args)
        if isinstance(step, Command):
            return await self.command(*step.args)
        return await self.scan(step.pattern)

    async def run(self, name: str, queue: str, args: Sequence[Any] = ()) -> Any:
        """Run script ``name`` on ``queue``; failures become kmsg errors (connection.py)."""
        target = self._target(queue)
        if self.marker.due() and not self._checking:
            await self.check_marker()
        try:
            return await self._scripts.run(name, target, args)
        except Exception as exc:
            error = translate_error(self.settings, exc)
            if error is exc:
                raise
            if type(error) is BackendUnavailable:
                self.marker.recheck = True
            raise error from exc

    async def command(self, *args: Any, **options: Any) -> Any:
        """Run one plain Redis command (reads and checks outside the scripts)."""
        with backend_errors(self.settings):
            return await self.client.execute_command(*args, **options)

    async def each_primary(self, *args: Any) -> list[Any]:
        """Run one command on every primary (the one server, or each Cluster primary)."""
        if not self.settings.cluster:
            return [await self.command(*args)]
        return [
            await self.command(*args, target_nodes=node) for node in self.client.get_primaries()
        ]

    async def scan(self, pattern: str) -> list[str]:
        """Every key matching ``pattern``, from a ``SCAN`` of each primary."""
        found: list[str] = []
        for node in self.client.get_primaries() if self.settings.cluster else [None]:
            options = {} if node is None else {"target_nodes": node}
            cursor: Any = 0
            for _ in range(_MAX_SCANS):
                reply = await self.command(
                    "SCAN", cursor, "MATCH", pattern, "COUNT", _SCAN_COUNT, **options
                )
                cursor, keys = reply
                if isinstance(cursor, dict):  # a Cluster client keys the cursor by node
                    (cursor,) = cursor.values()
                found += [key.decode() if isinstance(key, bytes) else key for key in keys]
                if int(cursor) == 0:
                    break
        return found

    async def check_marker(self) -> None:
        """Check the marker; a failure is left to the call that follows (and checked later)."""
        self._checking = True
        try:
            await run_async(self.marker.check(), self.perform)
        except BackendUnavailable as exc:
            self.marker.recheck = True
            _log.debug("could not check the marker of %s: %s", self.settings.redacted_url, exc)
        finally:
            self._checking = False

    async def check_server(self) -> None:
        """Refuse an old or evicting server (see :mod:`kmsg.adapters.redis.server`)."""
        try:
            infos = [parse_info(reply) for reply in await self.each_primary("INFO", "all")]
        except BackendUnavailable as exc:
            _log.warning("cannot read INFO to check the server's settings: %s", exc)
            return
        check_server(infos, self.settings.redacted_url, eviction=self.settings.eviction)
        await self.check_marker()

    async def aclose(self) -> None:
        """Close the pipe (the client is closed by its owner)."""
        if self.pipe is not None:
            await self.pipe.aclose()
