"""One connection, auto-pipelined: the plain-Redis (not Cluster) path of every script call.

redis-py's client takes a pooled connection, wraps the call in its retry and observability layers,
packs the command in pure Python and starts a timeout for the write and another for the read, for
every command: more than half the cost of a script call from Python. :class:`CommandPipe` instead
keeps one connection of its own (made from the client's pool settings, so URL, password, TLS and
database are the client's) and lets concurrent callers share it. A call made while the pipe is
idle sends and reads in the caller's own task. Calls made while it is busy queue their commands
and wait for their replies; one driver task writes everything queued in one packet and reads the
replies in order, under one timeout per round. So a lone call costs one write and one read, and
fifty concurrent calls cost one write and fifty reads, not fifty round trips.

A connection failure fails every unanswered call of the batch, disconnects, and each caller
retries its own command (up to ``retries`` times, with backoff), as redis-py's own retry would.
Every script is safe to run twice (enqueue is keyed by job id, acknowledgements by token, a
re-sent claim only leases jobs that then come back when their leases end).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final

from redis import exceptions as redis_errors
from redis.asyncio import ConnectionPool
from redis.asyncio.connection import AbstractConnection

from kmsg.adapters.redis.resp import pack

__all__ = ["CommandPipe"]

_RETRYABLE: Final = (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError)
_BACKOFF_BASE: Final = 0.05
_BACKOFF_CAP: Final = 1.0

_Call = tuple[bytes, "asyncio.Future[Any]"]


class CommandPipe:
    """Runs commands on one connection of its own (made with ``pool``'s settings), pipelining
    concurrent callers; ``timeout`` bounds each round (write and reads), in seconds;
    ``on_reconnect`` is called each time a lost connection has been made again."""

    def __init__(
        self,
        pool: ConnectionPool,
        *,
        timeout: float,
        retries: int = 3,
        on_reconnect: Callable[[], None] = lambda: None,
    ) -> None:
        self._pool = pool
        self._timeout = timeout
        self._retries = retries
        self._on_reconnect = on_reconnect
        self._connected_before = False
        self._connection: AbstractConnection | None = None
        self._queued: list[_Call] = []
        self._driver: asyncio.Task[None] | None = None
        self._alone = False
        self._closed = False

    async def evalsha(self, command: bytes, source: str) -> Any:
        """Run a packed ``EVALSHA`` command, loading ``source`` first if the server lacks it."""
        try:
            return await self.execute(command)
        except redis_errors.NoScriptError:
            await self.execute(pack(("SCRIPT", "LOAD", source)))
            return await self.execute(command)

    async def execute(self, command: bytes) -> Any:
        """Send one packed command and return its reply; connection failures are retried."""
        for attempt in range(self._retries):
            try:
                return await self._call(command)
            except _RETRYABLE:
                if self._closed:
                    raise
                await asyncio.sleep(min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))
        return await self._call(command)

    async def _call(self, command: bytes) -> Any:
        if self._closed:
            raise redis_errors.ConnectionError("the queue is closed")
        if self._driver is None and not self._alone:
            return await self._call_alone(command)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queued.append((command, future))
        return await future

    async def _call_alone(self, command: bytes) -> Any:
        """The pipe is idle: send and read in the caller's own task, without the driver.

        Calls arriving meanwhile queue up; the driver starts for them once this one ends.
        """
        self._alone = True
        try:
            async with asyncio.timeout(self._timeout):
                connection = await self._ready_connection()
                await connection.send_packed_command(command, check_health=False)
                return await connection.read_response()
        except redis_errors.ResponseError:
            raise
        except BaseException:  # the reply may still be on its way: the connection is spoiled
            await self._drop_connection()
            raise
        finally:
            self._alone = False
            self._start_driver()

    def _start_driver(self) -> None:
        if self._queued and self._driver is None and not self._closed:
            self._driver = asyncio.get_running_loop().create_task(self._drive())

    async def _drive(self) -> None:
        batch: list[_Call] = []
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                await self._round(batch)
        except BaseException as exc:
            await self._drop_connection()
            _fail(batch, exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            self._driver = None
            self._start_driver()

    async def _ready_connection(self) -> AbstractConnection:
        connection = self._connection
        if connection is None:
            connection = self._pool.make_connection()  # type: ignore[no-untyped-call]
            connection.socket_timeout = None  # each round's own timeout covers its reads
            self._connection = connection
            await connection.connect()
            if self._connected_before:
                self._on_reconnect()
            self._connected_before = True
        return connection

    async def _round(self, batch: list[_Call]) -> None:
        async with asyncio.timeout(self._timeout):
            connection = await self._ready_connection()
            packed = b"".join([command for command, _ in batch])
            await connection.send_packed_command(packed, check_health=False)
            await self._read_replies(connection, batch)

    @staticmethod
    async def _read_replies(connection: AbstractConnection, batch: list[_Call]) -> None:
        for index, (_, future) in enumerate(batch):
            try:
                reply = await connection.read_response()
            except redis_errors.ResponseError as exc:  # this command's error; the rest stand
                if not future.done():
                    future.set_exception(exc)
                continue
            except BaseException:
                del batch[:index]
                raise
            if not future.done():
                future.set_result(reply)
        batch.clear()

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.disconnect(nowait=True)

    async def aclose(self) -> None:
        """Stop the driver, fail unanswered calls and give the connection back. Idempotent."""
        self._closed = True
        if self._driver is not None:
            self._driver.cancel()
            await asyncio.gather(self._driver, return_exceptions=True)
        _fail(self._queued, redis_errors.ConnectionError("the queue is closed"))
        self._queued = []
        await self._drop_connection()


def _fail(batch: list[_Call], exc: BaseException) -> None:
    error = exc if isinstance(exc, Exception) else redis_errors.ConnectionError(str(exc) or "lost")
    for _, future in batch:
        if not future.done():
            future.set_exception(error)
    batch.clear()
