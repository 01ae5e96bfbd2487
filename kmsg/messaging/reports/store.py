"""The persistent delivery store's contract (:class:`ReportStore`) and what both backends share.

Every store keeps the records of one queue (the queue name it was opened with), on the queue's
own backend, and

* **upserts** by the merge rule of :mod:`kmsg.messaging.reports.records`, each record in one
  atomic step (one SQLite ``BEGIN IMMEDIATE`` transaction, one Lua script), so concurrent and
  replayed reports end in the same record whatever their order; ``upsert`` says whether
  anything changed;
* **finds** a record by ``(provider, message_id)``, by the send job's id, or by message id
  alone (the newest such record, when the provider is not known);
* is **bounded**: ``cleanup(older_than)`` removes records unchanged for that many seconds, in
  bounded steps, and every upsert that takes the store past ``max_records`` evicts the records
  changed longest ago (a few per upsert, so the count converges without a long step).

Each store is also a :class:`~kmsg.messaging.DeliveryStore`, so a
:class:`~kmsg.messaging.MessageJobProcessor` built with one keeps its ``update_delivery_status``
reports durably: ``record`` and ``get`` use the store's ``default_provider`` as the provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Protocol, Self, runtime_checkable

from kmsg.messaging.delivery import DeliveryReport
from kmsg.messaging.reports.records import DeliveryRecord, check_provider, record_from_report
from kmsg.validation import check_name

__all__ = [
    "DEFAULT_MAX_RECORDS",
    "CLEANUP_STEP",
    "ReportStore",
    "StoreBase",
]

DEFAULT_MAX_RECORDS: Final = 1_000_000
"""The default cap on records per queue (a record costs about 200-300 bytes)."""
CLEANUP_STEP: Final = 500
"""Records removed per step (transaction or script) of :meth:`ReportStore.cleanup`."""
EVICT_PER_UPSERT: Final = 16
"""Records evicted at most by one upsert that finds the store over its cap."""


@runtime_checkable
class ReportStore(Protocol):
    """A durable store of delivery records for one queue (module docstring)."""

    queue: str
    default_provider: str

    async def upsert(self, record: DeliveryRecord) -> bool:
        """Merge ``record`` into the kept one atomically; whether the kept record changed."""
        ...

    async def upsert_many(self, records: Sequence[DeliveryRecord]) -> int:
        """Upsert each record (each atomic on its own); how many changed something."""
        ...

    async def lookup(self, provider: str, message_id: str) -> DeliveryRecord | None:
        """The record of ``message_id`` at ``provider``, or None."""
        ...

    async def find(self, message_id: str) -> DeliveryRecord | None:
        """The most recently changed record with ``message_id`` at any provider, or None."""
        ...

    async def by_job(self, job_id: str) -> DeliveryRecord | None:
        """The record linked to send job ``job_id``, or None."""
        ...

    async def count(self) -> int:
        """How many records the store holds."""
        ...

    async def record(self, report: DeliveryReport) -> None:
        """Keep ``report`` as from ``default_provider`` (the ``DeliveryStore`` method)."""
        ...

    async def get(self, message_id: str) -> DeliveryReport | None:
        """The delivered / failed report of ``message_id`` at ``default_provider``, or None."""
        ...

    async def cleanup(self, older_than: float) -> int:
        """Remove records unchanged for ``older_than`` seconds (in bounded steps); how many."""
        ...

    async def aclose(self) -> None:
        """Close the store's connection."""
        ...


class StoreBase:
    """The :class:`~kmsg.messaging.DeliveryStore` face and the context-manager protocol."""

    queue: str
    default_provider: str

    def __init__(self, *, queue: str, default_provider: str, max_records: int) -> None:
        self.queue = check_name("queue", queue)
        self.default_provider = check_provider(default_provider)
        if isinstance(max_records, bool) or not isinstance(max_records, int) or max_records < 1:
            raise ValueError(f"max_records must be a positive integer, not {max_records!r}")
        self.max_records = max_records

    async def upsert(self, record: DeliveryRecord) -> bool:
        """See :meth:`ReportStore.upsert`."""
        return await self.upsert_many([record]) == 1

    async def upsert_many(self, records: Sequence[DeliveryRecord]) -> int:
        """See :meth:`ReportStore.upsert_many`."""
        raise NotImplementedError

    async def lookup(self, provider: str, message_id: str) -> DeliveryRecord | None:
        """See :meth:`ReportStore.lookup`."""
        raise NotImplementedError

    async def record(self, report: DeliveryReport) -> None:
        """Keep ``report`` as from :attr:`default_provider` (the ``DeliveryStore`` method)."""
        await self.upsert(record_from_report(report, self.default_provider))

    async def get(self, message_id: str) -> DeliveryReport | None:
        """The delivered / failed report of ``message_id`` at :attr:`default_provider`."""
        kept = await self.lookup(self.default_provider, message_id)
        return None if kept is None else kept.as_report()

    async def aclose(self) -> None:
        """See :meth:`ReportStore.aclose`."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
