"""Every Redis key kmsg uses; this docstring is the key-layout document.

With the default prefix ``kmsg`` and a queue named ``q``, the keys of that queue are::

    kmsg:{q}:job:<id>      hash  one job: id, queue, task, payload (JSON bytes), state, priority,
                                 run_at, created_at, attempts, max_attempts, backoff_initial,
                                 backoff_factor, backoff_maximum, lease, dedupe_key, errors (JSON
                                 array), result, lease_until, cancel_requested ("1"), completed_at,
                                 failed_at, cancelled_at, token (the last lease token, kept after
                                 completion so a replayed complete is harmless). Times are epoch
                                 seconds; absent fields mean None.
    kmsg:{q}:pending       zset  due jobs in claim order; score (1000 - priority) * 2**42 +
                                 floor(run_at in ms), so higher priority first, then earlier
                                 run_at; equal scores (same priority and millisecond) go by id,
                                 and ids (ULIDs) sort in creation order.
    kmsg:{q}:delayed       zset  jobs due later (scheduled or backing off), by run_at (ms)
    kmsg:{q}:processing    zset  claimed jobs, by lease deadline (ms)
    kmsg:{q}:completed     zset  terminal jobs, by the time they ended (ms) ...
    kmsg:{q}:failed        zset  ... dead letters ...
    kmsg:{q}:cancelled     zset  ... and cancelled jobs
    kmsg:{q}:due           zset  pending jobs by run_at (ms): the oldest pending job's age
    kmsg:{q}:dedupe        hash  dedupe key -> id of the live job holding it
    kmsg:{q}:meta          hash  paused ("1"), rate_max, rate_per, rate_tokens, rate_at,
                                 idle_until (until when a waiter may be idle: epoch seconds)
    kmsg:{q}:waiters       zset  idle claimers awaiting a direct handoff (``claim(wait=...)``):
                                 member '<token base> <lease seconds or empty>', score until
                                 when it waits (ms)
    kmsg:{q}:waiters:<base> list  one waiter's reply list (``BLPOP``ed by it on a connection of
                                 its own): a job claimed for it (its hash as one string: the
                                 lengths of its fields and values, comma-separated, a newline,
                                 then them back to back; lease token '<base>.1'), or '' for
                                 "claim again"; each waiter entry gets at most one reply; TTL 60 s
    kmsg:{q}:notify        channel  PUBLISHed when a job may have become claimable, while
                                 idle_until has not passed

Direct handoff: when ``claim(wait=...)`` claims nothing, claim.lua registers the claimer in
``waiters`` (with a fresh token base) and it blocks on its reply list. enqueue.lua claims a new
due job for a registered waiter (same effects as claim.lua: processing, attempts 1, lease from
the server's clock, token '<base>.1') and pushes it, but only if the job is then the only
pending one, the queue is not paused and its rate bucket has a token. Scripts that may make a
job claimable otherwise (``notify``) push '' to every waiter and empty ``waiters``. On timeout
the claimer runs unwait.lua, which removes its entry and takes (or, when the claimer is going
away, releases) whatever was pushed meanwhile; a job pushed to a claimer that died is a lease
that ends and is reclaimed as usual.

Every key of a queue carries the hash tag ``{q}``, so each script touches one Redis Cluster slot
and different queues spread over the cluster. Queue names are 1-128 characters of
``[A-Za-z0-9_.:-]`` (``kmsg.validation.check_name``) and so can never close the tag early.

One key is global: ``kmsg:queues`` (set), the names of the queues that have held jobs or
settings, written outside the scripts (it lives in another slot) once per queue per adapter.

Lua scripts get ten queue keys above (pending .. meta, then waiters, in
:attr:`QueueKeys.script_keys` order) as ``KEYS`` and the job key prefix and channel as
``ARGV[1]``, ``ARGV[2]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from kmsg.errors import ValidationError

__all__ = ["DEFAULT_PREFIX", "QueueKeys", "check_prefix", "queues_key"]

DEFAULT_PREFIX: Final = "kmsg"
_PREFIX_PATTERN: Final = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_STATE_SETS: Final = ("pending", "delayed", "processing", "completed", "failed", "cancelled")


def check_prefix(prefix: object) -> str:
    """Return ``prefix`` if it is a valid key prefix (1-64 of ``[A-Za-z0-9_.:-]``)."""
    if not isinstance(prefix, str) or _PREFIX_PATTERN.fullmatch(prefix) is None:
        raise ValidationError(
            f"invalid key prefix {prefix!r}: use 1-64 characters of [A-Za-z0-9_.:-]"
        )
    return prefix


def queues_key(prefix: str) -> str:
    """The global set of queue names."""
    return f"{prefix}:queues"


@dataclass(frozen=True)
class QueueKeys:
    """The keys of one queue (``queue`` must already be a validated name)."""

    prefix: str
    queue: str

    @property
    def base(self) -> str:
        """``prefix:{queue}:``, the start of every key of the queue."""
        return f"{self.prefix}:{{{self.queue}}}:"

    def state(self, name: str) -> str:
        """The sorted set of jobs in state ``name``."""
        return self.base + name

    def job(self, job_id: str) -> str:
        """The hash of one job."""
        return f"{self.base}job:{job_id}"

    @property
    def job_prefix(self) -> str:
        """What a job key is before its id (``ARGV[1]`` of every script)."""
        return self.base + "job:"

    @property
    def channel(self) -> str:
        """The pub/sub channel a waiter listens on."""
        return self.base + "notify"

    def reply(self, token_base: str) -> str:
        """The reply list of the handoff waiter registered with ``token_base``."""
        return f"{self.base}waiters:{token_base}"

    @property
    def script_keys(self) -> list[str]:
        """The ``KEYS`` of every script, in the order lua/includes/common.lua names them."""
        return [self.state(name) for name in _STATE_SETS] + [
            self.base + "due",
            self.base + "dedupe",
            self.base + "meta",
            self.base + "waiters",
        ]
