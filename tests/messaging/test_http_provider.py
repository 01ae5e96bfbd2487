"""HttpProvider against a real HTTP server on 127.0.0.1: requests, status mapping, timeouts."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import msgspec
import pytest

from kmsg import JobQueue, JobState, ProviderError, ProviderErrorCode, ValidationError
from kmsg.messaging import KMsg, Message, MessageJobProcessor, Sms, load_provider
from kmsg.messaging.http import HttpProvider, parse_retry_after
from kmsg.worker import Worker

pytestmark = pytest.mark.anyio

MESSAGE = Sms(to="010-1234-5678", text="hello")


@dataclass
class Gateway:
    """A fake SMS gateway; ``requests`` holds (path, headers, body) of every request."""

    url: str
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    sent: int = 0


class _Handler(BaseHTTPRequestHandler):
    """``/ok``: accept; ``/status/<code>?retry_after=&message=``: refuse; ``/slow``: hang;
    ``/garbage``: a 200 that is not JSON; ``/echo``: a 401 quoting the request's auth header;
    ``/drip?every=``: a 200 sent a byte at a time; ``/huge?status=&declare=``: an endless reply
    (``declare=1``: with a 300 MB Content-Length); GET ``/health``: 200."""

    gateway: Gateway

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        self.gateway.requests.append((self.path, dict(self.headers.items()), b""))
        if self.path == "/health":
            self._reply(200, {"status": "ok"})
        else:
            self._reply(503, {"message": "down for maintenance"})

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
        elif parts.path == "/echo":
            echoed = self.headers.get("Authorization", "") + " " + query.get("pad", "")
            self._reply(401, {"message": f"bad credentials {echoed}"})
        elif parts.path == "/drip":
            self._drip(float(query["every"]))
        elif parts.path == "/huge":
            self._endless(int(query.get("status", "200")), declare=query.get("declare") == "1")
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

    def _drip(self, every: float) -> None:
        data = json.dumps({"message_id": "dripped"}).encode() + b" " * 40
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        for byte in data:
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return
            if self.gateway.release.wait(every):
                return

    def _endless(self, status: int, *, declare: bool) -> None:
        """Up to 64 MiB of zeros, until the client goes; the count lands in ``gateway.sent``."""
        self.send_response(status)
        if declare:
            self.send_header("Content-Length", str(300 * 1024 * 1024))
        self.end_headers()  # no Content-Length: the body ends when the connection closes
        chunk = b"0" * 65536
        try:
            while self.gateway.sent < 64 * 1024 * 1024 and not self.gateway.release.is_set():
                self.wfile.write(chunk)
                self.gateway.sent += len(chunk)
        except OSError:
            return


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


async def test_a_dripping_reply_ends_at_the_total_deadline(gateway: Gateway) -> None:
    # 59 bytes, one each 0.1 s: every read is well inside 0.5 s, the whole reply takes ~6 s
    async with HttpProvider(f"{gateway.url}/drip?every=0.1", timeout=0.5) as http:
        started = time.perf_counter()
        with pytest.raises(ProviderError) as caught:
            await http.send(MESSAGE)
        elapsed = time.perf_counter() - started
    assert caught.value.code is ProviderErrorCode.NETWORK_TIMEOUT
    assert "no whole reply within 0.5 s" in caught.value.message
    assert elapsed < 3.0


@pytest.mark.parametrize("declare", ["0", "1"], ids=["streamed", "content-length"])
async def test_a_huge_reply_is_abandoned_at_the_size_limit(gateway: Gateway, declare: str) -> None:
    url = f"{gateway.url}/huge?declare={declare}"
    async with HttpProvider(url, max_reply_bytes=256 * 1024, timeout=30.0) as http:
        with pytest.raises(ProviderError) as caught:
            await http.send(MESSAGE)
    assert caught.value.code is ProviderErrorCode.PROVIDER_ERROR
    assert caught.value.message == "gateway reply longer than 262144 bytes"
    assert gateway.sent < 16 * 1024 * 1024  # the server could fill socket buffers, no more


async def test_a_huge_error_reply_still_maps_by_its_status(gateway: Gateway) -> None:
    async with HttpProvider(f"{gateway.url}/huge?status=503", max_reply_bytes=1024) as http:
        with pytest.raises(ProviderError) as caught:
            await http.send(MESSAGE)
    assert caught.value.code is ProviderErrorCode.PROVIDER_ERROR
    assert caught.value.message == (
        "HTTP 503: Service Unavailable (reply longer than 1024 bytes, not read)"
    )


@pytest.mark.parametrize(
    ("limit", "header", "expected"),
    [(3600.0, "315360000", 3600.0), (60.0, "120", 60.0), (60.0, "30", 30.0), (0.0, "5", 0.0)],
)
async def test_retry_after_is_capped(
    gateway: Gateway, limit: float, header: str, expected: float
) -> None:
    url = f"{gateway.url}/status/429?retry_after={header}"
    kwargs = {} if limit == 3600.0 else {"max_retry_after": limit}  # 3600: the default
    async with HttpProvider(url, **kwargs) as http:
        with pytest.raises(ProviderError) as caught:
            await http.send(MESSAGE)
    assert caught.value.retry_after == expected


async def test_url_credentials_go_to_basic_auth_not_to_reprs_or_logs(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="httpx")
    base = gateway.url.replace("http://", "http://ops:pa55-w0rd@")
    async with HttpProvider(f"{base}/ok") as http:
        assert (await http.send(MESSAGE)).message_id == "gw-1"
        shown = [repr(http), http.url]
    [(_, headers, _)] = gateway.requests
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"ops:pa55-w0rd").decode()
    assert any("HTTP Request: POST" in record.getMessage() for record in caplog.records)
    for text in [*shown, *(record.getMessage() for record in caplog.records)]:
        assert "pa55-w0rd" not in text
        assert "ops:" not in text


async def test_url_credentials_and_an_api_key_for_one_header_are_refused() -> None:
    with pytest.raises(ValidationError, match="both set Authorization"):
        HttpProvider("http://u:p@127.0.0.1:9/ok", api_key="k")


@pytest.mark.parametrize("url", ["ftp://gw.example/send", "gw.example/send", "http://"])
async def test_a_url_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="http:// or https://"):
        HttpProvider(url)


async def test_a_gateway_echoing_the_token_has_it_redacted(gateway: Gateway) -> None:
    token = "sk_live_0123456789abcdef"
    async with HttpProvider(f"{gateway.url}/echo?pad={'x' * 2000}", api_key=token) as http:
        with pytest.raises(ProviderError) as caught:
            await http.send(MESSAGE)
    text = str(caught.value)
    assert token not in text
    assert "bad credentials [redacted] xxx" in text
    assert len(caught.value.message) <= 500
    assert caught.value.message.endswith("…")


async def test_a_gateway_echoing_basic_credentials_has_them_redacted(gateway: Gateway) -> None:
    base = gateway.url.replace("http://", "http://ops:pa55-w0rd@")
    async with HttpProvider(f"{base}/echo") as http:
        with pytest.raises(ProviderError) as caught:
            await http.send(MESSAGE)
    assert str(caught.value) == "AUTHENTICATION_FAILED: HTTP 401: bad credentials Basic [redacted] "


async def test_the_stored_job_error_has_no_token(
    gateway: Gateway, queue: JobQueue, qname: str
) -> None:
    token = "sk_live_0123456789abcdef"
    async with HttpProvider(f"{gateway.url}/echo", api_key=token) as http:
        job_id = await KMsg(http, queue, queue_name=qname).enqueue(MESSAGE)
        worker = Worker(queue, queues=(qname,), idle_wait=0.05, lease=10.0)
        MessageJobProcessor(http).register(worker)
        with anyio.fail_after(60):
            await worker.run_until_idle()
    job = await queue.get(qname, job_id)
    assert job.state is JobState.FAILED
    [error] = job.errors
    assert "bad credentials [redacted]" in error.message
    assert token not in error.message


async def test_probe_gets_the_health_url(gateway: Gateway) -> None:
    async with HttpProvider(f"{gateway.url}/send", health_url="/health", api_key="k") as http:
        detail = await http.probe()
    assert detail.startswith(f"{gateway.url}/health answered HTTP 200 in ")
    [(path, headers, _)] = gateway.requests
    assert (path, headers["Authorization"]) == ("/health", "Bearer k")


async def test_probe_of_an_unhealthy_gateway_raises(gateway: Gateway) -> None:
    async with HttpProvider(f"{gateway.url}/send", health_url="/down") as http:
        with pytest.raises(ProviderError, match="HTTP 503: down for maintenance"):
            await http.probe()


async def test_probe_without_a_health_url_sends_nothing(gateway: Gateway) -> None:
    async with HttpProvider(f"{gateway.url}/send") as http:
        assert await http.probe() == f"configured for {gateway.url}/send (no health URL to probe)"
    assert gateway.requests == []


async def test_limits_out_of_range_are_refused() -> None:
    for kwargs in ({"timeout": 0.0}, {"max_reply_bytes": 0}, {"max_retry_after": -1.0}):
        with pytest.raises(ValidationError, match="timeout > 0"):
            HttpProvider("http://127.0.0.1:9/ok", **kwargs)  # type: ignore[arg-type]
