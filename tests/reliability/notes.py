"""The prose of ``docs/reliability.md``: how figures are counted, what each setting keeps."""

from __future__ import annotations

__all__ = ["DURABILITY", "INTRO"]

INTRO = """
Every worker process writes an append-only ledger: each claim with its lease token, each handler
start and end, and each acknowledgement with whether the backend accepted it. The harness records
each fault before it injects it. The checker then counts:

- **lost** jobs: acknowledged enqueues that were neither completed nor dead-lettered;
- **duplicate** runs: a run that began while an earlier run of the same job had not given it back.
  A duplicate is *explained* when the earlier holder was killed, paused past its lease, or cut off,
  and *unexplained* otherwise;
- **stale completions accepted**: a `complete` that succeeded with a lease token that was no
  longer the job's newest;
- overlapping live leases.

Explained duplicates are what at-least-once delivery means: a holder that dies or stalls past its
lease is presumed dead, and its job runs again. Recovery times include the wait behind the backlog,
because a redelivered job queues like any other.
"""

DURABILITY = """
## Bad input

`tests/reliability/test_bad_input.py` (Hypothesis, 50 examples a property, on SQLite and Redis)
tries payloads that are not Structs, fields of the wrong type, payloads over the size limit,
strings that are not valid UTF-8, queue and task names with quotes, semicolons, braces, NUL,
spaces and thousands of characters, and negative, infinite, NaN or absurd delays, run times,
priorities, attempts and leases. Each must raise `kmsg.ValidationError` and leave the store's queue
list and the queue's counts as they were. `tests/reliability/test_corrupt.py` overwrites a stored
payload with garbage behind kmsg's back (SQLite `UPDATE jobs`, Redis: the payload field of the
job's record): the job is dead-lettered after one attempt with a `PayloadDecodeError`, and the
worker goes on to the next job. `tests/adapters/redis/test_missing.py` deletes job records behind
kmsg's back, in every state and a tenth of a queue at once (what an evicting server did): every
intact job still runs, the dangling index entries are dropped where met and counted in
`stats().missing_records`, and no stub record is ever written.

## Memory, eviction and lost data (Redis)

`tests/reliability/test_memory.py`: a server whose `maxmemory-policy` may evict (`allkeys-lru`,
`volatile-ttl`, `allkeys-random`) is refused at open unless `eviction=warn` is given. Under
`maxmemory` with `noeviction`, a batch that does not fit is refused whole with `BackendFull`
(none of its jobs is found afterwards), while claim (ending expired leases), extend, fail,
release, complete, cancel, remove, the dead-letter calls and listings keep working, and two
worker processes opened while the server is full drain every acknowledged job; `cleanup` then
frees the memory and enqueueing works again. A batch of several steps stopped by memory part way
raises `IncompleteBatch` naming exactly the jobs stored. `tests/reliability/test_redis_restart.py`
restarts a server that keeps nothing: every client logs one error that the server lost its data,
and the queue names are right for every client afterwards.

## Durability: what each setting keeps

**SQLite** (WAL journal). Either setting survives a crash of the *process* (SIGKILL, an exception,
an OOM kill) with every acknowledged write: a commit has been written to the WAL file before it
returns, and the kernel keeps written data. The scenarios above measure exactly that. They differ
on a power cut or an operating-system crash:

- `synchronous=NORMAL` (the default): the WAL is fsynced only at checkpoints, so the transactions
  committed since the last checkpoint can roll back. The database stays consistent, but an
  acknowledged enqueue can vanish, and a completed job can return to its earlier state and run
  again.
- `synchronous=FULL` (`sqlite:///kmsg.db?synchronous=FULL`): the WAL is fsynced at every commit.
  An acknowledged write survives a power cut, as long as the disk honours fsync. The cost is one
  fsync per transaction.

**Redis** (append-only file). kmsg acknowledges an enqueue only after its Lua script has run, so
what survives is whatever the server keeps:

- `appendfsync always`: the AOF is fsynced before the reply. An acknowledged write survives a kill
  of the server and a power cut (measured above: 0 acknowledged enqueues lost).
- `appendfsync everysec` (the usual choice): the write reaches the kernel before the reply and is
  fsynced about once a second. A kill of `redis-server` loses nothing in practice (measured above).
  A power cut or a kernel crash loses up to about one second of acknowledged writes, or up to two
  when the disk stalls and Redis postpones its writes.
- `appendfsync no`, or RDB snapshots only: a restart loses everything written since the last
  snapshot or OS flush. Do not run a job queue this way.

**A Redis failover can lose acknowledged writes.** Replication is asynchronous: a replica promoted
after the primary dies lacks whatever the primary acknowledged but had not yet sent. Enqueues can
vanish. A completion can be undone, so the job runs again once its lease ends (a duplicate, never
a lost job, if its enqueue had reached the replica). `min-replicas-to-write` narrows that window
but does not close it. kmsg does not call `WAIT`/`WAITAOF`. Fencing still holds on the new
primary: a lease token it never saw is stale, so the old holder's `complete` raises `LeaseLost`.
Leases and delays follow the clock of whichever server is the primary, so servers in one
deployment should keep their clocks in step (NTP).

**Clocks.** Redis scripts read the server's `TIME`. The scenario above pushes a worker's clock an
hour ahead, and no lease ends early. SQLite reads the host clock (the `Capabilities.server_time`
flag is false): every process on the host shares that one clock, and a jump of the host clock
moves every lease and delay with it.
"""
