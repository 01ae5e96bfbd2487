"""Dashboard fixtures: a store of each backend, driven from a blocking portal, and app clients."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from starlette.testclient import TestClient

from kmsg import JobQueue, JobState
from kmsg.dashboard import DashboardAuth, create_app
from tests.backends import BACKENDS, Store
from tests.dashboard.payloads import SendSms

T = TypeVar("T")
TOKEN = "test-token-0123456789"
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Harness:
    """A store of one backend and a handle on it, used from sync tests through a portal."""

    portal: BlockingPortal
    store: Store
    queue: JobQueue

    def run(self, func: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run ``await func(*args, **kwargs)`` on the portal's event loop."""

        async def call() -> T:
            return await func(*args, **kwargs)

        return self.portal.call(call)

    def enqueue(self, queue: str, text: str = "hello", **options: Any) -> str:
        """Enqueue one SendSms job."""
        return self.run(
            self.queue.enqueue, SendSms(to="01012345678", text=text), queue=queue, **options
        )

    def complete_one(self, queue: str) -> str:
        """Claim one job and complete it; return its id."""
        claimed = self.run(self.queue.claim, queue)
        assert claimed, "expected a claimable job"
        self.run(self.queue.complete, claimed[0].lease)
        return claimed[0].job.id

    def kill_one(self, queue: str, error: str = "ProviderDown: no route") -> str:
        """Claim one job and dead-letter it; return its id."""
        claimed = self.run(self.queue.claim, queue)
        assert claimed, "expected a claimable job"
        state = self.run(self.queue.fail, claimed[0].lease, error, retryable=False)
        assert state is JobState.FAILED
        return claimed[0].job.id


@pytest.fixture(params=sorted(BACKENDS))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    """A fresh store of each backend in BACKENDS, with an open handle."""
    backend = BACKENDS[request.param]
    with (
        start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(backend.store(tmp_path)) as store,
    ):
        yield Harness(portal, store, portal.call(store.open))


def url_of(store: Store) -> str:
    """The store's URL with its adapter options as query parameters (what the dashboard opens)."""
    if not store.options:
        return store.url
    joiner = "&" if "?" in store.url else "?"
    return store.url + joiner + urlencode(store.options)


def auth() -> DashboardAuth:
    """Token and username/password credentials for tests."""
    return DashboardAuth(token=TOKEN, username="admin", password="admin-password-1")


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = CSRF_RE.search(html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


def login(client: TestClient) -> str:
    """Log ``client`` in with the token; return the session's CSRF token."""
    page = client.get("/login")
    response = client.post(
        "/login", data={"csrf": csrf_of(page.text), "token": TOKEN}, follow_redirects=False
    )
    assert response.status_code == 303
    return csrf_of(client.get("/").text)


@pytest.fixture
def make_client(harness: Harness) -> Iterator[Callable[..., TestClient]]:
    """Make started TestClients on the harness's store.

    ``make_client(read_only=False, dashboard_auth=None, address="testclient", **options)``:
    ``options`` go to ``create_app``; ``address`` is the client address the app sees. Requests
    go to ``http://localhost`` (a name on the default Host allow-list).
    """
    clients: list[TestClient] = []

    def make(
        *,
        read_only: bool = False,
        dashboard_auth: DashboardAuth | None = None,
        address: str = "testclient",
        **options: Any,
    ) -> TestClient:
        app = create_app(
            url_of(harness.store), auth=dashboard_auth or auth(), read_only=read_only, **options
        )
        client = TestClient(
            app, base_url="http://localhost", client=(address, 50000), follow_redirects=False
        )
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """A logged-in client (read-write)."""
    made = make_client()
    login(made)
    return made
