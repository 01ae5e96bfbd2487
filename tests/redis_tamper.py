"""Changing a Redis queue's data behind kmsg's back, as an eviction, an operator or a bug would.

The changes run as Lua scripts made of the adapter's own ``lua/includes/common.lua`` and a short
body, so they read and write job records exactly as the adapter lays them out (``keys.py``).
"""

from __future__ import annotations

from typing import Any

import redis.asyncio

from kmsg.adapters.redis.keys import QueueKeys
from kmsg.adapters.redis.scripts import shared_source

__all__ = ["delete_record", "record_field", "set_payload", "tamper"]


async def tamper(url: str, prefix: str, queue: str, body: str, *args: Any) -> Any:
    """Run ``body`` after the shared include, on ``queue``'s keys (``ARGV[2..]`` = ``args``)."""
    keys = QueueKeys(prefix, queue)
    client = redis.asyncio.Redis.from_url(url)
    async with client:
        return await client.eval(
            f"{shared_source()}\n{body}",
            len(keys.script_keys),
            *keys.script_keys,
            keys.channel,
            *args,
        )


async def set_payload(url: str, prefix: str, queue: str, job_id: str, data: bytes) -> None:
    """Overwrite the stored payload bytes of one job."""
    body = "local job = load(ARGV[2]); job.payload = ARGV[3]; store(ARGV[2], job); return 1"
    assert await tamper(url, prefix, queue, body, job_id, data) == 1


async def delete_record(url: str, prefix: str, queue: str, job_id: str) -> None:
    """Delete one job's record, leaving its index entries behind (as a lost write would)."""
    assert await tamper(url, prefix, queue, "return redis.call('HDEL', K.jobs, ARGV[2])", job_id)


async def record_field(url: str, prefix: str, queue: str, job_id: str, field: str) -> Any:
    """One field of a job's record as the scripts see it (None when absent)."""
    body = "local job = load(ARGV[2]); return job and job[ARGV[3]]"
    return await tamper(url, prefix, queue, body, job_id, field)
