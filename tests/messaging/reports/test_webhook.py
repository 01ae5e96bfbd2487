"""The webhook receiver: NHN Cloud's and the generic HMAC signature, replays, limits."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from kmsg.messaging import DeliveryState
from kmsg.messaging.reports import ReportStore, open_delivery_store
from kmsg.messaging.reports.receivers import HmacWebhook, NhnWebhook, nhn_message_id, sign
from kmsg.messaging.reports.webhook import create_webhook_app

pytestmark = pytest.mark.anyio

SIGNATURE = "nhn-webhook-signature-1"
SECRET = "generic-secret-0123456789"
KST = dt.timezone(dt.timedelta(hours=9))


def nhn_hook(request_id: str, status: str | None, code: str | None, **extra: Any) -> dict[str, Any]:
    """A hook shaped as NHN Cloud's SMS webhook documents it (MESSAGE_RESULT_UPDATE)."""
    hook: dict[str, Any] = {
        "hookId": f"hook-{request_id}",
        "senderType": "NORMAL_SMS",
        "requestId": request_id,
        "recipientSeq": 1,
        "requestDate": "2024-04-29T20:58:02",
        "receiveDate": "2024-04-29T20:58:04",
        "sendNo": "15446859",
        "recipientNo": "01012341234",
        "recipientGroupingKey": "RecipientGroupingKey",
        "senderGroupingKey": "SenderGroupingKey",
        "_links": {"self": {"href": "https://api-sms.cloud.toast.com/sms/v3.0/..."}},
        **extra,
    }
    if status is not None:
        hook["messageStatus"] = status
    if code is not None:
        hook["resultCode"] = code
    return hook


def nhn_body(*hooks: dict[str, Any], event: str = "MESSAGE_RESULT_UPDATE") -> bytes:
    return json.dumps(
        {
            "hooksId": "202007271010101010sadasdavas",
            "webhookConfigId": "config-1",
            "productName": "SMS",
            "appKey": "akb3dukdmdjsdSvgk",
            "event": event,
            "hooks": list(hooks),
        }
    ).encode()


async def stream_without_length(app: Starlette, body: bytes) -> int:
    """POST ``body`` in 4 KiB chunks without a Content-Length, straight to the ASGI app."""
    chunks = [body[start : start + 4096] for start in range(0, len(body), 4096)]
    sent: list[MutableMapping[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/nhn",
        "raw_path": b"/nhn",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"x-toast-webhook-signature", SIGNATURE.encode())],
        "client": ("127.0.0.1", 1),
        "server": ("hooks", 80),
    }

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0) if chunks else b""
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


@pytest.fixture
def app(reports: ReportStore) -> Starlette:
    return create_webhook_app(
        reports,
        [NhnWebhook(SIGNATURE), HmacWebhook(SECRET, provider="relay")],
        max_body_bytes=64 * 1024,
    )


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hooks") as http:
        yield http


async def post_nhn(
    client: httpx.AsyncClient, body: bytes, signature: str | None = SIGNATURE
) -> httpx.Response:
    headers = {"Content-Type": "application/json;charset=UTF-8"}
    if signature is not None:
        headers["X-Toast-Webhook-Signature"] = signature
    return await client.post("/nhn", content=body, headers=headers)


async def test_nhn_reports_are_stored(client: httpx.AsyncClient, reports: ReportStore) -> None:
    body = nhn_body(
        nhn_hook("req-ok", "COMPLETED", "1000"),
        nhn_hook("req-bad", "FAILED", "3015"),
        nhn_hook("req-kakao", None, "MRC01", kakaoMessageType="ALIMTALK_NORMAL"),
        nhn_hook("req-many", "COMPLETED", "1000", recipientSeq=2),
    )
    response = await post_nhn(client, body)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 4, "changed": 4}
    ok = await reports.lookup("nhn", nhn_message_id("sms", "req-ok", 1))
    assert ok is not None
    assert ok.state is DeliveryState.DELIVERED
    assert ok.reported_at == dt.datetime(2024, 4, 29, 20, 58, 4, tzinfo=KST).timestamp()
    bad = await reports.lookup("nhn", nhn_message_id("sms", "req-bad", 1))
    assert bad is not None
    assert (bad.state, bad.error_code) == (DeliveryState.FAILED, "3015")
    kakao = await reports.lookup("nhn", nhn_message_id("sms", "req-kakao", 1))
    assert kakao is not None
    assert kakao.state is DeliveryState.DELIVERED
    assert await reports.lookup("nhn", nhn_message_id("sms", "req-many", 2)) is not None


async def test_a_replayed_post_changes_nothing(
    client: httpx.AsyncClient, reports: ReportStore
) -> None:
    body = nhn_body(nhn_hook("req-1", "COMPLETED", "1000"))
    assert (await post_nhn(client, body)).json() == {"received": 1, "changed": 1}
    assert (await post_nhn(client, body)).json() == {"received": 1, "changed": 0}
    late = nhn_body(nhn_hook("req-1", "SENDING", None, receiveDate="2024-04-29T21:00:00"))
    assert (await post_nhn(client, late)).json() == {"received": 1, "changed": 0}
    kept = await reports.lookup("nhn", nhn_message_id("sms", "req-1", 1))
    assert kept is not None
    assert kept.state is DeliveryState.DELIVERED


@pytest.mark.parametrize("signature", [None, "", "wrong", SIGNATURE + "x", SIGNATURE.upper()])
async def test_a_bad_nhn_signature_is_refused(
    client: httpx.AsyncClient, reports: ReportStore, signature: str | None
) -> None:
    response = await post_nhn(client, nhn_body(nhn_hook("req-1", "COMPLETED", "1000")), signature)
    assert response.status_code == 401
    assert SIGNATURE not in response.text
    assert await reports.count() == 0


async def test_other_events_are_accepted_and_ignored(
    client: httpx.AsyncClient, reports: ReportStore
) -> None:
    unsubscribe = {"hookId": "h", "recipientNo": "01012341234", "unsubscribeNo": "08012341234"}
    response = await post_nhn(client, nhn_body(unsubscribe, event="UNSUBSCRIBE"))
    assert response.json() == {"received": 0, "changed": 0}
    assert await reports.count() == 0


async def test_a_malformed_body_is_a_bad_request(client: httpx.AsyncClient) -> None:
    assert (await post_nhn(client, b"{not json")).status_code == 400
    assert (await post_nhn(client, nhn_body({"hookId": "no request id"}))).status_code == 400


async def test_an_oversized_body_is_refused_unread(
    app: Starlette, client: httpx.AsyncClient, reports: ReportStore
) -> None:
    big = nhn_body(*(nhn_hook(f"req-{n}", "COMPLETED", "1000") for n in range(400)))
    assert len(big) > 64 * 1024
    assert (await post_nhn(client, big)).status_code == 413

    status = await stream_without_length(app, big)  # counted as it streams
    assert status == 413
    assert await reports.count() == 0


async def test_unknown_receivers_are_not_found(client: httpx.AsyncClient) -> None:
    assert (await client.post("/solapi", content=b"{}")).status_code == 404
    assert (await client.get("/nhn")).status_code == 405


def generic_body(*reports: dict[str, Any]) -> bytes:
    return json.dumps({"reports": list(reports)}).encode()


async def test_generic_hmac_reports(client: httpx.AsyncClient, reports: ReportStore) -> None:
    body = generic_body(
        {"message_id": "g-1", "state": "failed", "reported_at": 10.0, "error_code": "E7"}
    )
    response = await client.post("/relay", content=body, headers=sign(SECRET, body))
    assert response.json() == {"received": 1, "changed": 1}
    assert (await client.post("/relay", content=body, headers=sign(SECRET, body))).json()[
        "changed"
    ] == 0
    kept = await reports.lookup("relay", "g-1")
    assert kept is not None
    assert (kept.state, kept.error_code) == (DeliveryState.FAILED, "E7")


async def test_generic_hmac_refusals(client: httpx.AsyncClient, reports: ReportStore) -> None:
    body = generic_body({"message_id": "g-1", "state": "delivered", "reported_at": 10.0})
    tampered = body.replace(b"delivered", b"failed\x20\x20")
    cases = [
        sign("another-secret-0123456789", body),
        sign(SECRET, body, timestamp=1_000_000),  # long ago: a replayed capture
        sign(SECRET, tampered),
        {},
    ]
    for headers in cases:
        response = await client.post("/relay", content=body, headers=headers)
        assert response.status_code == 401
    assert await reports.count() == 0


def test_served_alone_it_opens_and_closes_its_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kmsg.db'}"
    app = create_webhook_app(url, [NhnWebhook(SIGNATURE)], queue="sms")
    body = nhn_body(nhn_hook("req-1", "COMPLETED", "1000"))
    with TestClient(app) as http:
        headers = {"X-Toast-Webhook-Signature": SIGNATURE}
        assert http.post("/nhn", content=body, headers=headers).json()["changed"] == 1

    async def check() -> DeliveryState | None:
        async with open_delivery_store(url, queue="sms") as store:
            kept = await store.lookup("nhn", nhn_message_id("sms", "req-1", 1))
            return None if kept is None else kept.state

    import anyio

    assert anyio.run(check) is DeliveryState.DELIVERED


def test_it_mounts_in_another_app(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kmsg.db'}"
    inner = create_webhook_app(url, [NhnWebhook(SIGNATURE)])
    outer = Starlette(
        routes=[Mount("/delivery-reports", app=inner)], lifespan=inner.router.lifespan_context
    )
    with TestClient(outer) as http:
        response = http.post(
            "/delivery-reports/nhn",
            content=nhn_body(nhn_hook("req-1", "FAILED", "3015")),
            headers={"X-Toast-Webhook-Signature": SIGNATURE},
        )
        assert response.json() == {"received": 1, "changed": 1}


def test_receivers_hide_their_secrets() -> None:
    assert SIGNATURE not in repr(NhnWebhook(SIGNATURE))
    assert SECRET not in repr(HmacWebhook(SECRET, provider="relay"))
