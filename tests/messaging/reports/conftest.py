"""Fixtures for the delivery-report tests: a delivery store on each backend's fresh store."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from kmsg.messaging.reports import ReportStore, open_delivery_store
from tests.backends import Store


@pytest.fixture
async def reports(store: Store, qname: str) -> AsyncIterator[ReportStore]:
    """The delivery store of queue ``qname`` on the backend under test (closed afterwards)."""
    async with open_delivery_store(store.url, queue=qname, **store.options) as opened:
        yield opened
