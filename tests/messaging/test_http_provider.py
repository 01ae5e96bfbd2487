"""HttpProvider against a real HTTP server on 127.0.0.1: requests, status mapping, timeouts."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest

from kmsg import ProviderError, ProviderErrorCode
from kmsg.messaging import Message, Sms, load_provider
from kmsg.messaging.http import HttpProvider, parse_retry_after

pytestmark = pytest.mark.anyio

MESSAGE = Sms(to="010-1234-5678", text="hello")


@dataclass
class Gateway:
    """A fake SMS gateway; ``requests`` holds (path, headers, body) of every request."""

    url: str
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    """``/ok``: accept; ``/status/<code>?retry_after=&message=``: refuse; ``/slow``: hang;
    ``/garbage``: a 200 that is not JSON."""

    gateway: Gateway

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        parts = urlsplit(self.path)
        self.gateway.requests.append((parts.path, dict(self.headers.items()), body))
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        if parts.path == "/ok":
            self._reply(200, {"message_id": f"gw-{len(self.gateway.requests)}"})
        elif parts.path == "/garbage":
            self._reply(200, b"<html>not json</html>")
        elif parts.path == "/slow":
            self.gateway.release.wait(10)
            self._reply(200, {"message_id": "late"})
        else:
            status = int(parts.path.rsplit("/", 1)[1])
            headers = {"Retry-After": query["retry_after"]} if "retry_after" in query else {}
            self._reply(status, {"message": query.get("message")}, headers)

    def _reply(
        self, status: int, body: dict[str, Any] | bytes, headers: dict[str, str] | None = None
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    result = Gateway(url="")
    handler = type("Handler", (_Handler,), {"gateway": result})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    result.url = f"http://{host!s}:{port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield result
    finally:
        result.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


async def test_a_send_posts_the_message_as_json(gateway: Gateway) -> None:
    async with HttpProvider(f"{gateway.url}/ok", api_key="secret-key", name="gw") as http:
        result = await http.send(MESSAGE)
    assert (result.message_id, result.provider, result.to) == ("gw-1", "gw", "01012345678")
    [(path, headers, body)] = gateway.requests
    assert path == "/ok"
    assert headers["Authorization"] == "Bearer secret-key"
    assert headers["Content-Type"] == "application/json"
    assert msgspec.json.decode(body, type=Message) == MESSAGE
    assert msgspec.json.decode(body)["type"] == "SMS"


async def test_the_idempotency_key_goes_in_its_header(gateway: Gateway) -> None:
    async with HttpProvider(f"{gateway.url}/ok") as http:
        await http.send(MESSAGE, idempotency_key="kmsg:sms:01JOB")
        await http.send(MESSAGE)
    (_, with_key, _), (_, without, _) = gateway.requests
    assert with_key["Idempotency-Key"] == "kmsg:sms:01JOB"
    assert "Idempotency-Key" not in without


async def test_a_custom_auth_header_without_scheme(gateway: Gateway) -> None:
    async with HttpProvider(
        f"{gateway.url}/ok", api_key="k", auth_header="X-Api-Key", auth_scheme=None
    ) as http:
        await http.send(MESSAGE)
    headers = gateway.requests[0][1]
    assert headers["X-Api-Key"] == "k"
    assert "Authorization" not in headers


@pytest.mark.parametrize(
    ("path", "code", "retryable", "retry_after"),
    [
        ("/status/429?retry_after=3", ProviderErrorCode.RATE_LIMIT_EXCEEDED, True, 3.0),
        ("/status/429", ProviderErrorCode.RATE_LIMIT_EXCEEDED, True, None),
        ("/status/500", ProviderErrorCode.PROVIDER_ERROR, True, None),
        ("/status/502", ProviderErrorCode.PROVIDER_ERROR, True, None),
        ("/status/503?retry_after=12", ProviderErrorCode.PROVIDER_ERROR, True, 12.0),
        ("/status/400", ProviderErrorCode.INVALID_REQUEST, False, None),
        ("/status/404", ProviderErrorCode.INVALID_REQUEST, False, None),
        ("/status/422", ProviderErrorCode.INVALID_REQUEST, False, None),
        ("/status/401", ProviderErrorCode.AUTHENTICATION_FAILED, False, None),
        ("/status/403", ProviderErrorCode.AUTHENTICATION_FAILED, False, None),
        ("/status/402", ProviderErrorCode.INSUFFICIENT_BALANCE, False, None),
        ("/status/408", ProviderErrorCode.NETWORK_TIMEOUT, True, None),
        ("/garbage", ProviderErrorCode.PROVIDER_ERROR, True, None),
    ],
)
async def test_replies_map_to_error_codes(
    gateway: Gateway, path: str, code: ProviderErrorCode, retryable: bool, retry_after: float | None
) -> None:
    async with HttpProvider(gateway.url + path) as http:
        with pytest.raises(ProviderError) as caught:
            await http.send(MESSAGE)
    assert caught.value.code is code
    assert caught.value.retryable is retryable
    assert caught.value.retry_after == retry_after


async def test_an_error_reply_message_is_kept(gateway: Gateway) -> None:
    async with HttpProvider(f"{gateway.url}/status/400?message=bad+sender") as http:
        with pytest.raises(ProviderError, match="HTTP 400: bad sender"):
            await http.send(MESSAGE)


async def test_no_reply_in_time_is_a_network_timeout(gateway: Gateway) -> None:
    async with HttpProvider(f"{gateway.url}/slow", timeout=0.3) as http:
        with pytest.raises(ProviderError) as caught:
            await http.send(MESSAGE)
    assert caught.value.code is ProviderErrorCode.NETWORK_TIMEOUT
    assert caught.value.retryable


async def test_a_refused_connection_is_a_network_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with HttpProvider(f"http://127.0.0.1:{port}/ok", timeout=5.0) as http:
        with pytest.raises(ProviderError) as caught:
            await http.send(MESSAGE)
    assert caught.value.code is ProviderErrorCode.NETWORK_ERROR
    assert caught.value.retryable


async def test_load_provider_builds_an_http_provider(gateway: Gateway) -> None:
    http = load_provider("http", url=f"{gateway.url}/ok", api_key="hidden-token")
    assert isinstance(http, HttpProvider)
    try:
        assert (await http.send(MESSAGE)).message_id == "gw-1"
        assert "hidden-token" not in repr(http)
    finally:
        await http.aclose()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("120", 120.0),
        (" 0 ", 0.0),
        (formatdate(1_000_030.0, usegmt=True), 30.0),
        (formatdate(999_000.0, usegmt=True), 0.0),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=1_000_000.0) == expected
