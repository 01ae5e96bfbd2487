"""Authentication, CSRF, read-only mode and security headers (Starlette TestClient)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.testclient import TestClient

from kmsg import ValidationError
from kmsg.dashboard import DashboardAuth, create_app
from kmsg.dashboard.middleware import COOKIE_NAME, SECURITY_HEADERS
from kmsg.dashboard.server import resolve_auth
from tests.dashboard.conftest import TOKEN, Harness, csrf_of, login, url_of

MakeClient = Callable[..., TestClient]


@pytest.mark.parametrize("path", ["/", "/queues/q/jobs", "/queues/q/dead", "/queues/q/jobs/X"])
def test_pages_redirect_to_login_without_a_session(make_client: MakeClient, path: str) -> None:
    response = make_client().get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("path", ["/api/counts", "/metrics"])
def test_api_answers_401_without_a_session(make_client: MakeClient, path: str) -> None:
    response = make_client().get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_bearer_token_opens_get_endpoints_only(make_client: MakeClient, harness: Harness) -> None:
    client = make_client()
    harness.enqueue("q")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/api/counts", headers=headers).status_code == 200
    assert client.get("/metrics", headers=headers).status_code == 200
    assert client.get("/api/counts", headers={"Authorization": "Bearer wrong"}).status_code == 401
    refused = client.post("/queues/q/pause", headers=headers)
    assert refused.status_code == 403
    assert harness.run(harness.queue.stats, "q").paused is False


def test_login_with_token_sets_a_strict_http_only_cookie(make_client: MakeClient) -> None:
    client = make_client()
    csrf = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"csrf": csrf, "token": TOKEN, "next": "/queues/q/jobs"})
    assert response.status_code == 303
    assert response.headers["location"] == "/queues/q/jobs"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert client.get("/").status_code == 200


def test_login_with_username_and_password(make_client: MakeClient) -> None:
    client = make_client()
    csrf = csrf_of(client.get("/login").text)
    data = {"csrf": csrf, "username": "admin", "password": "admin-password-1"}
    assert client.post("/login", data=data).status_code == 303
    assert "admin" in client.get("/").text


@pytest.mark.parametrize(
    "fields",
    [{"token": "wrong-token-123"}, {"username": "admin", "password": "nope-nope-nope"}, {}],
)
def test_wrong_credentials_are_refused(make_client: MakeClient, fields: dict[str, str]) -> None:
    client = make_client()
    csrf = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"csrf": csrf, **fields})
    assert response.status_code == 401
    assert "Wrong credentials" in response.text
    assert client.get("/").status_code == 303


def test_login_without_csrf_token_is_refused(make_client: MakeClient) -> None:
    client = make_client()
    client.get("/login")
    assert client.post("/login", data={"token": TOKEN}).status_code == 403
    assert client.get("/").status_code == 303


def test_login_redirect_stays_on_site(make_client: MakeClient) -> None:
    client = make_client()
    csrf = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"csrf": csrf, "token": TOKEN, "next": "//evil.test/"})
    assert response.headers["location"] == "/"


def test_login_starts_a_new_session(make_client: MakeClient) -> None:
    client = make_client()
    before = csrf_of(client.get("/login").text)
    after = login(client)
    assert before != after


@pytest.mark.parametrize("csrf", [None, "", "forged-token"])
def test_change_without_the_right_csrf_token_is_refused(
    client: TestClient, harness: Harness, csrf: str | None
) -> None:
    harness.enqueue("q")
    data = {} if csrf is None else {"csrf": csrf}
    assert client.post("/queues/q/pause", data=data).status_code == 403
    assert harness.run(harness.queue.stats, "q").paused is False


def test_change_with_csrf_token_in_form_or_header(client: TestClient, harness: Harness) -> None:
    harness.enqueue("q")
    csrf = csrf_of(client.get("/").text)
    assert client.post("/queues/q/pause", data={"csrf": csrf}).status_code == 303
    assert harness.run(harness.queue.stats, "q").paused is True
    assert client.post("/queues/q/resume", headers={"X-CSRF-Token": csrf}).status_code == 303
    assert harness.run(harness.queue.stats, "q").paused is False


def test_another_sessions_csrf_token_is_refused(make_client: MakeClient, harness: Harness) -> None:
    harness.enqueue("q")
    first, second = make_client(), make_client()
    login(first)
    other_csrf = login(second)
    assert first.post("/queues/q/pause", data={"csrf": other_csrf}).status_code == 403


def test_tampered_session_cookie_is_ignored(make_client: MakeClient) -> None:
    client = make_client()
    login(client)
    value = client.cookies[COOKIE_NAME]
    client.cookies.clear()
    client.cookies.set(COOKIE_NAME, ("A" if value[0] != "A" else "B") + value[1:])
    assert client.get("/").status_code == 303


def test_logout_ends_the_session(client: TestClient) -> None:
    csrf = csrf_of(client.get("/").text)
    assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    assert client.get("/").status_code == 303


@pytest.mark.parametrize("path", ["/", "/login", "/static/app.css", "/api/counts"])
def test_security_headers_on_every_response(make_client: MakeClient, path: str) -> None:
    response = make_client().get(path)
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"


def test_read_only_mode_has_no_change_endpoints(make_client: MakeClient, harness: Harness) -> None:
    harness.enqueue("q")
    job_id = harness.kill_one("q")
    client = make_client(read_only=True)
    csrf = login(client)
    for path in ("/queues/q/pause", "/queues/q/rate-limit", "/queues/q/dead"):
        assert client.post(path, data={"csrf": csrf, "action": "retry"}).status_code in (404, 405)
    assert harness.run(harness.queue.stats, "q").failed == 1
    pages = client.get("/").text + client.get("/queues/q/dead").text
    pages += client.get(f"/queues/q/jobs/{job_id}").text
    assert "Pause" not in pages
    assert "Retry" not in pages
    assert "Purge" not in pages
    assert "read-only" in pages


def test_create_app_refuses_to_run_without_credentials(harness: Harness) -> None:
    with pytest.raises(ValidationError, match="credentials"):
        create_app(url_of(harness.store), auth=DashboardAuth())


def test_serve_refuses_no_credentials_unless_insecure_local() -> None:
    empty = DashboardAuth()
    with pytest.raises(ValidationError, match="refusing"):
        resolve_auth(empty, "127.0.0.1", insecure_local=False)
    with pytest.raises(ValidationError, match="insecure-local"):
        resolve_auth(empty, "0.0.0.0", insecure_local=True)
    assert resolve_auth(empty, "127.0.0.1", insecure_local=True).anonymous
    configured = DashboardAuth(token=TOKEN)
    assert resolve_auth(configured, "0.0.0.0", insecure_local=False) is configured


def test_insecure_local_lets_in_but_still_checks_csrf(
    make_client: MakeClient, harness: Harness
) -> None:
    harness.enqueue("q")
    client = make_client(dashboard_auth=DashboardAuth(anonymous=True))
    page = client.get("/")
    assert page.status_code == 200
    assert client.post("/queues/q/pause").status_code == 403
    assert client.post("/queues/q/pause", data={"csrf": csrf_of(page.text)}).status_code == 303
    assert harness.run(harness.queue.stats, "q").paused is True


def test_security_headers_on_a_500(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(url_of(harness.store), auth=DashboardAuth(anonymous=True))
    with TestClient(app, base_url="http://localhost", raise_server_exceptions=False) as client:

        async def broken() -> list[str]:
            raise RuntimeError("the backend fell over")

        monkeypatch.setattr(app.state.dashboard.queue, "queues", broken)
        response = client.get("/")
    assert response.status_code == 500
    assert "fell over" not in response.text
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
