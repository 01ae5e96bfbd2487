"""The merge rule: order-independent, idempotent, and a final state is never undone."""

from __future__ import annotations

import functools
import itertools

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmsg import ValidationError
from kmsg.messaging import DeliveryReport, DeliveryState
from kmsg.messaging.reports import FINAL_STATES, DeliveryRecord, merge, record_from_report
from kmsg.messaging.reports.records import decode_record, encode_record


def rec(
    state: DeliveryState, at: float, code: str | None = None, job: str | None = None
) -> DeliveryRecord:
    return DeliveryRecord(
        provider="nhn", message_id="m-1", state=state, reported_at=at, error_code=code, job_id=job
    )


records = st.builds(
    rec,
    st.sampled_from(list(DeliveryState)),
    st.sampled_from([1.0, 2.0, 3.0]),
    st.sampled_from([None, "E1", "E2"]),
)


def fold(items: list[DeliveryRecord]) -> DeliveryRecord | None:
    return functools.reduce(merge, items, None)


@given(st.lists(records, min_size=1, max_size=5))
def test_the_outcome_does_not_depend_on_arrival_order(items: list[DeliveryRecord]) -> None:
    outcomes = {fold(list(order)) for order in itertools.permutations(items)}
    assert len(outcomes) == 1


@given(st.lists(records, min_size=1, max_size=6))
def test_a_final_state_is_never_left(items: list[DeliveryRecord]) -> None:
    kept: DeliveryRecord | None = None
    for item in items:
        merged = merge(kept, item)
        if kept is not None and kept.final:
            assert merged.final
        kept = merged


@given(records)
def test_a_replay_changes_nothing(record: DeliveryRecord) -> None:
    assert merge(record, record) is record
    assert merge(record, msgspec.structs.replace(record)) is record


def test_a_later_report_wins_among_equals_in_finality() -> None:
    delivered = rec(DeliveryState.DELIVERED, 2.0)
    failed_later = rec(DeliveryState.FAILED, 3.0, "3015")
    assert merge(delivered, failed_later) == failed_later
    assert merge(failed_later, delivered) is failed_later
    assert merge(rec(DeliveryState.SENDING, 5.0), rec(DeliveryState.SENT, 4.0)).state is (
        DeliveryState.SENDING
    )


def test_a_non_final_report_never_undoes_a_final_one_even_if_newer() -> None:
    delivered = rec(DeliveryState.DELIVERED, 2.0)
    assert merge(delivered, rec(DeliveryState.SENDING, 9.0)) is delivered
    assert {DeliveryState.DELIVERED, DeliveryState.FAILED, DeliveryState.CANCELLED} == FINAL_STATES


def test_the_job_link_is_kept_once_known() -> None:
    sent = rec(DeliveryState.SENT, 1.0, job="job-1")
    merged = merge(sent, rec(DeliveryState.DELIVERED, 2.0))
    assert (merged.state, merged.job_id) == (DeliveryState.DELIVERED, "job-1")
    assert merge(rec(DeliveryState.DELIVERED, 2.0), sent).job_id == "job-1"


def test_records_check_themselves_and_round_trip() -> None:
    record = rec(DeliveryState.FAILED, 1.5, "E1", "job-1")
    assert decode_record(encode_record(record)) == record
    assert b"null" not in encode_record(rec(DeliveryState.SENT, 1.0))
    for bad in (
        {"provider": "a:b"},
        {"message_id": ""},
        {"message_id": "x\x1b[31m"},
        {"reported_at": float("nan")},
        {"job_id": "no spaces"},
        {"error_code": "x" * 200},
    ):
        fields = {"provider": "nhn", "message_id": "m", "state": "sent", "reported_at": 1.0}
        with pytest.raises(ValidationError):
            DeliveryRecord(**{**fields, **bad})  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        merge(
            rec(DeliveryState.SENT, 1.0),
            DeliveryRecord(
                provider="other", message_id="m-1", state=DeliveryState.SENT, reported_at=1.0
            ),
        )


def test_a_report_becomes_a_record_of_its_provider() -> None:
    report = DeliveryReport(
        message_id="m-1", state=DeliveryState.FAILED, reported_at=4.0, error_code="E"
    )
    record = record_from_report(report, "nhn", job_id="j")
    assert record == rec(DeliveryState.FAILED, 4.0, "E", "j")
    assert record.as_report() == report
    assert rec(DeliveryState.SENT, 1.0).as_report() is None
