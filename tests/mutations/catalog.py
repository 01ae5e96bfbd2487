"""The planted bugs: each a one-place search/replace in kmsg and the tests that must catch it.

A mutation names the file (relative to the checkout), the exact text to find (it must occur
exactly once, so a refactor that moves it makes the check fail loudly instead of testing
nothing), its replacement, and the pytest arguments of the tests that must fail with it
(``-k`` expressions keep the selection small). ``ci`` marks the subset ``.ci/run`` runs.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MUTATIONS", "Mutation"]

LUA = "kmsg/adapters/redis/lua"
SQL = "kmsg/adapters/sqlite/sql"
REDIS_ONLY = "asyncio and redis and not cluster"
SQLITE_ONLY = "sqlite"


@dataclass(frozen=True)
class Mutation:
    """One planted bug."""

    name: str
    what: str
    path: str
    search: str
    replace: str
    tests: tuple[str, ...]
    ci: bool = True


MUTATIONS: tuple[Mutation, ...] = (
    # --- Lua (the Redis adapter) ---
    Mutation(
        "lua-bucket-ignores-per-seconds",
        "the Redis rate bucket refills max_jobs a second whatever per_seconds says",
        f"{LUA}/includes/common.lua",
        "tokens + elapsed * max_jobs / per_seconds)",
        "tokens + elapsed * max_jobs)",
        ("tests/conformance/test_pause_rate_limit.py", "-k", REDIS_ONLY),
    ),
    Mutation(
        "lua-retry-ignores-backoff",
        "a failed job on Redis is due again at once instead of after its backoff",
        f"{LUA}/includes/common.lua",
        "return due_time(now + delay)",
        "return due_time(now)",
        ("tests/conformance/test_retry_backoff.py", "-k", REDIS_ONLY),
    ),
    Mutation(
        "lua-claim-keeps-attempts",
        "a Redis claim does not count the attempt",
        f"{LUA}/claim.lua",
        "job.attempts = job.attempts + 1",
        "job.attempts = job.attempts",
        ("tests/conformance/test_leases.py", "-k", REDIS_ONLY),
    ),
    Mutation(
        "lua-complete-unfenced",
        "a Redis complete acts on a job whatever lease token it is given",
        f"{LUA}/includes/common.lua",
        "  if job.token ~= token then return 'lost' end\n  if job.state == 'completed'",
        "  if job.state == 'completed'",
        ("tests/conformance/test_fencing.py", "-k", REDIS_ONLY),
    ),
    Mutation(
        "lua-dedupe-forgotten",
        "a Redis enqueue with a held dedupe key writes a second live job",
        f"{LUA}/enqueue.lua",
        "  elseif holder then\n    out[#out + 1], out[#out + 2] = holder, 'key'\n  else",
        "  else",
        ("tests/conformance/test_dedupe.py", "-k", REDIS_ONLY),
    ),
    Mutation(
        "lua-unwait-forgets-receipts",
        "a job handed to a claimer that was cancelled after its BLPOP stays held by nobody",
        f"{LUA}/unwait.lua",
        "      handed[#handed + 1] = id\n",
        "",
        ("tests/adapters/redis/test_handoff.py", "-k", "unwait"),
    ),
    # --- SQL (the SQLite adapter) ---
    Mutation(
        "sql-claim-lowest-priority-first",
        "SQLite claims the lowest priority first",
        f"{SQL}/claim.sql",
        "ORDER BY priority DESC, run_at, seq",
        "ORDER BY priority ASC, run_at, seq",
        ("tests/conformance/test_claim_order.py", "-k", SQLITE_ONLY),
    ),
    Mutation(
        "sql-complete-unfenced",
        "a SQLite complete acts on a job whatever lease token it is given",
        f"{SQL}/complete.sql",
        "AND state = 'processing' AND token = :token",
        "AND state = 'processing'",
        ("tests/conformance/test_fencing.py", "-k", SQLITE_ONLY),
    ),
    Mutation(
        "sql-promotes-delayed-early",
        "SQLite hands out delayed jobs before they are due",
        f"{SQL}/promote_due.sql",
        "AND state = 'delayed' AND run_at <= :now",
        "AND state = 'delayed'",
        ("tests/conformance/test_enqueue.py", "-k", SQLITE_ONLY),
    ),
    Mutation(
        "sql-leases-never-expire",
        "SQLite never takes back an expired lease",
        f"{SQL}/expired_leases.sql",
        "AND lease_until <= :now",
        "AND lease_until <= :now - 1e9",
        ("tests/conformance/test_leases.py", "-k", SQLITE_ONLY),
    ),
    # --- rules (kmsg/rules.py: SQLite's rules, and the reference the Lua copies follow) ---
    Mutation(
        "rules-bucket-ignores-per-seconds",
        "the SQLite rate bucket refills max_jobs a second whatever per_seconds says",
        "kmsg/rules.py",
        "tokens + elapsed * max_jobs / per_seconds)",
        "tokens + elapsed * max_jobs)",
        ("tests/conformance/test_pause_rate_limit.py", "-k", SQLITE_ONLY),
    ),
    Mutation(
        "rules-bucket-uncapped",
        "an idle SQLite rate bucket saves up more than max_jobs tokens",
        "kmsg/rules.py",
        "return min(float(max_jobs), tokens + elapsed",
        "return min(float(max_jobs) * 100, tokens + elapsed",
        ("tests/conformance/test_pause_rate_limit.py", "-k", SQLITE_ONLY),
    ),
    Mutation(
        "rules-one-attempt-too-many",
        "a job runs once more than max_attempts allows",
        "kmsg/rules.py",
        "if not retryable or attempts >= max_attempts:",
        "if not retryable or attempts > max_attempts:",
        ("tests/conformance/test_retry_backoff.py", "-k", SQLITE_ONLY),
    ),
    Mutation(
        "rules-paused-ignored",
        "a paused SQLite queue still hands out jobs",
        "kmsg/rules.py",
        "    if paused:\n        return 0\n",
        "",
        ("tests/conformance/test_pause_rate_limit.py", "-k", SQLITE_ONLY),
    ),
    # --- worker ---
    Mutation(
        "worker-ignores-job-backoff",
        "the worker retries a failed job at once instead of after the job's backoff",
        "kmsg/worker/execution.py",
        "delay = self._jitter.apply_jitter(job.backoff.delay(job.attempts))",
        "delay = 0.0",
        ("tests/worker/test_failures.py", "-k", "asyncio and sqlite"),
    ),
    Mutation(
        "worker-ignores-retry-after",
        "the worker ignores a handler's Retry(after=...)",
        "kmsg/worker/execution.py",
        "return True, min(error.after, MAX_DELAY)",
        "return True, 0.0",
        ("tests/worker/test_failures.py", "-k", "asyncio and sqlite"),
    ),
    Mutation(
        "worker-heartbeats-too-late",
        "the worker renews a lease only after it has run out",
        "kmsg/worker/heartbeats.py",
        "if min(r.renewed_at + third, r.expires_at - margin) < horizon]",
        "if r.renewed_at + 2.0 * self.lease < horizon]",
        ("tests/worker/test_leases.py", "-k", "longer_than_its_lease and asyncio and sqlite"),
    ),
    # --- messaging ---
    Mutation(
        "phone-landline-too-long",
        "a landline number one digit too long is accepted",
        "kmsg/messaging/phone.py",
        'rf"(?:02|{_AREA_CODES})\\d{{7,8}}"',
        'rf"(?:02|{_AREA_CODES})\\d{{7,9}}"',
        ("tests/messaging/test_phone.py",),
    ),
    # --- codec ---
    Mutation(
        "codec-size-limit-off",
        "a payload over the size limit is accepted",
        "kmsg/codec.py",
        "if len(data) > self.max_bytes:",
        "if len(data) > self.max_bytes * 2:",
        ("tests/core/test_codec.py",),
    ),
    Mutation(
        "codec-constraints-unchecked",
        "a payload breaking a constraint of its type is encoded anyway",
        "kmsg/codec.py",
        "        try:\n            self._decoder(payload_type).decode(data)\n"
        "        except (msgspec.ValidationError, RecursionError) as exc:\n"
        '            raise ValidationError(f"invalid payload for task {task!r}: {exc}") from None\n'
        "        return task, data",
        "        return task, data",
        ("tests/core/test_codec.py",),
    ),
)
