"""Direct handoff: ``claim(wait=...)``, an idle claimer that enqueue hands a new job to at once.

The claimer runs claim.lua with a wait: when nothing is due it is registered in the queue's
``waiters`` set under a fresh lease token base (layout and rules: :mod:`kmsg.adapters.redis.keys`)
and blocks in ``BLPOP`` on its own reply list, on a connection of its own (never the shared,
pipelined one: a blocked command would hold up every other caller). An enqueue that finds it
claims the new job for it in the same script and pushes it: two hops from enqueue to a running
job (the enqueue round trip, then the ``BLPOP`` reply) instead of three (enqueue, a pub/sub
message, a claim round trip).

The claim and unwait scripts run shielded from cancellation, so a job claimed for this caller is
either returned or, if the caller is cancelled while blocked, released (pending again, attempt
refunded), even when ``BLPOP`` had already taken the reply off the list: the job's receipt is
still there for unwait.lua. A claimer that dies is a lease that ends and is reclaimed.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, Protocol

import anyio
from redis.asyncio import ConnectionPool
from redis.asyncio.connection import AbstractConnection

from kmsg.adapters.redis.keys import QueueKeys
from kmsg.adapters.redis.plans import claimed_jobs
from kmsg.adapters.redis.records import job_from_record
from kmsg.adapters.redis.resp import pack
from kmsg.models import ClaimedJob
from kmsg.validation import MAX_LEASE

__all__ = ["Blocker", "ClusterBlocker", "Handoff", "PoolBlocker"]

Runner = Callable[[str, str, Sequence[Any]], Awaitable[Any]]
_MIN_BLOCK: Final = 0.001  # BLPOP's timeout 0 would mean "forever"


class Blocker(Protocol):
    """Runs ``BLPOP key seconds``; ``max_block`` caps ``seconds``."""

    max_block: float

    async def blpop(self, key: str, seconds: float) -> bytes | None:
        """The value popped from ``key`` within ``seconds``, else None."""
        ...

    async def aclose(self) -> None:
        """Close the connections. Idempotent."""
        ...


class PoolBlocker:
    """Plain Redis: connections of its own, made with ``pool``'s settings, one per blocked call
    and kept for the next; ``timeout`` is added to each wait to bound the read."""

    def __init__(self, pool: ConnectionPool, *, timeout: float) -> None:
        self._pool = pool
        self._timeout = timeout
        self.max_block = MAX_LEASE
        self._idle: list[AbstractConnection] = []
        self._busy: set[AbstractConnection] = set()
        self._closed = False

    async def blpop(self, key: str, seconds: float) -> bytes | None:
        """See :meth:`Blocker.blpop`; a failed or cancelled call drops its connection."""
        connection = self._idle.pop() if self._idle else self._pool.make_connection()  # type: ignore[no-untyped-call]
        self._busy.add(connection)
        try:
            await connection.connect()
            await connection.send_packed_command(pack(("BLPOP", key, seconds)), check_health=False)
            reply = await connection.read_response(timeout=seconds + self._timeout)
        except BaseException:  # the reply may still come: the connection is spoiled
            self._busy.discard(connection)
            with anyio.CancelScope(shield=True):
                await connection.disconnect(nowait=True)
            raise
        self._busy.discard(connection)
        if self._closed:
            await connection.disconnect(nowait=True)
        else:
            self._idle.append(connection)
        return None if reply is None else bytes(reply[1])

    async def aclose(self) -> None:
        """Disconnect every connection, blocked ones included. Idempotent."""
        self._closed = True
        connections = [*self._idle, *self._busy]
        self._idle.clear()
        for connection in connections:
            await connection.disconnect(nowait=True)


class ClusterBlocker:
    """Redis Cluster: ``BLPOP`` through the cluster client (routed by the key's slot), each wait
    capped well under the client's socket timeout."""

    def __init__(self, client: Any, *, timeout: float) -> None:
        self._client = client
        self.max_block = max(timeout / 2, _MIN_BLOCK)

    async def blpop(self, key: str, seconds: float) -> bytes | None:
        """See :meth:`Blocker.blpop`."""
        reply = await self._client.execute_command("BLPOP", key, seconds)
        return None if reply is None else bytes(reply[1])

    async def aclose(self) -> None:
        """Nothing to close: the cluster client owns its connections."""


class Handoff:
    """One round of ``claim`` (with or without a wait) of one adapter: ``run`` runs a named
    script on a queue, ``keys`` gives a queue's keys."""

    def __init__(self, run: Runner, keys: Callable[[str], QueueKeys], blocker: Blocker) -> None:
        self._run = run
        self._keys = keys
        self._blocker = blocker

    async def claim(
        self, queue: str, *, limit: int, lease: float | None, wait: float
    ) -> list[ClaimedJob]:
        """Claim up to ``limit`` due jobs (arguments already checked); when none is due, wait
        up to ``wait`` seconds for one handed over by an enqueue (``[]`` when the wait ends or
        other work may have become claimable: the caller claims again)."""
        lease_arg = "" if lease is None else repr(lease)
        base = secrets.token_urlsafe(16)
        args: list[Any] = [limit, lease_arg, base]
        args.append(repr(max(min(wait, self._blocker.max_block), _MIN_BLOCK)))
        with anyio.CancelScope(shield=True):
            reply = await self._run("claim", queue, args)
        if not isinstance(reply, int):
            return claimed_jobs(reply, base, queue)
        return await self._wait(queue, f"{base} {lease_arg}", base, reply / 1000)

    async def _wait(self, queue: str, entry: str, base: str, seconds: float) -> list[ClaimedJob]:
        """Block on the reply list of waiter ``entry``; unwait on timeout or cancellation."""
        try:
            packed = await self._blocker.blpop(self._keys(queue).reply(base), seconds)
        except BaseException:
            with anyio.CancelScope(shield=True), contextlib.suppress(Exception):
                await self._run("unwait", queue, [entry, "release"])
            raise
        if packed is None:
            with anyio.CancelScope(shield=True):
                held = await self._run("unwait", queue, [entry, "take"])
        else:
            held = [packed] if packed else []
        token = f"{base}.1"
        jobs = [pushed.partition(b" ") for pushed in held]
        return [
            ClaimedJob(job=job_from_record(job_id.decode(), queue, blob), token=token)
            for job_id, _, blob in jobs
        ]

    async def aclose(self) -> None:
        """Close the blocking connections."""
        await self._blocker.aclose()
