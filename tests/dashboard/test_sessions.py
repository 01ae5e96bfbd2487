"""Logout revokes the session; wrong credentials are throttled per client (429, Retry-After)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from anyio.from_thread import start_blocking_portal
from starlette.testclient import TestClient

from kmsg.dashboard import DashboardAuth
from kmsg.dashboard.auth import RevokedSessions
from kmsg.dashboard.middleware import COOKIE_NAME
from kmsg.dashboard.throttle import LoginThrottle, client_key
from tests.backends import BACKENDS
from tests.dashboard.conftest import TOKEN, Harness, csrf_of, login

MakeClient = Callable[..., TestClient]


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    """One SQLite store: nothing here depends on the backend."""
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(BACKENDS["sqlite"].store(tmp_path)) as store,
    ):
        yield Harness(portal, store, portal.call(store.open))


def _same_app(client: TestClient) -> TestClient:
    """Another browser on the same running dashboard."""
    return TestClient(client.app, base_url="http://localhost", follow_redirects=False)


def test_a_logged_out_cookie_no_longer_works(make_client: MakeClient) -> None:
    client = make_client()
    csrf = login(client)
    stolen = client.cookies[COOKIE_NAME]
    replay = _same_app(client)
    replay.cookies.set(COOKIE_NAME, stolen)
    assert replay.get("/").status_code == 200
    assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    assert replay.get("/").status_code == 303
    assert replay.get("/api/counts").status_code == 401
    assert replay.post("/queues/q/pause", data={"csrf": csrf}).status_code == 403


def test_logging_out_one_session_keeps_the_others(make_client: MakeClient) -> None:
    first = make_client()
    second = _same_app(first)
    csrf = login(first)
    login(second)
    first.post("/logout", data={"csrf": csrf})
    assert second.get("/").status_code == 200


def test_revocations_are_bounded_and_never_forgotten_early() -> None:
    clock = Clock()
    auth = DashboardAuth(token=TOKEN, session_seconds=60, revoked=RevokedSessions(3, clock))
    old = auth.new_session("ops", now=clock.now)
    auth.revoke(old)
    clock.now += 61  # old has expired: its entry may go
    live = [auth.new_session("ops", now=clock.now) for _ in range(4)]
    for session in live[:3]:
        auth.revoke(session)
    assert len(auth.revoked) == 3  # the expired entry made room
    auth.revoke(live[3])  # full of live entries: everything issued so far is cut off
    assert len(auth.revoked) == 0
    assert all(auth.load(auth.dump(s), now=clock.now) is None for s in live)
    clock.now += 1
    fresh = auth.new_session("ops", now=clock.now)
    assert auth.load(auth.dump(fresh), now=clock.now) == fresh


def _wrong_login(client: TestClient, token: str = "wrong-token-123") -> int:
    csrf = csrf_of(client.get("/login").text)
    return client.post("/login", data={"csrf": csrf, "token": token}).status_code


def test_wrong_logins_lock_the_client_out(make_client: MakeClient) -> None:
    clock = Clock()
    throttle = LoginThrottle(free_failures=3, base_delay=2.0, clock=clock)
    client = make_client(throttle=throttle, address="192.0.2.1")
    assert [_wrong_login(client) for _ in range(4)] == [401, 401, 401, 401]
    csrf = csrf_of(client.get("/login").text)
    locked = client.post("/login", data={"csrf": csrf, "token": TOKEN})
    assert locked.status_code == 429
    assert locked.headers["retry-after"] == "2"
    assert "try again in 2 s" in locked.text
    assert locked.headers["x-frame-options"] == "DENY"
    other = make_client(throttle=throttle, address="192.0.2.2")
    login(other)  # another client is not affected
    clock.now += 2
    assert _wrong_login(client) == 401
    assert _wrong_login(client) == 429  # the next lockout is twice as long
    clock.now += 4
    login(client)  # a success forgets the failures
    assert throttle.retry_after("192.0.2.1") == 0


def test_wrong_bearer_tokens_count_too(make_client: MakeClient) -> None:
    clock = Clock()
    client = make_client(throttle=LoginThrottle(free_failures=2, clock=clock))
    wrong = {"Authorization": "Bearer wrong-token-123"}
    assert [client.get("/api/counts", headers=wrong).status_code for _ in range(3)] == [401] * 3
    right = client.get("/api/counts", headers={"Authorization": f"Bearer {TOKEN}"})
    assert right.status_code == 429
    assert right.headers["retry-after"] == "1"
    clock.now += 1
    assert client.get("/api/counts", headers={"Authorization": f"Bearer {TOKEN}"}).is_success


def test_backoff_grows_to_a_cap_and_is_forgotten() -> None:
    clock = Clock()
    throttle = LoginThrottle(
        free_failures=1, base_delay=1, max_delay=8, forget_after=60, clock=clock
    )
    delays = [throttle.failed("198.51.100.1") for _ in range(7)]
    assert delays == [0, 1, 2, 4, 8, 8, 8]
    clock.now += 59
    assert throttle.retry_after("198.51.100.1") == 0
    assert throttle.failed("198.51.100.1") == 8  # still remembered
    clock.now += 60
    assert throttle.failed("198.51.100.1") == 0  # forgotten after a quiet minute


def test_throttle_memory_is_bounded() -> None:
    throttle = LoginThrottle(free_failures=0, capacity=100)
    for n in range(1000):
        throttle.failed(f"10.0.{n // 256}.{n % 256}")
    assert len(throttle) == 100
    assert throttle.retry_after("10.0.3.231") > 0  # the newest are kept
    assert throttle.retry_after("10.0.0.0") == 0


def test_an_ipv6_host_is_one_client_per_64() -> None:
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9")
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert client_key(None) == "?"
