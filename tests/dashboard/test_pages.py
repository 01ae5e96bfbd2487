"""The pages and their actions, through the JobQueue contract (Starlette TestClient)."""

from __future__ import annotations

import html
import re
import urllib.parse

import markupsafe
import msgspec
import pytest
from starlette.testclient import TestClient

from kmsg import JobState
from tests.dashboard.conftest import Harness, csrf_of
from tests.dashboard.payloads import Ping, SendSms


def _count(page: str, queue: str, state: str) -> int:
    found = re.search(rf'data-count="{queue}:{state}"[^>]*>(\d+)<', page)
    assert found is not None, f"no count for {queue}:{state}"
    return int(found.group(1))


def _ids(page: str) -> list[str]:
    return re.findall(r'href="/queues/[^/]+/jobs/([0-9A-Z]+)"', page)


def test_overview_lists_queues_with_counts(client: TestClient, harness: Harness) -> None:
    for _ in range(3):
        harness.enqueue("sms")
    harness.enqueue("mail")
    harness.complete_one("sms")
    page = client.get("/").text
    assert _count(page, "sms", "pending") == 2
    assert _count(page, "sms", "completed") == 1
    assert _count(page, "mail", "pending") == 1


def test_counts_endpoint_follows_the_queue(client: TestClient, harness: Harness) -> None:
    harness.enqueue("sms")
    harness.enqueue("sms")
    before = {q["queue"]: q for q in client.get("/api/counts").json()["queues"]}
    assert (before["sms"]["pending"], before["sms"]["completed"]) == (2, 0)
    harness.complete_one("sms")
    harness.kill_one("sms")
    after = {q["queue"]: q for q in client.get("/api/counts").json()["queues"]}["sms"]
    assert (after["pending"], after["completed"], after["failed"]) == (0, 1, 1)
    assert after["total"] == 2


def test_job_list_pages_through_a_state(client: TestClient, harness: Harness) -> None:
    enqueued = {harness.enqueue("sms", f"m{i}") for i in range(60)}
    first = client.get("/queues/sms/jobs?state=pending").text
    first_ids = _ids(first)
    assert len(first_ids) == 50
    cursor = html.unescape(re.findall(r'href="\?([^"]*cursor=[^"]*)"', first)[0])
    second_ids = _ids(client.get(f"/queues/sms/jobs?{cursor}").text)
    assert len(second_ids) == 10
    assert set(first_ids) | set(second_ids) == enqueued


def test_job_list_shows_only_the_chosen_state(client: TestClient, harness: Harness) -> None:
    first = harness.enqueue("sms")
    second = harness.enqueue("sms")
    assert harness.complete_one("sms") == first
    assert _ids(client.get("/queues/sms/jobs?state=completed").text) == [first]
    assert _ids(client.get("/queues/sms/jobs?state=pending").text) == [second]
    assert client.get("/queues/sms/jobs?state=bogus").status_code == 400


def test_search_by_id_task_and_error(client: TestClient, harness: Harness) -> None:
    sms = harness.enqueue("q")
    ping = harness.run(harness.queue.enqueue, Ping(n=1), queue="q")
    assert _ids(client.get(f"/queues/q/jobs?state=pending&q={ping}").text) == [ping]
    assert _ids(client.get("/queues/q/jobs?state=pending&q=ping").text) == [ping]
    assert _ids(client.get("/queues/q/jobs?state=pending&q=sendsms").text) == [sms]
    harness.run(harness.queue.claim, "q", limit=2)
    for claimed in harness.run(harness.queue.list_jobs, "q", JobState.PROCESSING).jobs:
        assert claimed.id in (sms, ping)
    dead = harness.enqueue("d")
    harness.kill_one("d", "QuotaExceeded: daily cap")
    harness.enqueue("d")
    harness.kill_one("d", "ProviderDown: no route")
    assert _ids(client.get("/queues/d/dead?q=daily+cap").text) == [dead]


def test_job_detail_shows_payload_attempts_and_errors(client: TestClient, harness: Harness) -> None:
    job_id = harness.enqueue("sms", "Hello there")
    harness.kill_one("sms", "ProviderDown: upstream said no")
    page = client.get(f"/queues/sms/jobs/{job_id}").text
    pretty = msgspec.json.format(
        msgspec.json.encode(SendSms("01012345678", "Hello there")), indent=2
    )
    shown = re.search(r'<pre id="payload">(.*?)</pre>', page, re.S)
    assert shown is not None
    assert html.unescape(shown.group(1)) == pretty.decode()
    assert "1 of 3" in page
    assert "upstream said no" in page
    assert 'id="job-state">failed<' in page


def test_unknown_job_and_bad_queue_name(client: TestClient, harness: Harness) -> None:
    harness.enqueue("sms")
    assert client.get("/queues/sms/jobs/01ARZ3NDEKTSV4RRFFQ69G5FAV").status_code == 404
    assert client.get("/queues/bad%20name/jobs").status_code == 400


def test_retry_one_dead_letter_from_its_page(client: TestClient, harness: Harness) -> None:
    harness.enqueue("sms")
    job_id = harness.kill_one("sms")
    csrf = csrf_of(client.get(f"/queues/sms/jobs/{job_id}").text)
    form = {"csrf": csrf, "action": "retry", "scope": "selected", "id": job_id}
    response = client.post("/queues/sms/dead", data={**form, "back": f"/queues/sms/jobs/{job_id}"})
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"/queues/sms/jobs/{job_id}?msg=Retried+1")
    job = harness.run(harness.queue.get, "sms", job_id)
    assert (job.state, job.attempts, len(job.errors)) == (JobState.PENDING, 0, 1)


def test_retry_and_purge_selected(client: TestClient, harness: Harness) -> None:
    ids = []
    for _ in range(3):
        harness.enqueue("sms")
        ids.append(harness.kill_one("sms"))
    csrf = csrf_of(client.get("/queues/sms/dead").text)
    base = {"csrf": csrf, "scope": "selected"}
    client.post("/queues/sms/dead", data={**base, "action": "retry", "id": ids[:2]})
    client.post("/queues/sms/dead", data={**base, "action": "purge", "id": [ids[2]]})
    stats = harness.run(harness.queue.stats, "sms")
    assert (stats.pending, stats.failed, stats.total) == (2, 0, 2)


def test_retry_all_matching_a_filter_then_purge_all(client: TestClient, harness: Harness) -> None:
    for error in ("QuotaExceeded: a", "QuotaExceeded: b", "ProviderDown: c"):
        harness.enqueue("sms")
        harness.kill_one("sms", error)
    csrf = csrf_of(client.get("/queues/sms/dead").text)
    base = {"csrf": csrf, "scope": "matching", "confirm": "yes"}
    response = client.post("/queues/sms/dead", data={**base, "action": "retry", "q": "quota"})
    assert "Retried+2" in response.headers["location"]
    assert harness.run(harness.queue.stats, "sms").failed == 1
    client.post("/queues/sms/dead", data={**base, "action": "purge", "q": ""})
    stats = harness.run(harness.queue.stats, "sms")
    assert (stats.failed, stats.pending) == (0, 2)


def test_retry_says_what_it_skipped(client: TestClient, harness: Harness) -> None:
    harness.enqueue("sms")
    dead = harness.kill_one("sms")
    pending = harness.enqueue("sms")
    csrf = csrf_of(client.get("/queues/sms/dead").text)
    form = {"csrf": csrf, "action": "retry", "scope": "selected", "id": [dead, pending]}
    response = client.post("/queues/sms/dead", data=form)
    location = urllib.parse.unquote_plus(response.headers["location"])
    assert "Retried 1 dead letter. Skipped 1: " in location
    assert f"{pending}: not a dead letter." in location


def test_bad_dead_letter_action_is_refused(client: TestClient, harness: Harness) -> None:
    harness.enqueue("sms")
    harness.kill_one("sms")
    csrf = csrf_of(client.get("/queues/sms/dead").text)
    data = {"csrf": csrf, "action": "delete-everything", "scope": "matching"}
    assert client.post("/queues/sms/dead", data=data).status_code == 400
    assert harness.run(harness.queue.stats, "sms").failed == 1


def test_pause_resume_and_rate_limit(client: TestClient, harness: Harness) -> None:
    harness.enqueue("sms")
    csrf = csrf_of(client.get("/").text)
    client.post("/queues/sms/pause", data={"csrf": csrf})
    assert harness.run(harness.queue.stats, "sms").paused
    assert "Resume" in client.get("/").text
    client.post("/queues/sms/resume", data={"csrf": csrf})
    assert not harness.run(harness.queue.stats, "sms").paused
    client.post("/queues/sms/rate-limit", data={"csrf": csrf, "max_jobs": "5", "per_seconds": "2"})
    limit = harness.run(harness.queue.stats, "sms").rate_limit
    assert limit is not None
    assert (limit.max_jobs, limit.per_seconds) == (5, 2.0)
    client.post("/queues/sms/rate-limit", data={"csrf": csrf, "max_jobs": ""})
    assert harness.run(harness.queue.stats, "sms").rate_limit is None
    bad = client.post("/queues/sms/rate-limit", data={"csrf": csrf, "max_jobs": "lots"})
    assert bad.status_code == 400


def test_untrusted_text_is_escaped(client: TestClient, harness: Harness) -> None:
    evil = "<script>alert(1)</script>"
    job_id = harness.enqueue("sms", evil)
    harness.kill_one("sms", f"Boom: <img src=x onerror=alert(2)> {evil}")
    pages = client.get(f"/queues/sms/jobs/{job_id}").text + client.get("/queues/sms/dead").text
    assert "<script>alert" not in pages
    assert "<img src=x" not in pages
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages


HOSTILE = "\"'><script>alert(1)</script><img src=x onerror=alert(2)>&amp;"


def test_hostile_text_is_escaped_wherever_it_is_shown(client: TestClient, harness: Harness) -> None:
    """Stored text (payload, error, dedupe key, result) and reflected text (search, flash
    message, login target, confirmation) in element and attribute context."""
    dead = harness.enqueue("sms", HOSTILE, dedupe_key=HOSTILE)
    harness.kill_one("sms", f"Boom: {HOSTILE}")
    harness.enqueue("sms", HOSTILE)
    claimed = harness.run(harness.queue.claim, "sms")[0]
    harness.run(harness.queue.complete, claimed.lease, result=HOSTILE.encode())
    query = urllib.parse.urlencode({"q": HOSTILE, "msg": HOSTILE})
    pages = {
        "job": client.get(f"/queues/sms/jobs/{dead}").text,
        "done": client.get(f"/queues/sms/jobs/{claimed.job.id}").text,
        "dead": client.get(f"/queues/sms/dead?{query}").text,
        "jobs": client.get(f"/queues/sms/jobs?state=completed&{query}").text,
        "confirm": client.get(f"/queues/sms/dead/confirm?action=purge&{query}").text,
        "error": client.get(f"/queues/sms/jobs?state={urllib.parse.quote(HOSTILE)}").text,
    }
    login_page = TestClient(client.app, base_url="http://localhost").get(
        f"/login?{urllib.parse.urlencode({'next': '/' + HOSTILE})}"
    )
    pages["login"] = login_page.text
    shown = str(markupsafe.escape(HOSTILE))
    for name, page in pages.items():
        assert "<script>" not in page, name
        assert "<img" not in page, name
        if name != "error":  # the error page shows the repr (the quotes differ)
            assert shown in page, name


def test_retry_all_asks_first_and_says_how_many(client: TestClient, harness: Harness) -> None:
    for error in ("QuotaExceeded: a", "QuotaExceeded: b", "ProviderDown: c"):
        harness.enqueue("sms")
        harness.kill_one("sms", error)
    csrf = csrf_of(client.get("/queues/sms/dead").text)
    skipped = client.post(
        "/queues/sms/dead", data={"csrf": csrf, "scope": "matching", "action": "retry"}
    )
    assert skipped.status_code == 303
    assert skipped.headers["location"] == "/queues/sms/dead/confirm?action=retry"
    assert harness.run(harness.queue.stats, "sms").failed == 3
    page = client.get(skipped.headers["location"]).text
    assert "Retry 3 dead letters of queue sms?" in page
    filtered = client.get("/queues/sms/dead/confirm?action=purge&q=quota").text
    assert "Purge 2 dead letters of queue sms matching “quota”?" in filtered
    form = dict(re.findall(r'name="(csrf|q|scope|confirm)" value="([^"]*)"', filtered))
    assert form == {"csrf": csrf, "q": "quota", "scope": "matching", "confirm": "yes"}
    done = client.post("/queues/sms/dead", data={**form, "action": "purge"})
    assert "Purged+2+dead+letters" in done.headers["location"]
    assert harness.run(harness.queue.stats, "sms").failed == 1


def test_the_dead_letter_page_links_to_the_confirmation(
    client: TestClient, harness: Harness
) -> None:
    harness.enqueue("sms")
    harness.kill_one("sms")
    page = client.get("/queues/sms/dead").text
    assert '<form method="get" action="/queues/sms/dead/confirm"' in page
    assert (
        "No dead letters of queue sms match"
        in client.get("/queues/sms/dead/confirm?action=retry&q=nothing-like-this").text
    )
    assert client.get("/queues/sms/dead/confirm?action=explode").status_code == 400


@pytest.mark.parametrize("name", [".", "..", "...", "a:b", "-_.:"])
def test_any_valid_queue_name_can_be_opened(
    client: TestClient, harness: Harness, name: str
) -> None:
    harness.enqueue(name)
    job_id = harness.kill_one(name)
    links = set(re.findall(r'href="(/queues/[^"]+)"', client.get("/").text))
    assert len(links) == 7  # the queue and its six state counts
    for link in links:
        page = client.get(html.unescape(link))
        assert page.status_code == 200, link
        assert f"/ {name} " in page.text or f"/ {name}<" in page.text, link
    dead = client.get(html.unescape(next(link for link in links if link.endswith("/dead"))))
    job_link = re.findall(r'href="(/queues/[^"]+/jobs/[^"]+)"', dead.text)
    assert len(job_link) == 1
    detail = client.get(job_link[0])
    assert f'<span class="mono">{job_id}</span>' in detail.text
    action = re.findall(r'<form method="post" action="([^"]+/dead)"', detail.text)[0]
    back = re.findall(r'name="back" value="([^"]+)"', detail.text)[0]
    form = {"csrf": csrf_of(detail.text), "scope": "selected", "id": job_id, "back": back}
    retried = client.post(action, data={**form, "action": "retry"})
    assert retried.headers["location"].startswith(f"{job_link[0]}?msg=Retried+1")
    assert harness.run(harness.queue.get, name, job_id).state is JobState.PENDING


def test_a_jobs_progress_is_shown_escaped(client: TestClient, harness: Harness) -> None:
    job_id = harness.enqueue("sms")
    [claimed] = harness.run(harness.queue.claim, "sms")
    note = b'{"sent": 40, "note": "<script>x</script>"}'
    harness.run(harness.queue.extend, claimed.lease, 30.0, progress=note)
    page = client.get(f"/queues/sms/jobs/{job_id}").text
    assert '<pre id="progress">' in page
    assert "&#34;sent&#34;: 40" in page or "&quot;sent&quot;: 40" in page
    assert "<script>x" not in page
