"""The workloads W1-W5 and W2io: each runs one system for several repetitions, returns rows.

Every repetition starts from an empty private Redis and a fresh SQLite file, with fresh producer
and worker processes. A repetition that fails or runs over its cap ends the workload for that
system (the row keeps the figures it has and says why).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from benchmarks.harness import Bench, Failed, Row, Timeout, session_cpu


@dataclass(frozen=True)
class Sizes:
    """How big each workload is; ``quick`` shrinks them for a run of a couple of minutes."""

    reps: int = 3
    w1_jobs: int = 5_000
    w1b_jobs: int = 20_000
    w2_jobs: int = 10_000
    w3_rate: float = 200.0
    w3_seconds: float = 10.0
    w4_small: int = 1_000
    w4_big: int = 1_000_000
    w4_ops: int = 300
    w5_jobs: int = 1_000_000
    cap: float = 240.0

    @classmethod
    def quick(cls) -> Sizes:
        """Small sizes, one repetition."""
        return cls(
            reps=1,
            w1_jobs=1_000,
            w1b_jobs=5_000,
            w2_jobs=1_000,
            w3_seconds=2.0,
            w4_small=1_000,
            w4_big=50_000,
            w4_ops=200,
            w5_jobs=50_000,
            cap=60.0,
        )


def w1(bench: Bench, system: str, sizes: Sizes) -> list[Row]:
    """W1: one enqueue call per job, sequential, no worker running (jobs/s)."""
    row = Row(system, "W1", "enqueue", "jobs/s")
    _repeat(row, sizes, lambda: _produce_rate(bench, system, "one", sizes.w1_jobs, sizes.cap))
    return [row]


def w1b(bench: Bench, system: str, sizes: Sizes) -> list[Row]:
    """W1b: the library's batch enqueue, 1,000 jobs a call (jobs/s); n/a without one."""
    row = Row(system, "W1b", "batch enqueue", "jobs/s")
    _repeat(row, sizes, lambda: _produce_rate(bench, system, "batch", sizes.w1b_jobs, sizes.cap))
    return [row]


def _produce_rate(bench: Bench, system: str, mode: str, n: int, cap: float) -> float:
    bench.reset()
    result = bench.produce(system, mode, n=n, cap=cap)
    if result["status"] != "ok":
        raise NotApplicable(result["status"])
    return n / float(result["seconds"])


def w2(bench: Bench, system: str, sizes: Sizes) -> list[Row]:
    """W2: drain pre-queued no-op jobs with one worker process (jobs/s, worker CPU us/job)."""
    return _drain_rows(bench, system, sizes, "W2", "noop")


def w2io(bench: Bench, system: str, sizes: Sizes) -> list[Row]:
    """W2io: W2 with a handler that makes one network round trip, an ``RPUSH`` to the private
    Redis (jobs/s, worker CPU us/job)."""
    return _drain_rows(bench, system, sizes, "W2io", "io")


def _drain_rows(bench: Bench, system: str, sizes: Sizes, workload: str, handler: str) -> list[Row]:
    rate = Row(system, workload, "drain 1 proc", "jobs/s")
    cpu = Row(system, workload, "worker CPU", "us/job")

    def add() -> None:
        jobs_per_s, cpu_us = _drain(bench, system, sizes, 1, handler)
        rate.values.append(jobs_per_s)
        if cpu_us is not None:
            cpu.values.append(cpu_us)

    for _ in range(sizes.reps):
        if not _attempt(rate, add):
            cpu.status = rate.status
            break
    if not cpu.values and cpu.status == "ok":
        cpu.status = "n/a"  # no /proc
    return [rate, cpu]


def w2p(bench: Bench, system: str, sizes: Sizes) -> list[Row]:
    """W2p: the same drain with two worker processes (jobs/s)."""
    row = Row(system, "W2p", "drain 2 procs", "jobs/s")
    _repeat(row, sizes, lambda: _drain(bench, system, sizes, 2)[0])
    return [row]


def _drain(
    bench: Bench, system: str, sizes: Sizes, processes: int, handler: str = "noop"
) -> tuple[float, float | None]:
    """Queue ``sizes.w2_jobs`` jobs, drain them with ``processes`` workers; return the rate and
    the workers' CPU per job in microseconds (``None`` with several processes or no /proc).

    The CPU figure leaves out worker start-up: the first sample is taken once the first job
    starts have been flushed, the last once every job has started (and, for ``io``, every
    round trip has landed), and the figure is the CPU between them over the jobs started
    between them."""
    bench.reset()
    n = sizes.w2_jobs
    bench.produce(system, "fill", n=n, cap=sizes.cap)
    with bench.workers(system, processes, handler) as procs:
        leaders = [proc.pid for proc in procs]
        bench.wait_done(1, sizes.cap, procs)
        cpu_start = session_cpu(leaders)
        # read after the sample: the flushed count lags the jobs by up to one flush (5 ms),
        # and the jobs in between partly make up for it
        done_start = bench.done()
        bench.wait_done(n, sizes.cap, procs)
        if handler == "io":
            bench.wait_done(n, sizes.cap, procs, count=bench.io_done)
        time.sleep(0.05)  # let the last flush land (and the last acknowledgements go out)
        cpu_end = session_cpu(leaders)
    rate = n / bench.span()
    if processes != 1 or cpu_start is None or cpu_end is None or done_start >= n:
        return rate, None
    return rate, (cpu_end - cpu_start) / (n - done_start) * 1e6


WARMUP_JOBS: Final = 20


def w3(bench: Bench, system: str, sizes: Sizes) -> list[Row]:
    """W3: 200 jobs/s offered to an idle worker; enqueue-to-start p50 and p99 (ms)."""
    p50 = Row(system, "W3", "latency p50", "ms")
    p99 = Row(system, "W3", "latency p99", "ms")

    def once() -> tuple[float, float]:
        bench.reset()
        n = int(sizes.w3_rate * sizes.w3_seconds)
        with bench.workers(system, 1) as procs:
            bench.produce(system, "paced", rate=20.0, seconds=WARMUP_JOBS / 20.0, cap=sizes.cap)
            bench.wait_done(WARMUP_JOBS, sizes.cap, procs)
            time.sleep(1.0)
            bench.clear_marks()
            bench.produce(
                system, "paced", rate=sizes.w3_rate, seconds=sizes.w3_seconds, cap=sizes.cap
            )
            bench.wait_done(n, sizes.cap, procs)
            time.sleep(0.05)
        cuts = statistics.quantiles(bench.latencies(), n=100, method="inclusive")
        return cuts[49] * 1000, cuts[98] * 1000

    def add() -> None:
        low, high = once()
        p50.values.append(low)
        p99.values.append(high)

    for _ in range(sizes.reps):
        if not _attempt(p50, add):
            p99.status = p50.status
            break
    return [p50, p99]


def w4(bench: Bench, system: str, sizes: Sizes) -> list[Row]:
    """W4 (kmsg only): claim+complete cost at a big vs a small backlog, and bytes per job."""
    if not system.startswith("kmsg-"):
        return []
    small = Row(system, "W4", f"claim+complete @{sizes.w4_small:,}", "us")
    big = Row(system, "W4", f"claim+complete @{sizes.w4_big:,}", "us")
    ratio = Row(system, "W4", "ratio big/small", "x")
    size = Row(system, "W4", "bytes per job", "B")
    stats = Row(system, "W4", f"stats @{sizes.w4_big:,}", "us")

    def measure(row: Row, jobs: int) -> dict[str, float]:
        bench.reset()
        args = [
            "benchmarks.scale",
            system,
            "--jobs",
            str(jobs),
            "--ops",
            str(sizes.w4_ops),
            "--reps",
            str(sizes.reps),
        ]
        result = bench.run_json(args, cap=max(sizes.cap, jobs / 2_000))
        row.values.extend(result["cost_us"])
        return result

    def add() -> None:
        measure(small, sizes.w4_small)
        result = measure(big, sizes.w4_big)
        size.values.append(result["bytes_per_job"])
        stats.values.extend(result["stats_us"])
        ratio.values.extend(b / s for b, s in zip(big.values, small.values, strict=True))

    if not _attempt(big, add):
        for row in (small, ratio, size, stats):
            row.status = big.status
    return [small, big, ratio, size, stats]


def w5(bench: Bench, system: str, sizes: Sizes) -> list[Row]:
    """W5 (kmsg only): the longest stall of other clients during each bulk operation at a big
    queue (see ``benchmarks/stall.py``): on Redis the longest command the server ran, on SQLite
    the longest write another process waited for; and the longest round trip the separate probe
    process saw over all operations (ms). One repetition: it fills N jobs four times over."""
    if not system.startswith("kmsg-"):
        return []
    bench.reset()
    rows: dict[str, Row] = {}
    probe = Row(system, "W5", "probe's worst round trip", "ms")

    def add() -> None:
        result = bench.run_json(
            ["benchmarks.stall", system, "--jobs", str(sizes.w5_jobs)],
            cap=max(sizes.cap, sizes.w5_jobs / 500),
        )
        for op in result["operations"]:
            stall = op.get("server_ms", op["worst_ms"])  # Redis: the server's own figure
            rows.setdefault(op["op"], Row(system, "W5", f"{op['op']} @{sizes.w5_jobs:,}", "ms"))
            rows[op["op"]].values.append(stall)
        probe.values.append(max(op["worst_ms"] for op in result["operations"]))

    if not _attempt(probe, add):
        return [probe]
    return [*rows.values(), probe]


class NotApplicable(Exception):
    """The system lacks what the workload measures."""


def _repeat(row: Row, sizes: Sizes, once: Callable[[], float]) -> None:
    def add() -> None:
        row.values.append(once())

    for _ in range(sizes.reps):
        if not _attempt(row, add):
            return


def _attempt(row: Row, once: Callable[[], object]) -> bool:
    """Run one repetition; on failure set the row's status and return False."""
    try:
        once()
    except NotApplicable as exc:
        row.status = str(exc)
    except Timeout as exc:
        row.status = "timeout"
        print(f"  {row.system} {row.workload}: timeout ({exc})", file=sys.stderr)
    except Failed as exc:
        row.status = "error"
        print(f"  {row.system} {row.workload}: error: {exc}", file=sys.stderr)
    else:
        return True
    return False
