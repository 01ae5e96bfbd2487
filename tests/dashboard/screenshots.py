"""Re-make the dashboard screenshots in docs/: ``.venv/bin/python -m tests.dashboard.screenshots``.

Fills a throwaway SQLite store with demo jobs, serves the dashboard on a free loopback port and
photographs the main pages with Debian's Chromium (``apt-get install -y chromium``).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import anyio
from playwright.sync_api import Page, sync_playwright

from kmsg import JobQueue, open_queue
from tests.dashboard.conftest import TOKEN, auth
from tests.dashboard.live import CHROMIUM, CHROMIUM_ARGS, live_dashboard
from tests.dashboard.payloads import SendSms

DOCS = Path(__file__).resolve().parents[2] / "docs"


class ProviderError(Exception):
    """Demo error: the provider failed."""


class NetworkTimeout(Exception):
    """Demo error: the provider did not answer."""


class InvalidRequest(Exception):
    """Demo error: the provider refused the message."""


ERRORS = (
    ProviderError("carrier gateway answered 503 Service Unavailable"),
    NetworkTimeout("no answer from api.provider.example within 10 s"),
)


async def _fail_through(queue: JobQueue, name: str, final: Exception) -> None:
    """Run one job into the dead letters after a few failed attempts."""
    for error in (*ERRORS, final):
        claimed = []
        for _ in range(200):
            claimed = await queue.claim(name)
            if claimed:
                break
            await anyio.sleep(0.02)
        last = error is final
        await queue.fail(claimed[0].lease, error, retry_in=0.05, retryable=not last)


async def _populate(url: str) -> None:
    async with open_queue(url) as queue:
        for i in range(40):
            text = f"[K-Shop] Your order #{1000 + i} has shipped."
            await queue.enqueue(SendSms(to=f"0101234{i:04d}", text=text), queue="sms")
        for _ in range(25):
            claimed = await queue.claim("sms")
            await queue.complete(claimed[0].lease)
        await queue.claim("sms", limit=2)
        for number in ("0100000", "010-12", "02-555-0000"):
            final = InvalidRequest(f"{number} is not a mobile number")
            await queue.enqueue(SendSms(to=number, text="Your code is 123456"), queue="otp")
            await _fail_through(queue, "otp", final)
        for i in range(6):
            await queue.enqueue(SendSms(to="01099990000", text=f"notice {i}"), queue="alimtalk")
        await queue.enqueue(SendSms(to="01011112222", text="later"), queue="sms", delay=3600)
        await queue.pause("alimtalk")
        await queue.set_rate_limit("sms", 50, 1.0)


def _log_in(page: Page, base: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")


def _shoot(page: Page, name: str) -> None:
    path = DOCS / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"wrote {path}")


def main() -> None:
    """Populate a store, serve it, and write the four screenshots."""
    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'demo.db'}"
        anyio.run(_populate, url)
        with (
            live_dashboard(url, auth()) as base,
            sync_playwright() as driver,
        ):
            browser = driver.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            _log_in(page, base)
            time.sleep(1.2)  # a second reading of the counts gives a throughput figure
            page.goto(base + "/")
            _shoot(page, "queues")
            page.goto(base + "/queues/sms/jobs?state=pending")
            _shoot(page, "jobs")
            page.goto(base + "/queues/otp/dead")
            _shoot(page, "dead")
            page.click("td.mono a")
            _shoot(page, "job")
            browser.close()


if __name__ == "__main__":
    main()
