"""Timing machinery: a private Redis, subprocess producers and workers, repetitions, results.

Every benchmark talks to a redis-server started here on a free loopback port with persistence off
(``--save "" --appendonly no``), so ``FLUSHDB`` between runs is safe and nothing touches the shared
server on 6379. Results are rows of JSON in ``benchmarks/results/<timestamp>.json`` (gitignored)
and a markdown table.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import redis

from benchmarks.sink import DONE_KEY, HANDLER_ENV, IO_KEY, LATENCY_KEY, PROC_PREFIX

ROOT: Final = Path(__file__).resolve().parent
RESULTS_DIR: Final = ROOT / "results"


class Timeout(Exception):
    """A workload ran past its cap."""


class Failed(Exception):
    """A subprocess failed; the message holds the tail of its stderr."""


def free_port() -> int:
    """A loopback TCP port the OS says is free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Row:
    """One figure: a system's result on one workload metric over the repetitions."""

    system: str
    workload: str
    metric: str
    unit: str
    values: list[float] = field(default_factory=list)
    status: str = "ok"

    @property
    def median(self) -> float | None:
        """Median of the repetitions (None when none succeeded)."""
        return statistics.median(self.values) if self.values else None

    def to_json(self) -> dict[str, Any]:
        """The row with its summary figures, for the results file."""
        summary = {"median": self.median}
        if self.values:
            summary |= {"min": min(self.values), "max": max(self.values)}
        return asdict(self) | summary

    def cell(self) -> str:
        """``median (min-max)`` for the table, or the status when no figure exists."""
        if not self.values:
            return self.status
        low, high = min(self.values), max(self.values)
        text = f"{fmt(self.median or 0.0)} ({fmt(low)}-{fmt(high)})"
        return text if self.status == "ok" else f"{text} [{self.status}]"


def fmt(value: float) -> str:
    """Three significant figures, with thousands separators for large numbers."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


class Bench:
    """One benchmark session: the private Redis, a temp directory and subprocess helpers."""

    def __init__(self, tmp: Path, port: int) -> None:
        self.tmp = tmp
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.client = redis.Redis(host="127.0.0.1", port=port)
        self.sqlite_path = tmp / "queue.db"

    def env(self, handler: str = "noop") -> dict[str, str]:
        """Environment for the subprocesses (see ``systems.base.Env``); ``handler`` is what the
        benchmark task does besides recording its start (``benchmarks.sink.HANDLERS``)."""
        return os.environ | {
            "BENCH_REDIS_URL": self.url,
            "BENCH_REDIS_HOST": "127.0.0.1",
            "BENCH_REDIS_PORT": str(self.port),
            "BENCH_SQLITE_PATH": str(self.sqlite_path),
            HANDLER_ENV: handler,
            "PYTHONPATH": str(ROOT.parent),
        }

    def reset(self) -> None:
        """Empty the private Redis and delete the SQLite files."""
        self.client.flushdb()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.sqlite_path}{suffix}").unlink(missing_ok=True)

    def produce(
        self,
        system: str,
        mode: str,
        *,
        n: int = 0,
        rate: float = 0.0,
        seconds: float = 0.0,
        cap: float = 300.0,
    ) -> dict[str, Any]:
        """Run a producer subprocess to completion and return its JSON result."""
        args = [
            "benchmarks.agent",
            "produce",
            system,
            "--mode",
            mode,
            "-n",
            str(n),
            "--rate",
            str(rate),
            "--seconds",
            str(seconds),
        ]
        return self.run_json(args, cap)

    def run_json(self, args: list[str], cap: float) -> dict[str, Any]:
        """Run ``python -m ARGS`` to completion and return the JSON of its last output line."""
        cmd = [sys.executable, "-m", *args]
        try:
            done = subprocess.run(
                cmd, env=self.env(), capture_output=True, text=True, timeout=cap, check=False
            )
        except subprocess.TimeoutExpired:
            raise Timeout(f"{args[0]} ran over {cap:.0f} s") from None
        if done.returncode != 0:
            raise Failed(_tail(done.stderr))
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    @contextlib.contextmanager
    def workers(
        self, system: str, count: int = 1, handler: str = "noop"
    ) -> Iterator[list[subprocess.Popen[bytes]]]:
        """Run ``count`` worker processes for the block, each in a session of its own, whose
        task runs ``handler``; terminate them (and their children) after."""
        logs = [open(self.tmp / f"worker-{i}.log", "wb") for i in range(count)]  # noqa: SIM115
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "benchmarks.agent", "work", system],
                env=self.env(handler),
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
            for log in logs
        ]
        try:
            yield procs
        finally:
            for proc in procs:
                _stop(proc)
            for log in logs:
                log.close()

    def worker_log(self) -> str:
        """The tail of the first worker's log, for error reports."""
        path = self.tmp / "worker-0.log"
        return _tail(path.read_text(errors="replace")) if path.exists() else ""

    def done(self) -> int:
        """How many job starts the workers have flushed so far."""
        return int(self.client.get(DONE_KEY) or 0)

    def io_done(self) -> int:
        """How many handler round trips (W2io's ``RPUSH``) have landed so far."""
        return int(self.client.llen(IO_KEY))

    def wait_done(
        self,
        n: int,
        cap: float,
        procs: Sequence[subprocess.Popen[bytes]],
        count: Callable[[], int] | None = None,
    ) -> None:
        """Wait until the workers have started ``n`` jobs (or ``count()`` reaches ``n``);
        ``Timeout`` after ``cap`` seconds."""
        count = count or self.done
        deadline = time.monotonic() + cap
        while count() < n:
            if any(proc.poll() is not None for proc in procs):
                raise Failed(f"worker exited: {self.worker_log()}")
            if time.monotonic() > deadline:
                raise Timeout(f"{count()} of {n} jobs after {cap:.0f} s")
            time.sleep(0.005)

    def clear_marks(self) -> None:
        """Forget what the workers recorded so far (after a warm-up)."""
        keys = [DONE_KEY, LATENCY_KEY, *self.client.scan_iter(f"{PROC_PREFIX}*")]
        self.client.delete(*keys)

    def span(self) -> float:
        """Seconds from the first job's start to the last job's start, across worker processes."""
        firsts, lasts = [], []
        for key in self.client.scan_iter(f"{PROC_PREFIX}*"):
            marks = self.client.hgetall(key)
            firsts.append(float(marks[b"first"]))
            lasts.append(float(marks[b"last"]))
        return max(lasts) - min(firsts)

    def latencies(self) -> list[float]:
        """Every recorded enqueue-to-start latency, in seconds."""
        return [float(v) for v in self.client.lrange(LATENCY_KEY, 0, -1)]


CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PROC: Final = Path("/proc")


def session_cpu(leaders: Sequence[int]) -> float | None:
    """CPU seconds (user + system) used so far by every process in the sessions ``leaders`` lead.

    Each worker runs in a session of its own (``start_new_session``), so its session holds the
    worker and whatever it forks or spawns (prefork pools, forked job processes). For each
    member this adds ``/proc/<pid>/stat`` utime + stime (all of its threads, live or gone) and
    cutime + cstime (its children already reaped), so a child is counted once, alive or
    reaped. Clock-tick resolution (10 ms at the usual 100 Hz). ``None`` where there is no
    Linux ``/proc``."""
    if not (PROC / "self" / "stat").exists():
        return None
    wanted = {str(pid) for pid in leaders}
    ticks = 0
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = text[text.rindex(")") + 2 :].split()  # fields[0] is stat field 3 (state)
        if fields[3] in wanted:  # field 6: session id
            ticks += sum(int(value) for value in fields[11:15])  # fields 14-17
    return ticks / CLOCK_TICKS


def _tail(text: str, lines: int = 6) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])[-600:]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@contextlib.contextmanager
def bench_session() -> Iterator[Bench]:
    """Start a private redis-server in a temp dir; stop it and remove the dir afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="kmsg-bench-"))
    port = free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp),
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        bench = Bench(tmp, port)
        _wait_for_redis(bench.client)
        yield bench
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


def _wait_for_redis(client: redis.Redis) -> None:
    for _ in range(200):
        with contextlib.suppress(redis.ConnectionError):
            client.ping()
            return
        time.sleep(0.025)
    raise Failed("private redis-server did not start")


def save_results(rows: Sequence[Row], meta: dict[str, Any]) -> Path:
    """Write the rows and run metadata to ``results/<timestamp>.json``; return the path."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{time.strftime('%Y%m%dT%H%M%S')}.json"
    payload = {"meta": meta, "rows": [row.to_json() for row in rows]}
    path.write_text(json.dumps(payload, indent=1))
    return path


def markdown_table(rows: Sequence[Row]) -> str:
    """Systems down, workload metrics across: ``median (min-max)`` per cell."""
    columns: list[tuple[str, str, str]] = []
    for row in rows:
        key = (row.workload, row.metric, row.unit)
        if key not in columns and row.system != "raw":
            columns.append(key)
    systems = list(dict.fromkeys(row.system for row in rows if row.system != "raw"))
    cells = {(row.system, row.workload, row.metric): row.cell() for row in rows}
    head = ["system", *[f"{w} {m} ({u})" for w, m, u in columns]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for system in systems:
        values = [cells.get((system, w, m), "-") for w, m, _ in columns]
        lines.append("| " + " | ".join([system, *values]) + " |")
    raw = [row for row in rows if row.system == "raw"]
    if raw:
        lines += ["", "| raw limit | figure |", "|---|---|"]
        lines += [f"| {row.metric} ({row.unit}) | {row.cell()} |" for row in raw]
    return "\n".join(lines)
