"""Host and Origin allow-list (DNS rebinding), trusted proxies, and the CLI options for both."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import start_blocking_portal
from click.testing import CliRunner
from starlette.datastructures import Headers
from starlette.testclient import TestClient

from kmsg import ValidationError
from kmsg.cli import cli
from kmsg.dashboard import DashboardAuth, create_app
from kmsg.dashboard.middleware import COOKIE_NAME
from kmsg.dashboard.network import NetworkPolicy, host_name
from kmsg.dashboard.server import allowed_hosts_for
from tests.backends import BACKENDS
from tests.dashboard.conftest import TOKEN, Harness, csrf_of, url_of
from tests.dashboard.payloads import SendSms

MakeClient = Callable[..., TestClient]
REBIND = "rebind.attacker.example:8000"


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    """One SQLite store: nothing here depends on the backend."""
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(BACKENDS["sqlite"].store(tmp_path)) as store,
    ):
        yield Harness(portal, store, portal.call(store.open))


def _dead_letter(harness: Harness) -> None:
    harness.run(harness.queue.enqueue, SendSms(to="01012345678", text="x"), queue="q")
    harness.kill_one("q")


def test_a_rebinding_page_gets_no_session_and_changes_nothing(
    make_client: MakeClient, harness: Harness
) -> None:
    _dead_letter(harness)
    client = make_client(dashboard_auth=DashboardAuth(anonymous=True))
    refused = client.get("/", headers={"Host": REBIND})
    assert refused.status_code == 400
    assert "set-cookie" not in refused.headers
    assert refused.headers["x-frame-options"] == "DENY"
    csrf = csrf_of(client.get("/").text)  # a real session, replayed under the attacker's name
    data = {"csrf": csrf, "action": "purge", "scope": "matching", "confirm": "yes"}
    purge = client.post("/queues/q/dead", data=data, headers={"Host": REBIND})
    assert purge.status_code == 400
    assert harness.run(harness.queue.stats, "q").failed == 1


@pytest.mark.parametrize("host", ["localhost", "localhost:8000", "127.0.0.1:9", "[::1]:8000"])
def test_loopback_names_are_allowed_by_default(make_client: MakeClient, host: str) -> None:
    client = make_client(dashboard_auth=DashboardAuth(anonymous=True))
    assert client.get("/", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("host", ["", "dash.example.com", "127.0.0.2", "localhost.evil", "a:b:c"])
def test_other_host_names_are_refused(make_client: MakeClient, host: str) -> None:
    client = make_client()
    assert client.get("/login", headers={"Host": host}).status_code == 400


def test_added_hosts_and_the_wildcard(make_client: MakeClient) -> None:
    added = make_client(allowed_hosts=["localhost", "Dash.Example.com."])
    assert added.get("/login", headers={"Host": "dash.example.com"}).status_code == 200
    assert added.get("/login", headers={"Host": "127.0.0.1"}).status_code == 400
    anything = make_client(allowed_hosts=["*"])
    assert anything.get("/login", headers={"Host": "whatever.example"}).status_code == 200


def test_no_credentials_cannot_allow_every_host(harness: Harness) -> None:
    with pytest.raises(ValidationError, match="every host"):
        create_app(url_of(harness.store), auth=DashboardAuth(anonymous=True), allowed_hosts=["*"])


@pytest.mark.parametrize("entry", ["a b", "host:80", "http://x", "", "[::1"])
def test_malformed_allow_list_entries_are_refused(entry: str) -> None:
    with pytest.raises(ValidationError):
        host_name(entry)


@pytest.mark.parametrize("proxy", ["proxy.example", "10.0.0.0/33", ""])
def test_malformed_trusted_proxies_are_refused(proxy: str) -> None:
    with pytest.raises(ValidationError):
        NetworkPolicy.build(None, [proxy])


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://localhost", True),
        ("https://localhost", True),  # a TLS proxy not declared trusted still works
        ("http://LOCALHOST:80", True),
        ("http://localhost:3000", False),  # another local app: same site, not same origin
        ("http://evil.example", False),
        ("null", False),
        ("localhost", False),
    ],
)
def test_posts_must_come_from_the_dashboard_itself(
    make_client: MakeClient, harness: Harness, origin: str, allowed: bool
) -> None:
    harness.run(harness.queue.enqueue, SendSms(to="01012345678", text="x"), queue="q")
    client = make_client(dashboard_auth=DashboardAuth(anonymous=True))
    csrf = csrf_of(client.get("/").text)
    response = client.post("/queues/q/pause", data={"csrf": csrf}, headers={"Origin": origin})
    assert response.status_code == (303 if allowed else 403)
    assert harness.run(harness.queue.stats, "q").paused is allowed


def test_null_origin_may_read(make_client: MakeClient) -> None:
    client = make_client(dashboard_auth=DashboardAuth(anonymous=True))
    assert client.get("/", headers={"Origin": "null"}).status_code == 200
    assert client.get("/", headers={"Origin": "http://evil.example"}).status_code == 403


def _login_cookie(client: TestClient, headers: dict[str, str]) -> str:
    """Log in through a proxy; the cookie is carried by hand (the client talks plain HTTP)."""
    form = client.get("/login", headers=headers)
    pre_login = form.headers["set-cookie"].split(";")[0]
    data = {"csrf": csrf_of(form.text), "token": TOKEN}
    response = client.post("/login", data=data, headers={**headers, "Cookie": pre_login})
    assert response.status_code == 303, response.text
    cookie: str = response.headers["set-cookie"]
    assert cookie.startswith(COOKIE_NAME)
    return cookie


PROXIED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "dash.example.com"}


def test_a_trusted_tls_proxy_makes_the_cookie_secure(make_client: MakeClient) -> None:
    client = make_client(
        address="10.1.2.3",
        trusted_proxies=["10.0.0.0/8"],
        allowed_hosts=["dash.example.com"],
    )
    cookie = _login_cookie(client, {**PROXIED, "Origin": "https://dash.example.com"})
    assert "; Secure" in cookie


def test_proxy_headers_from_anyone_else_are_ignored(make_client: MakeClient) -> None:
    client = make_client(address="192.0.2.7", trusted_proxies=["10.0.0.0/8"])
    cookie = _login_cookie(client, PROXIED)  # Host localhost counts, not the forwarded name
    assert "Secure" not in cookie
    untrusted = make_client(address="192.0.2.7", allowed_hosts=["dash.example.com"])
    assert untrusted.get("/login", headers=PROXIED).status_code == 400


def _scope(peer: str, headers: dict[str, str]) -> dict[str, Any]:
    raw = [(k.lower().encode(), v.encode()) for k, v in {"host": "localhost", **headers}.items()]
    return {"type": "http", "scheme": "http", "client": (peer, 1), "headers": raw}


def test_forwarded_client_is_the_first_untrusted_hop_from_the_right() -> None:
    policy = NetworkPolicy.build(None, ["10.0.0.1", "10.0.0.2"])
    forged = "6.6.6.6, 203.0.113.9, 10.0.0.2"
    scope = _scope("10.0.0.1", {"X-Forwarded-For": forged, "X-Forwarded-Proto": "http, https"})
    policy.apply_proxy_headers(scope)
    assert scope["client"] == ("203.0.113.9", 0)
    assert scope["scheme"] == "https"
    untouched = _scope("203.0.113.50", {"X-Forwarded-For": "1.2.3.4"})
    policy.apply_proxy_headers(untouched)
    assert untouched["client"] == ("203.0.113.50", 1)


def test_forwarded_host_replaces_the_host_header() -> None:
    policy = NetworkPolicy.build(["dash.example.com"], ["::1"])
    scope = _scope("::1", {"X-Forwarded-Host": "dash.example.com"})
    policy.apply_proxy_headers(scope)
    assert Headers(scope=scope).getlist("host") == ["dash.example.com"]
    assert policy.host_allowed(Headers(scope=scope))


def test_serve_allows_the_bound_address_unless_a_wildcard() -> None:
    assert allowed_hosts_for("127.0.0.1") == ["localhost", "127.0.0.1", "::1", "127.0.0.1"]
    assert allowed_hosts_for("192.0.2.10", ["dash.example"])[-2:] == ["192.0.2.10", "dash.example"]
    assert "0.0.0.0" not in allowed_hosts_for("0.0.0.0")


def test_cli_passes_allowed_hosts_and_trusted_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr("kmsg.dashboard.serve", lambda url, **kw: seen.update(kw, url=url))
    args = ["--queue-url", "sqlite:///x.db", "dashboard", "--allow-host", "dash.example"]
    args += ["--allow-host", "ops.example", "--trusted-proxy", "10.0.0.1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert seen["allowed_hosts"] == ("dash.example", "ops.example")
    assert seen["trusted_proxies"] == ("10.0.0.1",)
    assert seen["url"] == "sqlite:///x.db"
