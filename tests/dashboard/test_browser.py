"""The dashboard in a real browser (Playwright driving Debian's Chromium) against a live server.

The test drives the queue through the JobQueue API while the page is open, as a worker would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest

from kmsg import JobQueue, JobState
from tests.backends import BACKENDS, Store
from tests.dashboard.conftest import TOKEN, auth, csrf_of, url_of
from tests.dashboard.live import CHROMIUM, CHROMIUM_ARGS, live_dashboard
from tests.dashboard.payloads import SendSms

pytest.importorskip("playwright.async_api", reason="playwright is not installed")
from playwright.async_api import Browser, Page, async_playwright, expect

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's Chromium: apt-get install -y chromium (/usr/bin/chromium)",
    ),
]
WAIT_MS = 15_000
# A real SQLite store, and the single Redis server when that entry exists (the cluster is left
# to the TestClient suites: the browser adds nothing backend-specific).
BROWSER_BACKENDS = [name for name in ("sqlite", "redis") if name in BACKENDS]


@pytest.fixture
def anyio_backend() -> str:
    """Playwright's async API runs on asyncio only."""
    return "asyncio"


@pytest.fixture(params=BROWSER_BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A fresh store of each backend."""
    async with BACKENDS[request.param].store(tmp_path) as made:
        yield made


@pytest.fixture
async def queue(store: Store) -> JobQueue:
    """A handle on the store, used as the workers would."""
    return await store.open()


Server = Callable[..., AbstractContextManager[str]]


@pytest.fixture
def server(store: Store) -> Server:
    """Start a live dashboard on the store: ``with server(read_only=...) as base_url``."""

    def start(*, read_only: bool = False) -> AbstractContextManager[str]:
        return live_dashboard(url_of(store), auth(), read_only=read_only)

    return start


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium."""
    async with async_playwright() as driver:
        launched = await driver.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


async def _logged_in(
    browser: Browser, base: str, path: str = "/", *, javascript: bool = True
) -> Page:
    context = await browser.new_context(java_script_enabled=javascript)
    page = await context.new_page()
    page.set_default_timeout(WAIT_MS)
    await page.goto(base + path)
    await expect(page).to_have_url(f"{base}/login?next={path}")
    await page.fill("input[name=token]", TOKEN)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(base + path)
    return page


async def _enqueue(queue: JobQueue, name: str, text: str = "hi") -> str:
    return await queue.enqueue(SendSms(to="01012345678", text=text), queue=name)


async def _kill(queue: JobQueue, name: str, error: str) -> str:
    claimed = (await queue.claim(name))[0]
    assert await queue.fail(claimed.lease, error, retryable=False) is JobState.FAILED
    return claimed.job.id


async def _complete(queue: JobQueue, name: str) -> None:
    claimed = (await queue.claim(name))[0]
    await queue.complete(claimed.lease)


async def test_no_session_goes_to_login(browser: Browser, server: Server) -> None:
    with server() as base:
        page = await browser.new_page()
        await page.goto(base + "/queues/sms/dead")
        await expect(page).to_have_url(f"{base}/login?next=/queues/sms/dead")
        await expect(page.locator("h1")).to_have_text("Log in")


async def test_counts_move_without_a_reload(
    browser: Browser, server: Server, queue: JobQueue
) -> None:
    for _ in range(3):
        await _enqueue(queue, "sms")
    with server() as base:
        page = await _logged_in(browser, base)
        completed = page.locator('[data-count="sms:completed"]').first
        await expect(page.locator('[data-count="sms:pending"]').first).to_have_text("3")
        await page.evaluate("window.__sameDocument = true")
        await _complete(queue, "sms")
        await _complete(queue, "sms")
        await expect(completed).to_have_text("2")
        await expect(page.locator('[data-count="sms:pending"]').first).to_have_text("1")
        assert await page.evaluate("window.__sameDocument === true")


async def test_retry_a_dead_job_and_see_it_complete(
    browser: Browser, server: Server, queue: JobQueue
) -> None:
    await _enqueue(queue, "sms", "please retry me")
    job_id = await _kill(queue, "sms", "ProviderDown: no route to carrier")
    with server() as base:
        page = await _logged_in(browser, base, "/queues/sms/dead")
        await page.click(f"text={job_id}")
        await expect(page.locator("#job-state")).to_have_text("failed")
        await expect(page.get_by_text("no route to carrier")).to_be_visible()
        await page.click("button:has-text('Retry')")
        await expect(page.locator(".flash")).to_have_text("Retried 1 dead letter.")
        await expect(page.locator("#job-state")).to_have_text("pending")
        await _complete(queue, "sms")
        await page.reload()
        await expect(page.locator("#job-state")).to_have_text("completed")


async def test_select_and_purge_in_the_dead_letter_list(
    browser: Browser, server: Server, queue: JobQueue
) -> None:
    for n in range(2):
        await _enqueue(queue, "sms")
        await _kill(queue, "sms", f"Boom: {n}")
    with server() as base:
        page = await _logged_in(browser, base, "/queues/sms/dead")
        page.on("dialog", lambda dialog: dialog.accept())
        await page.check("[data-select-all]")
        await page.click("button:has-text('Purge selected')")
        await expect(page.locator(".flash")).to_have_text("Purged 2 dead letters.")
    assert (await queue.stats("sms")).failed == 0


async def test_script_in_a_payload_is_shown_as_text(
    browser: Browser, server: Server, queue: JobQueue
) -> None:
    evil = "<script>window.__xss = 1</script><img src=x onerror='window.__xss = 2'>"
    job_id = await _enqueue(queue, "sms", evil)
    await _kill(queue, "sms", f"Bad: {evil}")
    with server() as base:
        page = await _logged_in(browser, base, f"/queues/sms/jobs/{job_id}")
        await expect(page.locator("#payload")).to_contain_text("<script>window.__xss = 1</script>")
        await page.goto(base + "/queues/sms/dead")
        await expect(page.locator("td.err").first).to_contain_text("<img src=x")
        assert await page.evaluate("typeof window.__xss") == "undefined"


async def test_read_only_hides_changes(browser: Browser, server: Server, queue: JobQueue) -> None:
    await _enqueue(queue, "sms")
    job_id = await _kill(queue, "sms", "Boom: x")
    with server(read_only=True) as base:
        page = await _logged_in(browser, base, f"/queues/sms/jobs/{job_id}")
        await expect(page.locator(".badge", has_text="read-only")).to_be_visible()
        await expect(page.locator("button:has-text('Retry')")).to_have_count(0)
        await page.goto(base + "/")
        await expect(page.locator("button:has-text('Pause')")).to_have_count(0)
        cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
        async with httpx.AsyncClient(base_url=base, cookies=cookies) as client:
            csrf = csrf_of((await client.get("/")).text)
            data = {"csrf": csrf, "action": "retry", "scope": "selected", "id": job_id}
            assert (await client.post("/queues/sms/dead", data=data)).status_code == 405
    assert (await queue.get("sms", job_id)).state is JobState.FAILED


async def test_post_without_csrf_from_a_logged_in_session_is_refused(
    browser: Browser, server: Server, queue: JobQueue
) -> None:
    await _enqueue(queue, "sms")
    with server() as base:
        page = await _logged_in(browser, base)
        cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
        async with httpx.AsyncClient(base_url=base, cookies=cookies) as client:
            assert (await client.get("/")).status_code == 200
            assert (await client.post("/queues/sms/pause")).status_code == 403
            assert (await client.post("/queues/sms/pause", data={"csrf": "x"})).status_code == 403
    assert not (await queue.stats("sms")).paused


async def test_retry_all_is_confirmed_with_the_count_without_javascript(
    browser: Browser, server: Server, queue: JobQueue
) -> None:
    for n in range(2):
        await _enqueue(queue, "sms")
        await _kill(queue, "sms", f"Boom: {n}")
    with server() as base:
        page = await _logged_in(browser, base, "/queues/sms/dead", javascript=False)
        await page.click("button:has-text('Retry all')")
        await expect(page.locator("#question")).to_have_text("Retry 2 dead letters of queue sms?")
        assert (await queue.stats("sms")).failed == 2
        await page.click("button:has-text('Retry 2 dead letters')")
        await expect(page.locator(".flash")).to_have_text("Retried 2 dead letters.")
    assert (await queue.stats("sms")).pending == 2


@pytest.mark.parametrize("name", [".", ".."])
async def test_queues_named_with_dots_open(
    browser: Browser, server: Server, queue: JobQueue, name: str
) -> None:
    await _enqueue(queue, name)
    job_id = await _kill(queue, name, "Boom: dots")
    with server() as base:
        page = await _logged_in(browser, base)
        await page.get_by_role("link", name=name, exact=True).click()
        await expect(page.locator("h1")).to_have_text(f"Queues / {name}")
        await page.click("a.dead")
        await page.click(f"text={job_id}")
        await expect(page.locator("#job-state")).to_have_text("failed")
