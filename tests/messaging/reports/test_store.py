"""The delivery store's contract, on every backend (SQLite, Redis, Redis Cluster)."""

from __future__ import annotations

import functools
import random

import anyio
import pytest

from kmsg.messaging import DeliveryReport, DeliveryState, MessageJobProcessor, MockProvider
from kmsg.messaging.reports import DeliveryRecord, ReportStore, merge, open_delivery_store
from tests.backends import Store

pytestmark = pytest.mark.anyio


def rec(
    message_id: str = "m-1",
    state: DeliveryState = DeliveryState.DELIVERED,
    at: float = 100.0,
    *,
    provider: str = "nhn",
    code: str | None = None,
    job: str | None = None,
) -> DeliveryRecord:
    return DeliveryRecord(
        provider=provider,
        message_id=message_id,
        state=state,
        reported_at=at,
        error_code=code,
        job_id=job,
    )


async def test_upsert_then_look_up_by_key_job_and_message(reports: ReportStore) -> None:
    assert await reports.lookup("nhn", "m-1") is None
    assert await reports.upsert(rec(state=DeliveryState.SENT, job="job-1"))
    assert await reports.upsert(rec(state=DeliveryState.DELIVERED, at=101.0))
    expected = rec(state=DeliveryState.DELIVERED, at=101.0, job="job-1")
    assert await reports.lookup("nhn", "m-1") == expected
    assert await reports.by_job("job-1") == expected
    assert await reports.find("m-1") == expected
    assert await reports.lookup("other", "m-1") is None
    assert await reports.by_job("job-2") is None
    assert await reports.count() == 1


async def test_a_replay_is_one_state_change(reports: ReportStore) -> None:
    report = rec(state=DeliveryState.FAILED, code="3015")
    assert await reports.upsert(report) is True
    assert await reports.upsert(report) is False
    assert await reports.upsert_many([report, report]) == 0
    assert await reports.lookup("nhn", "m-1") == report


async def test_a_final_state_is_never_moved_back(reports: ReportStore) -> None:
    await reports.upsert(rec(state=DeliveryState.DELIVERED, at=100.0))
    assert not await reports.upsert(rec(state=DeliveryState.SENDING, at=200.0))
    assert not await reports.upsert(rec(state=DeliveryState.SENT, at=300.0))
    kept = await reports.lookup("nhn", "m-1")
    assert kept is not None
    assert kept.state is DeliveryState.DELIVERED


async def test_out_of_order_reports_go_by_the_gateway_timestamp(reports: ReportStore) -> None:
    await reports.upsert(rec(state=DeliveryState.FAILED, at=200.0, code="late"))
    assert not await reports.upsert(rec(state=DeliveryState.DELIVERED, at=150.0))
    kept = await reports.lookup("nhn", "m-1")
    assert kept is not None
    assert (kept.state, kept.error_code) == (DeliveryState.FAILED, "late")


async def test_concurrent_upserts_end_as_the_merge_of_all(
    reports: ReportStore, store: Store, qname: str
) -> None:
    rng = random.Random(7)
    items = [
        rec(state=rng.choice(list(DeliveryState)), at=float(rng.randint(1, 4)), code=code)
        for code in (None, "A", "B", "C")
        for _ in range(5)
    ]
    rng.shuffle(items)
    async with (
        open_delivery_store(store.url, queue=qname, **store.options) as other,
        anyio.create_task_group() as group,
    ):
        for index, item in enumerate(items):
            group.start_soon((reports if index % 2 else other).upsert, item)
    assert await reports.lookup("nhn", "m-1") == functools.reduce(merge, items, None)


async def test_queues_and_providers_are_kept_apart(
    reports: ReportStore, store: Store, qname: str
) -> None:
    await reports.upsert(rec(provider="nhn", state=DeliveryState.DELIVERED))
    await reports.upsert(rec(provider="solapi", state=DeliveryState.FAILED, code="X"))
    async with open_delivery_store(store.url, queue=f"{qname}-b", **store.options) as other:
        assert await other.lookup("nhn", "m-1") is None
        assert await other.count() == 0
    assert await reports.count() == 2
    solapi = await reports.lookup("solapi", "m-1")
    assert solapi is not None
    assert solapi.state is DeliveryState.FAILED


async def test_the_cap_evicts_the_oldest(store: Store, qname: str) -> None:
    async with open_delivery_store(
        store.url, queue=qname, max_records=5, **store.options
    ) as capped:
        for n in range(8):
            await capped.upsert(rec(f"m-{n}", job=f"job-{n}"))
        assert await capped.count() == 5
        assert await capped.lookup("nhn", "m-0") is None
        assert await capped.by_job("job-0") is None
        assert await capped.find("m-0") is None
        assert await capped.lookup("nhn", "m-7") is not None


async def test_cleanup_removes_what_is_older_than_asked(reports: ReportStore) -> None:
    for n in range(3):
        await reports.upsert(rec(f"m-{n}", job=f"job-{n}"))
    assert await reports.cleanup(3600) == 0
    await anyio.sleep(0.02)
    await reports.upsert(rec("fresh"))
    assert await reports.cleanup(0.01) == 3
    assert await reports.count() == 1
    assert await reports.by_job("job-1") is None
    assert await reports.find("m-1") is None
    assert await reports.lookup("nhn", "fresh") is not None


async def test_cleanup_runs_in_steps(reports: ReportStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from kmsg.adapters.redis import delivery_store as redis_store
    from kmsg.adapters.sqlite import delivery_store as sqlite_store

    for module in (sqlite_store, redis_store):
        monkeypatch.setattr(module, "CLEANUP_STEP", 2)
    await reports.upsert_many([rec(f"m-{n}") for n in range(5)])
    await anyio.sleep(0.01)
    assert await reports.cleanup(0) == 5
    assert await reports.count() == 0


async def test_it_is_a_delivery_store_for_the_processor(store: Store, qname: str) -> None:
    async with open_delivery_store(
        store.url, queue=qname, default_provider="mock", **store.options
    ) as durable:
        processor = MessageJobProcessor(MockProvider(), delivery_store=durable)
        report = DeliveryReport(message_id="mock-1", state=DeliveryState.DELIVERED, reported_at=5.0)
        await processor.delivery_store.record(report)
        assert await durable.get("mock-1") == report
        assert (await durable.lookup("mock", "mock-1")) is not None
        await durable.upsert(rec("sent-only", DeliveryState.SENT, provider="mock"))
        assert await durable.get("sent-only") is None
