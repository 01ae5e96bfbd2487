"""Delivery reports: a durable store on the queue's backend, fed by webhooks and by polling.

::

    async with open_delivery_store("sqlite:///kmsg.db", queue="default") as store:
        await store.upsert(DeliveryRecord(provider="nhn", message_id="2024...", state=...))
        record = await store.lookup("nhn", "2024...")

* **The store** (:mod:`.store`, :mod:`.records`): one record per ``(provider, message_id)`` of
  a queue, kept in the queue's own backend: the ``delivery_reports`` table of the SQLite file
  (schema migration 5), or four keys under the queue's Redis hash tag. Replays and late,
  out-of-order reports are merged by one rule (a final state is never undone; otherwise the
  gateway's newer timestamp wins); bounded by ``cleanup(older_than)`` and a cap. It is also a
  :class:`~kmsg.messaging.DeliveryStore`, so ``MessageJobProcessor(provider,
  delivery_store=store)`` keeps ``update_delivery_status`` reports durably.
* **Push** (:mod:`.webhook`): a small Starlette app that receives gateways' report POSTs (NHN
  Cloud's ``X-Toast-Webhook-Signature``; a generic HMAC-SHA256 signature for others).
* **Poll** (:mod:`.reconciler`): a ``reconcile_delivery`` job that asks a provider with a
  ``delivery_status`` method and schedules itself again with backoff until the state is final.
* ``kmsg status <job or message id>`` prints a job's state and its delivery record.

:func:`open_delivery_store` picks the backend by the queue URL's scheme and imports it lazily,
as :func:`kmsg.open_queue` does.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Generator
from typing import Any

from kmsg.errors import MissingDependencyError, ValidationError
from kmsg.messaging.reports.records import (
    FINAL_STATES,
    DeliveryRecord,
    merge,
    record_from_report,
)
from kmsg.messaging.reports.store import DEFAULT_MAX_RECORDS, ReportStore
from kmsg.urls import DEFAULT_QUEUE_URL, QUEUE_URL_ENV, redact_url

__all__ = [
    "DEFAULT_MAX_RECORDS",
    "FINAL_STATES",
    "DeliveryRecord",
    "ReportStore",
    "StoreOpener",
    "merge",
    "open_delivery_store",
    "record_from_report",
]


async def _open(url: str, options: dict[str, Any]) -> ReportStore:
    """The store of the backend the URL's scheme names: each backend keeps its own in its
    adapter package (``kmsg.adapters.*.delivery_store``), imported on first use."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme == "sqlite":
        module = importlib.import_module("kmsg.adapters.sqlite.delivery_store")
    elif scheme in ("redis", "rediss", "redis+cluster", "rediss+cluster"):
        try:
            module = importlib.import_module("kmsg.adapters.redis.delivery_store")
        except ImportError as exc:
            raise MissingDependencyError(f"the {scheme}:// delivery store", "redis") from exc
    else:
        raise ValidationError(f"no delivery store for the queue URL {redact_url(url)!r}")
    store: ReportStore = await module.open_store(url, **options)
    return store


class StoreOpener:
    """What :func:`open_delivery_store` returns: await it, or use it as an async context manager."""

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        self._url = url
        self._options = options
        self._store: ReportStore | None = None

    def __repr__(self) -> str:
        return f"StoreOpener({redact_url(self._url)!r})"

    def __await__(self) -> Generator[Any, None, ReportStore]:
        return _open(self._url, self._options).__await__()

    async def __aenter__(self) -> ReportStore:
        self._store = await _open(self._url, self._options)
        return self._store

    async def __aexit__(self, *exc_info: object) -> None:
        if self._store is not None:
            await self._store.aclose()
            self._store = None


def open_delivery_store(
    url: str | None = None,
    *,
    queue: str = "default",
    default_provider: str = "default",
    max_records: int = DEFAULT_MAX_RECORDS,
    **options: Any,
) -> StoreOpener:
    """Open the delivery store of queue ``queue`` on the backend of queue URL ``url``.

    ``url`` defaults as :func:`kmsg.open_queue`'s (``K_MSG_QUEUE_URL``, else
    ``sqlite:///kmsg.db``); other keyword ``options`` are the backend's (``key_prefix``,
    ``busy_timeout``, ...). ``default_provider`` is the provider the ``DeliveryStore`` methods
    (``record``, ``get``) mean; ``max_records`` caps the records kept for the queue. Raises
    ``ValidationError`` for an unknown scheme or bad option, ``MissingDependencyError`` when the
    backend's extra is missing, ``BackendUnavailable`` when it cannot be reached.
    """
    resolved = url or os.environ.get(QUEUE_URL_ENV) or DEFAULT_QUEUE_URL
    merged = {
        "queue": queue,
        "default_provider": default_provider,
        "max_records": max_records,
        **options,
    }
    return StoreOpener(resolved, merged)
