"""The delivery store on Redis (and Redis Cluster): four keys per queue, under its hash tag.

With the default prefix ``kmsg`` and a queue named ``q``::

    kmsg:{q}:delivery           hash  '<provider>:<message id>' -> the record (JSON, records.py)
    kmsg:{q}:delivery:jobs      hash  send job id -> the field of its record
    kmsg:{q}:delivery:messages  hash  message id -> the field of its most recently changed record
    kmsg:{q}:delivery:age       zset  field -> when the record last changed (server time, ms)

A provider name has no ``:`` (``records.check_provider``), so a field splits unambiguously. The
keys share the queue's hash tag ``{q}``, so each script touches one Cluster slot, the queue's.
None of them is the queue's ``meta`` key, so a store never makes a queue known by itself.

**Upsert** is optimistic: read the kept value, merge in Python (the same
:func:`~kmsg.messaging.reports.records.merge` the SQLite store runs), then ``upsert.lua`` writes
the merged value only if the kept one is still what was read, else the caller reads and merges
again. So the merge rule lives once, and a write is still one atomic script. The script stamps
the record's age from the server's ``TIME`` and evicts the oldest records (up to 16) when the
store is past its cap. **Cleanup** (``cleanup.lua``, ``allow-oom`` so retention still frees
memory on a full server) removes up to :data:`~kmsg.messaging.reports.store.CLEANUP_STEP`
records per script call. Index entries whose record is gone are ignored on lookup.

redis-py's asyncio client runs under asyncio only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any, Final

from redis import exceptions as redis_errors

from kmsg.adapters.redis.connection import RedisSettings, backend_errors, parse_settings
from kmsg.errors import BackendUnavailable
from kmsg.messaging.reports.records import DeliveryRecord, decode_record, encode_record, merge
from kmsg.messaging.reports.store import CLEANUP_STEP, StoreBase
from kmsg.validation import check_seconds

__all__ = ["RedisDeliveryStore", "open_store", "script_source"]

_LUA: Final = resources.files("kmsg.adapters.redis").joinpath("delivery_lua")
_MAX_CONFLICTS: Final = 64


@cache
def script_source(name: str) -> str:
    """The text sent to Redis for script ``name``: its flags line, ``drop.lua``, the rest."""
    text = _LUA.joinpath(f"{name}.lua").read_text(encoding="utf-8")
    flags, _, body = text.partition("\n")
    shared = _LUA.joinpath("drop.lua").read_text(encoding="utf-8")
    return f"{flags}\n{shared}\n{body}"


@cache
def _sha(name: str) -> str:
    return hashlib.sha1(script_source(name).encode(), usedforsecurity=False).hexdigest()


class RedisDeliveryStore(StoreBase):
    """A :class:`~kmsg.messaging.reports.store.ReportStore` in Redis (module docstring)."""

    def __init__(
        self,
        settings: RedisSettings,
        client: Any,
        *,
        queue: str,
        default_provider: str,
        max_records: int,
    ) -> None:
        super().__init__(queue=queue, default_provider=default_provider, max_records=max_records)
        self._settings = settings
        self._client = client
        base = f"{settings.key_prefix}:{{{self.queue}}}:delivery"
        self.keys: tuple[str, str, str, str] = (
            base,
            f"{base}:jobs",
            f"{base}:messages",
            f"{base}:age",
        )

    def __repr__(self) -> str:
        return f"RedisDeliveryStore({self._settings.redacted_url!r}, queue={self.queue!r})"

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        queue: str = "default",
        default_provider: str = "default",
        max_records: int,
        **options: Any,
    ) -> RedisDeliveryStore:
        """Connect to the Redis of ``url`` (options as the queue's) and check it answers."""
        settings = parse_settings(url, options)
        store = cls(
            settings,
            settings.client(),
            queue=queue,
            default_provider=default_provider,
            max_records=max_records,
        )
        try:
            with backend_errors(settings):
                await store._client.ping()
        except BaseException:
            await store.aclose()
            raise
        return store

    async def _script(self, name: str, *args: object) -> Any:
        with backend_errors(self._settings):
            try:
                return await self._client.evalsha(_sha(name), len(self.keys), *self.keys, *args)
            except redis_errors.NoScriptError:
                return await self._client.eval(
                    script_source(name), len(self.keys), *self.keys, *args
                )

    async def _hget(self, key: str, field: str) -> bytes | None:
        with backend_errors(self._settings):
            raw: bytes | None = await self._client.hget(key, field)
        return raw

    async def _upsert_one(self, record: DeliveryRecord) -> bool:
        field = f"{record.provider}:{record.message_id}"
        for _ in range(_MAX_CONFLICTS):
            raw = await self._hget(self.keys[0], field)
            kept = None if raw is None else decode_record(raw)
            merged = merge(kept, record)
            if merged is kept:
                return False
            written = await self._script(
                "upsert",
                field,
                raw or b"",
                encode_record(merged),
                merged.job_id or "",
                merged.message_id,
                self.max_records,
            )
            if written == 1:
                return True
        raise BackendUnavailable(
            f"delivery record {field!r} kept changing under {_MAX_CONFLICTS} upserts in a row"
        )

    async def upsert_many(self, records: Sequence[DeliveryRecord]) -> int:
        """Upsert each record (one script each); how many changed (see ``ReportStore``)."""
        changed = 0
        for record in records:
            changed += await self._upsert_one(record)
        return changed

    async def _record_at(self, index: str, key: str) -> DeliveryRecord | None:
        field = await self._hget(index, key)
        if field is None:
            return None
        raw = await self._hget(self.keys[0], field.decode())
        return None if raw is None else decode_record(raw)

    async def lookup(self, provider: str, message_id: str) -> DeliveryRecord | None:
        """See :meth:`ReportStore.lookup`."""
        raw = await self._hget(self.keys[0], f"{provider}:{message_id}")
        return None if raw is None else decode_record(raw)

    async def find(self, message_id: str) -> DeliveryRecord | None:
        """See :meth:`ReportStore.find`."""
        return await self._record_at(self.keys[2], message_id)

    async def by_job(self, job_id: str) -> DeliveryRecord | None:
        """See :meth:`ReportStore.by_job`."""
        return await self._record_at(self.keys[1], job_id)

    async def count(self) -> int:
        """See :meth:`ReportStore.count`."""
        with backend_errors(self._settings):
            return int(await self._client.zcard(self.keys[3]))

    async def cleanup(self, older_than: float) -> int:
        """See :meth:`ReportStore.cleanup`: one script call per step of ``CLEANUP_STEP``."""
        age_ms = int(check_seconds("older_than", older_than) * 1000)
        removed = 0
        while True:
            done = int(await self._script("cleanup", age_ms, CLEANUP_STEP))
            removed += done
            if done < CLEANUP_STEP:
                return removed

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self._client.aclose()


async def open_store(url: str, **options: Any) -> RedisDeliveryStore:
    """Open this backend's delivery store for ``url`` (what ``open_delivery_store`` calls)."""
    return await RedisDeliveryStore.open(url, **options)
