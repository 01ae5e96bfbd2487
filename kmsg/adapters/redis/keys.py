"""Every Redis key kmsg uses; this docstring is the key-layout document.

With the default prefix ``kmsg`` and a queue named ``q``, the keys of that queue are::

    kmsg:{q}:jobs          hash  job id -> the job's record: a MessagePack array of its fields
                                 (state, task, payload, priority, run_at, created_at, attempts,
                                 max_attempts, the backoff, lease, seq, dedupe_key, token,
                                 lease_until, cancel_requested, errors, result, the end times;
                                 order and meaning in lua/includes/common.lua, decoding in
                                 records.py). One hash for the queue, not a key per job: a job
                                 costs one hash entry, not a key, a value object and an encoding
                                 of its own, which keeps a queued job near 350 bytes with a
                                 100-byte payload.
    kmsg:{q}:pending       zset  due jobs in claim order; score (1000 - priority) * 2**42 +
                                 run_at in whole ms, so higher priority first, then earlier due
    kmsg:{q}:delayed       zset  jobs due later (scheduled or backing off), by run_at (ms)
    kmsg:{q}:processing    zset  claimed jobs, by lease deadline (ms)
    kmsg:{q}:completed     zset  terminal jobs, by the time they ended (ms) ...
    kmsg:{q}:failed        zset  ... dead letters ...
    kmsg:{q}:cancelled     zset  ... and cancelled jobs
    kmsg:{q}:dedupe        hash  dedupe key -> id of the live job holding it
    kmsg:{q}:meta          hash  seq (the last enqueue sequence number), missing (index entries
                                 found without a record), paused ("1"), rate_max, rate_per,
                                 rate_tokens, rate_at; it exists once the queue has held a job
                                 or a setting, which is what makes the queue known (queues())
    kmsg:{q}:waiters       zset  idle claimers awaiting a direct handoff (``claim(wait=...)``):
                                 member '<token base> <lease seconds or empty>', score until
                                 when it waits (ms)
    kmsg:{q}:waiters:<base> list  one waiter's reply list (``BLPOP``ed by it on a connection of
                                 its own): '<job id> <record>' for a job claimed for it (lease
                                 token '<base>.1') then its receipt '<job id>', or '' for "claim
                                 again"; each waiter entry gets at most one reply; TTL 60 s
    kmsg:{q}:idle          string until when a pub/sub waiter may be idle (epoch seconds; TTL)
    kmsg:{q}:notify        channel  PUBLISHed when a job may have become claimable, while
                                 ``idle`` has not passed
    kmsg:{q}:watched       hash  job id -> '1' while a caller of ``JobQueue.wait`` may await the
                                 job (watch.lua); the script that ends or removes the job deletes
                                 the entry and PUBLISHes the id on the channel of the same name

**Index members.** A member of every state set is the job's enqueue sequence number (12 hex
digits, from ``meta.seq``, kept for the job's life) followed by its id. Redis orders equal
scores by member, so jobs of the same priority and due millisecond are claimed, and every
listing's ties go, in enqueue order whatever the ids. A record is reached from a member by
its id; a member is rebuilt from a record by its ``seq``. An entry whose record is missing is
dropped by whichever script meets it (a claim, a promotion, a listing, a cleanup) and counted in
``meta.missing``; the record of a job is read before anything of it is written.

Direct handoff: when ``claim(wait=...)`` claims nothing, claim.lua registers the claimer in
``waiters`` (with a fresh token base) and it blocks on its reply list. enqueue.lua claims a new
due job for a registered waiter (same effects as claim.lua: processing, attempts 1, lease from
the server's clock, token '<base>.1') and pushes it, but only if the job is then the only
pending one, the queue is not paused and its rate bucket has a token. Scripts that may make a
job claimable otherwise (``notify``) push '' to every waiter and empty ``waiters``. On timeout
the claimer runs unwait.lua, which removes its entry and takes (or, when the claimer is going
away, releases) whatever was pushed meanwhile. The receipt stays in the list when the claimer
pops the reply, so a claimer cancelled (or cut off) after its ``BLPOP`` took a reply it never
read still releases that job; a job pushed to a claimer that died is a lease that ends and is
reclaimed as usual.

Every key of a queue carries the hash tag ``{q}``, so each script touches one Redis Cluster slot
and different queues spread over the cluster (a queue is one slot: resharding moves its ``jobs``
hash as one key). Queue names are 1-128 characters of ``[A-Za-z0-9_.:-]``
(``kmsg.validation.check_name``) and so can never close the tag early.

Two keys are not a queue's: ``kmsg:marker``, written once per server by the first client and
checked on every reconnection, so a server that lost its data is noticed (see marker.py); and
nothing else. The queue names are found by ``SCAN``ning for ``kmsg:{*}:meta`` on every primary,
so they are right after any restart and for every client.

Lua scripts get the twelve queue keys above (pending .. meta, waiters, idle, watched, in
:attr:`QueueKeys.script_keys` order) as ``KEYS`` and the channel as ``ARGV[1]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from kmsg.errors import ValidationError

__all__ = ["DEFAULT_PREFIX", "QueueKeys", "check_prefix", "marker_key", "meta_pattern", "queue_of"]

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


def marker_key(prefix: str) -> str:
    """The key that tells a server which still holds kmsg's data from one that lost it."""
    return f"{prefix}:marker"


def meta_pattern(prefix: str) -> str:
    """The ``SCAN MATCH`` pattern of every queue's meta key."""
    return f"{prefix}:{{*}}:meta"


def queue_of(prefix: str, meta_key: str) -> str | None:
    """The queue name in a meta key found by :func:`meta_pattern` (None if it is not one)."""
    head, tail = f"{prefix}:{{", "}:meta"
    if meta_key.startswith(head) and meta_key.endswith(tail):
        return meta_key[len(head) : -len(tail)]
    return None


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

    @property
    def jobs(self) -> str:
        """The hash of job records."""
        return self.base + "jobs"

    @property
    def channel(self) -> str:
        """The pub/sub channel a waiter listens on."""
        return self.base + "notify"

    @property
    def watched(self) -> str:
        """The hash of watched job ids, and the channel their ids are published on as they end."""
        return self.base + "watched"

    def reply(self, token_base: str) -> str:
        """The reply list of the handoff waiter registered with ``token_base``."""
        return f"{self.base}waiters:{token_base}"

    @property
    def script_keys(self) -> list[str]:
        """The ``KEYS`` of every script, in the order lua/includes/common.lua names them."""
        return [self.state(name) for name in _STATE_SETS] + [
            self.base + "jobs",
            self.base + "dedupe",
            self.base + "meta",
            self.base + "waiters",
            self.base + "idle",
            self.base + "watched",
        ]
