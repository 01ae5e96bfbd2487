"""``kmsg health`` and ``kmsg worker`` with a real HTTP gateway configured from env or kmsg.toml.

The gateway is a small HTTP server on 127.0.0.1 in the test process; the CLI runs in a
subprocess, as a user runs it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import pytest

from kmsg import JobQueue, JobState
from tests.cli.conftest import Kmsg

_PHONE = "010-1234-5678"


@dataclass
class Gateway:
    """A fake SMS gateway: GET /health answers 200, GET /down 503, POST /send accepts."""

    url: str = ""
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    gateway: Gateway

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        self.gateway.requests.append(("GET", self.path, dict(self.headers.items()), b""))
        self._reply(200 if self.path == "/health" else 503, {"message": "maintenance"})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.gateway.requests.append(("POST", self.path, dict(self.headers.items()), body))
        self._reply(200, {"message_id": f"gw-{len(self.gateway.requests)}"})

    def _reply(self, status: int, body: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    result = Gateway()
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Handler,), {"gateway": result}))
    server.daemon_threads = True
    host, port = server.server_address[:2]
    result.url = f"http://{host!s}:{port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield result
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.fixture
def cli(sqlite_kmsg: Kmsg) -> Kmsg:
    """The CLI with no provider chosen (the shared fixture selects the mock one)."""
    del sqlite_kmsg.env["K_MSG_MOCK"]
    return sqlite_kmsg


def _provider_check(cli: Kmsg) -> tuple[int, dict[str, Any]]:
    done = cli.run("--json", "health")
    checks = {check["name"]: check for check in json.loads(done.stdout)["checks"]}
    return done.returncode, checks["provider"]


def test_http_without_a_url_names_the_variable(cli: Kmsg) -> None:
    cli.env["K_MSG_PROVIDER"] = "http"
    code, check = _provider_check(cli)
    assert code == 1
    assert check["ok"] is False
    assert check["detail"] == (
        "provider 'http' needs K_MSG_HTTP_URL (or url in the [provider] table of kmsg.toml)"
    )
    done = cli.run("worker", "--burst")
    assert done.returncode == 2, done.stderr
    assert "needs K_MSG_HTTP_URL" in done.stderr
    assert "TypeError" not in done.stderr


def test_health_probes_the_gateway_configured_from_the_environment(
    cli: Kmsg, gateway: Gateway
) -> None:
    cli.env.update(
        K_MSG_PROVIDER="http",
        K_MSG_HTTP_URL=f"{gateway.url}/send",
        K_MSG_HTTP_TOKEN="tok-123",
        K_MSG_HTTP_HEALTH_URL="/health",
    )
    code, check = _provider_check(cli)
    assert code == 0, check
    assert check["detail"].startswith(f"http: {gateway.url}/health answered HTTP 200 in ")
    [(method, path, headers, _)] = gateway.requests
    assert (method, path, headers["Authorization"]) == ("GET", "/health", "Bearer tok-123")


def test_health_fails_when_the_gateway_is_unhealthy(cli: Kmsg, gateway: Gateway) -> None:
    cli.env.update(
        K_MSG_PROVIDER="http", K_MSG_HTTP_URL=f"{gateway.url}/send", K_MSG_HTTP_HEALTH_URL="/down"
    )
    code, check = _provider_check(cli)
    assert code == 1
    assert check["detail"] == "http: PROVIDER_ERROR: HTTP 503: maintenance"


def test_health_without_a_health_url_reports_configured(cli: Kmsg, gateway: Gateway) -> None:
    cli.env.update(K_MSG_PROVIDER="http", K_MSG_HTTP_URL=f"{gateway.url}/send")
    code, check = _provider_check(cli)
    assert code == 0
    assert check["detail"] == f"http: configured for {gateway.url}/send (no health URL to probe)"
    assert gateway.requests == []


def test_kmsg_toml_configures_the_provider(cli: Kmsg, gateway: Gateway) -> None:
    (cli.cwd / "kmsg.toml").write_text(
        f'[provider]\nname = "http"\nurl = "{gateway.url}/send"\nhealth_url = "/health"\n'
        "timeout = 5\n"
    )
    cli.env["K_MSG_HTTP_TOKEN"] = "from-env"
    code, check = _provider_check(cli)
    assert code == 0, check
    assert "answered HTTP 200" in check["detail"]
    assert gateway.requests[0][2]["Authorization"] == "Bearer from-env"


def test_a_config_file_mistake_names_the_key(cli: Kmsg, tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text('[provider]\nname = "http"\nurl = "http://gw/send"\ntimeout = "soon"\n')
    cli.env["K_MSG_CONFIG"] = str(config)
    code, check = _provider_check(cli)
    assert code == 1
    assert check["detail"].startswith(
        f"provider 'http' setting timeout in the [provider] table of {config}: Expected `float`"
    )


def test_the_mock_provider_answers_the_probe(sqlite_kmsg: Kmsg) -> None:
    code, check = _provider_check(sqlite_kmsg)
    assert code == 0
    assert check["detail"] == "mock: ok (mock provider 'mock', in memory)"


def test_a_worker_sends_through_the_configured_gateway(cli: Kmsg, gateway: Gateway) -> None:
    cli.env.update(K_MSG_PROVIDER="http", K_MSG_HTTP_URL=f"{gateway.url}/send")
    queued = cli.json("send", "--to", _PHONE, "--text", "hello", "-q", "sms")
    cli.ok("worker", "-q", "sms", "--burst")

    [(method, path, headers, body)] = gateway.requests
    assert (method, path) == ("POST", "/send")
    assert msgspec.json.decode(body)["to"] == "01012345678"
    assert headers["Idempotency-Key"].startswith("kmsg:sms:")

    async def job(queue: JobQueue) -> Any:
        return await queue.get("sms", queued["job_id"])

    done = cli.with_queue(job)
    assert done.state is JobState.COMPLETED
    assert done.result is not None


def test_the_missing_extra_hint_keeps_its_brackets(cli: Kmsg) -> None:
    cli.env["K_MSG_PROVIDER"] = "http"
    hint = 'HttpProvider needs an optional dependency: pip install "kmsg[http]"'
    hide_httpx = "import sys; sys.modules['httpx'] = None; from kmsg.cli import main; main()"
    as_text = _python(cli, hide_httpx, "--queue-url", cli.url, "health")
    assert as_text.returncode == 1
    assert hint in " ".join(as_text.stdout.split())  # the table may wrap the line
    as_json = _python(cli, hide_httpx, "--queue-url", cli.url, "--json", "health")
    assert json.loads(as_json.stdout)["checks"][1]["detail"] == hint


def _python(cli: Kmsg, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code args...`` in the CLI's folder and environment."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cli.cwd,
        env=cli.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
