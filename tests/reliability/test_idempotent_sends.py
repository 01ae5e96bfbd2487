"""A worker killed after the gateway accepted a send and before the job's acknowledgement.

Worker processes send ``send_message`` jobs through ``HttpProvider`` to a fake gateway served
here. The first worker SIGKILLs itself right after the gateway accepted its third send (the job
is neither completed nor failed), so that job runs again on a second worker after its lease ends,
and sends again with the same idempotency key (``kmsg:<queue>:<job id>``, the
``Idempotency-Key`` header). With a gateway that honours the key: every recipient gets exactly
one message. With one that ignores it: the repeated sends are delivered twice, and each such
duplicate is explained: its job was held by the killed process, which never acknowledged it.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
import pytest

from kmsg import NewJob
from kmsg.messaging import SendMessageJob, Sms
from kmsg.messaging.processor import send_key
from tests.backends import Store
from tests.reliability.processes import Fleet
from tests.reliability.results import Results
from tests.reliability.scenario import open_scenario
from tests.reliability.support import FAST_BACKOFF, drain

pytestmark = [pytest.mark.anyio, pytest.mark.reliability]

JOBS = 20
LEASE = 1.0


class Gateway:
    """A fake SMS gateway: records every delivery, and (if told) honours idempotency keys."""

    def __init__(self, honours_keys: bool) -> None:
        self.honours_keys = honours_keys
        self.deliveries: list[tuple[str, str]] = []
        """(idempotency key, recipient) of every message delivered."""
        self.suppressed = 0
        self._accepted: dict[str, str] = {}
        self._lock = threading.Lock()

    def accept(self, key: str, recipient: str) -> str:
        """Deliver (or, for a key seen before, answer as before); return the message id."""
        with self._lock:
            if self.honours_keys and key in self._accepted:
                self.suppressed += 1
                return self._accepted[key]
            self.deliveries.append((key, recipient))
            message_id = f"gw-{len(self.deliveries)}"
            self._accepted.setdefault(key, message_id)
            return message_id


@contextmanager
def serve(gateway: Gateway) -> Iterator[str]:
    """Serve ``gateway`` on a free loopback port; yield its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            message_id = gateway.accept(self.headers.get("Idempotency-Key", ""), body["to"])
            reply = json.dumps({"message_id": message_id}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/send"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("honours_keys", [True, False], ids=["idempotent", "plain"])
async def test_a_send_accepted_before_a_crash_is_delivered_once_by_an_idempotent_gateway(
    store: Store,
    ledger_dir: Path,
    fleet_factory: list[Fleet],
    results: Results,
    honours_keys: bool,
) -> None:
    gateway = Gateway(honours_keys)
    with serve(gateway) as url:
        args = ["--lease", str(LEASE), "--concurrency", "2", "--gateway", url]
        s = await open_scenario(store, ledger_dir, fleet_factory, *args, prefix="idem")
        jobs = [
            NewJob(
                payload=SendMessageJob(message=Sms(to=f"010{n:08d}", text=f"hello {n}")),
                queue=s.qname,
                max_attempts=10,
                lease=LEASE,
                backoff=FAST_BACKOFF,
            )
            for n in range(JOBS)
        ]
        ids = await s.queue.enqueue_many(jobs)
        dying = s.fleet.spawn("--die-after-sends", "3")
        await anyio.to_thread.run_sync(lambda: dying.wait(timeout=60))
        await s.fleet.wait_ready(s.fleet.spawn())
        await drain(s.queue, s.qname, JOBS, within=60)
    records = s.fleet.records()
    acked = {r["token"] for r in records if r["e"] == "ack" and r["ok"]}
    killed_held = {
        send_key_of(s.qname, r["job"])
        for r in records
        if r["e"] == "claim" and r["pid"] == dying.pid and r["token"] not in acked
    }
    delivered = Counter(key for key, _ in gateway.deliveries)
    twice = sorted(key for key, count in delivered.items() if count > 1)
    results.write(
        f"crash-after-send-{'idempotent' if honours_keys else 'plain'}-gateway",
        s.backend,
        size=JOBS,
        faults="SIGKILL right after the gateway accepted the 3rd send, before its ack",
        deliveries=len(gateway.deliveries),
        recipients=len(delivered),
        duplicate_deliveries=len(twice),
        duplicates_explained=sum(key in killed_held for key in twice),
        resends_suppressed=gateway.suppressed,
    )
    assert sorted(delivered) == sorted(send_key_of(s.qname, job_id) for job_id in ids)
    assert (await s.queue.stats(s.qname)).completed == JOBS
    if honours_keys:
        assert twice == []
        assert gateway.suppressed >= 1  # the killed job's send came again, and was not delivered
    else:
        assert twice, "the job whose ack the crash lost should have been sent again"
        assert set(twice) <= killed_held  # each one's job was held, unacked, by the killed worker


def send_key_of(queue: str, job_id: str) -> str:
    """The idempotency key the message processor gives job ``job_id``'s send."""
    from kmsg import Backoff, Job, JobState

    job = Job(
        id=job_id,
        queue=queue,
        task="send_message",
        payload=b"{}",
        state=JobState.PENDING,
        priority=0,
        run_at=0.0,
        created_at=0.0,
        attempts=0,
        max_attempts=1,
        backoff=Backoff(),
        lease=1.0,
    )
    return send_key(job)
