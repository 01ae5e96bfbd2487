"""The Redis and Redis Cluster backend (``redis://``, ``rediss://``, ``redis+cluster://``).

redis-py's asyncio client is asyncio-only, so this adapter runs under asyncio and refuses trio
with ``BackendUnavailable`` (see ``CAPABILITIES``).
"""

from __future__ import annotations

import asyncio
import logging

from kmsg.adapters.redis.adapter import CAPABILITIES, RedisJobQueue
from kmsg.adapters.redis.connection import parse_settings
from kmsg.adapters.redis.plans import RedisPlanner
from kmsg.adapters.redis.sync_executor import SyncRedisExecutor
from kmsg.codec import PayloadCodec
from kmsg.errors import BackendUnavailable
from kmsg.sync import SyncQueue
from kmsg.urls import redact_url

__all__ = ["CAPABILITIES", "RedisJobQueue", "open_sync_url", "open_url"]

_log = logging.getLogger("kmsg.adapters.redis")


async def open_url(url: str, **options: object) -> RedisJobQueue:
    """Open a :class:`RedisJobQueue` on ``url`` and check that the server answers and is fit.

    Raises ``ValidationError`` for a bad URL or option, ``BackendUnavailable`` under an async
    library other than asyncio, when the server cannot be reached, or when it is older than
    Redis 7 or may evict keys (see :mod:`kmsg.adapters.redis.server`).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        raise BackendUnavailable(
            "the Redis backend runs under asyncio only (redis-py is asyncio-only), and no"
            " asyncio event loop is running here (trio?); use the SQLite backend under trio"
        ) from None
    settings = parse_settings(url, options)
    queue = RedisJobQueue(settings, settings.client())
    try:
        await queue.check_connection()
        await queue.check_server()
    except BaseException:
        await queue.aclose()
        raise
    _log.info("opened Redis queue store at %s", redact_url(url))
    return queue


def open_sync_url(url: str, **options: object) -> SyncQueue:
    """Open a blocking :class:`~kmsg.sync.SyncQueue` on ``url`` (called by
    ``kmsg.sync.open_queue``); it checks the server as :func:`open_url` does."""
    settings = parse_settings(url, options)
    executor = SyncRedisExecutor(settings, settings.sync_client())
    try:
        executor.command("PING")
        executor.check_server()
    except BaseException:
        executor.close()
        raise
    planner = RedisPlanner(settings.key_prefix)
    codec = PayloadCodec(max_bytes=settings.max_payload_bytes)
    _log.info("opened Redis queue store at %s (blocking)", redact_url(url))
    return SyncQueue(planner, executor, codec, CAPABILITIES)
