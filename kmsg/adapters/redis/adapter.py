"""RedisJobQueue: the JobQueue contract on Redis / Redis Cluster, one Lua script per step.

The front (:class:`~kmsg.adapters.base.QueueBase`) turns each call into a checked operation;
:mod:`~kmsg.adapters.redis.plans` plans it as script calls; the
:class:`~kmsg.adapters.redis.executor.RedisExecutor` performs them. Three calls are more than a
plan, because they wait: ``claim(wait=...)`` blocks for a job handed over by an enqueue
(:mod:`~kmsg.adapters.redis.handoff`), ``wait_for_jobs`` for a pub/sub wake-up and ``wait``
(``result``) for the pub/sub message of the script that ends the job
(:mod:`~kmsg.adapters.redis.notify`). Key layout: :mod:`kmsg.adapters.redis.keys`. Times come
from the server's ``TIME`` inside the scripts, never from this host.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

import anyio

from kmsg import operations as ops
from kmsg.adapters.base import Pause, QueueBase
from kmsg.adapters.redis.connection import RedisSettings, backend_errors
from kmsg.adapters.redis.executor import RedisExecutor
from kmsg.adapters.redis.handoff import ClusterBlocker, Handoff, PoolBlocker
from kmsg.adapters.redis.keys import QueueKeys
from kmsg.adapters.redis.notify import Notifier
from kmsg.adapters.redis.plans import RedisPlanner
from kmsg.codec import PayloadCodec
from kmsg.plans import run_async
from kmsg.queue import Capabilities
from kmsg.validation import check_name
from kmsg.waiting import RECHECK_SECONDS

__all__ = ["CAPABILITIES", "RedisJobQueue"]

CAPABILITIES: Final = Capabilities(
    backend="redis",
    anyio_backends=frozenset({"asyncio"}),
    multi_host=True,
    server_time=True,
    atomic_cross_queue_move=False,
    push_wakeup=True,
    direct_handoff=True,
)


class RedisJobQueue(QueueBase):
    """A :class:`kmsg.JobQueue` on Redis; open it with :func:`kmsg.open_queue` (``redis://``).

    Beyond the contract: :meth:`check_connection`, :meth:`check_server` and
    :attr:`data_losses`. The underscored helpers (``_run``, ``_command``, ``_keys``) serve the
    sibling modules of this package and its tests.
    """

    def __init__(self, settings: RedisSettings, client: Any) -> None:
        super().__init__(PayloadCodec(max_bytes=settings.max_payload_bytes))
        self._settings = settings
        self._client = client
        self._planner = RedisPlanner(settings.key_prefix)
        self._executor = RedisExecutor(settings, client)
        timeout = settings.socket_timeout
        self._handoff = Handoff(
            self._run,
            self._keys,
            ClusterBlocker(client, timeout=timeout)
            if settings.cluster
            else PoolBlocker(client.connection_pool, timeout=timeout),
        )
        self._notifier = Notifier(client)
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"RedisJobQueue({self._settings.redacted_url!r}, prefix={self._settings.key_prefix!r})"
        )

    @property
    def capabilities(self) -> Capabilities:
        """What this adapter supports."""
        return CAPABILITIES

    @property
    def data_losses(self) -> int:
        """How often the server was found to have lost its data since this adapter opened."""
        return self._executor.marker.data_losses

    def _keys(self, queue: str) -> QueueKeys:
        """The keys of ``queue`` (validated) under this adapter's prefix."""
        return self._planner.keys(check_name("queue", queue))

    async def _run(self, name: str, queue: str, args: Sequence[Any] = ()) -> Any:
        """Run script ``name`` on ``queue`` (see :meth:`RedisExecutor.run`)."""
        return await self._executor.run(name, check_name("queue", queue), args)

    async def _command(self, *args: Any) -> Any:
        """Run one plain Redis command."""
        return await self._executor.command(*args)

    async def check_connection(self) -> None:
        """Ping the server; ``BackendUnavailable`` if it does not answer."""
        await self._executor.command("PING")

    async def check_server(self) -> None:
        """Refuse an old or evicting server (see :mod:`kmsg.adapters.redis.server`)."""
        await self._executor.check_server()

    async def _perform(self, operation: ops.Operation) -> Any:
        """Run one checked operation: its plan, or one of the two waits."""
        if isinstance(operation, ops.Claim) and operation.wait > 0:
            with backend_errors(self._settings):
                return await self._claim_waiting(operation)
        if isinstance(operation, ops.WaitForJobs):
            return await self._wait_for_jobs(operation.queue, operation.max_wait)
        return await run_async(self._planner.plan(operation), self._executor.perform)

    async def _claim_waiting(self, claim: ops.Claim) -> list[Any]:
        """Claim, or wait for a job an enqueue hands over (``handoff.py``); round after round
        until a job is claimed or the wait is over. Cancelling the call while it waits releases
        a job handed over meanwhile."""
        deadline = anyio.current_time() + claim.wait
        remaining = claim.wait
        for _ in range(1_000_000):  # bounded by the deadline; the count only guards the loop
            claimed = await self._handoff.claim(
                claim.queue, limit=claim.limit, lease=claim.lease, wait=remaining
            )
            remaining = deadline - anyio.current_time()
            if claimed or remaining <= 0:
                return claimed
            await anyio.lowlevel.checkpoint()
        return []

    async def _wait_for_jobs(self, queue: str, max_wait: float) -> None:
        """Return when a job may be claimable (pub/sub push or the next due time) or at max_wait."""
        keys = self._planner.keys(queue)
        with anyio.move_on_after(max_wait):
            with backend_errors(self._settings):
                event = await self._notifier.register(keys.channel)
            try:
                wait_ms = await self._executor.run("wake", queue, [max_wait])
                if wait_ms == 0:
                    return
                with anyio.move_on_after(wait_ms / 1000 if wait_ms > 0 else None):
                    await event.wait()
            finally:
                self._notifier.unregister(keys.channel, event)

    @asynccontextmanager
    async def _job_signals(self, queue: str, job_id: str) -> AsyncIterator[Pause]:
        """Be told when the job ends: subscribe to the queue's ``watched`` channel for its id,
        then mark it watched (watch.lua), so the script that ends it publishes; look again every
        ``RECHECK_SECONDS`` anyway, in case a message was lost with a dropped connection."""
        channel = self._planner.keys(queue).watched
        with backend_errors(self._settings):
            event = await self._notifier.register(channel, job_id)
        try:
            await self._executor.run("watch", queue, [job_id])

            async def pause(most: float) -> None:
                with anyio.move_on_after(min(most, RECHECK_SECONDS)):
                    await event.wait()
                event.clear()

            yield pause
        finally:
            self._notifier.unregister(channel, event, job_id)

    async def aclose(self) -> None:
        """Close the pub/sub reader and the connections. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await self._notifier.aclose()
        await self._handoff.aclose()
        await self._executor.aclose()
        await self._client.aclose()
