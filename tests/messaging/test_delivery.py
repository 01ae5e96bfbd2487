"""Delivery reports and the in-memory delivery store."""

from __future__ import annotations

import pytest

from kmsg import ValidationError
from kmsg.messaging import DeliveryReport, DeliveryState, DeliveryStore, InMemoryDeliveryStore

pytestmark = pytest.mark.anyio


def report(state: DeliveryState, at: float, message_id: str = "m-1") -> DeliveryReport:
    return DeliveryReport(message_id=message_id, state=state, reported_at=at)


async def test_the_store_keeps_the_newest_report() -> None:
    store = InMemoryDeliveryStore()
    assert isinstance(store, DeliveryStore)
    assert await store.get("m-1") is None
    newer = report(DeliveryState.DELIVERED, 20.0)
    await store.record(newer)
    await store.record(report(DeliveryState.FAILED, 10.0))  # late, out of order
    assert await store.get("m-1") == newer
    await store.record(newer)  # a redelivered report job is harmless
    assert await store.get("m-1") == newer


async def test_reports_are_kept_per_message() -> None:
    store = InMemoryDeliveryStore()
    await store.record(report(DeliveryState.DELIVERED, 1.0, "a"))
    await store.record(report(DeliveryState.FAILED, 1.0, "b"))
    first, second = await store.get("a"), await store.get("b")
    assert first is not None
    assert first.state is DeliveryState.DELIVERED
    assert second is not None
    assert second.state is DeliveryState.FAILED


@pytest.mark.parametrize("state", [DeliveryState.QUEUED, DeliveryState.SENT])
def test_a_report_is_delivered_or_failed(state: DeliveryState) -> None:
    with pytest.raises(ValidationError, match="delivered or failed"):
        report(state, 1.0)


def test_a_report_needs_a_message_id() -> None:
    with pytest.raises(ValidationError, match="message_id"):
        report(DeliveryState.DELIVERED, 1.0, message_id="")
