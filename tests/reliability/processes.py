"""Child processes of a scenario: worker processes, killed, paused, signalled and respawned.

Every process a :class:`Fleet` starts is killed by :meth:`Fleet.close` (the fixtures call it in
their finalizers), and every fault it injects is written to the ledger first, so the checker can
tell an explained duplicate from an unexplained one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio

from tests.reliability.ledger import Ledger, read_ledger

__all__ = ["REPO_ROOT", "Fleet"]

REPO_ROOT = Path(__file__).resolve().parents[2]


class Fleet:
    """Processes running ``module`` (a worker by default) on one queue; ledger in ``ledger_dir``."""

    def __init__(
        self,
        url: str,
        ledger_dir: Path,
        *,
        options: dict[str, Any] | None = None,
        args: Sequence[str] = (),
        module: str = "tests.reliability.worker_main",
    ) -> None:
        self.url = url
        self.ledger_dir = ledger_dir
        self.options = options or {}
        self.args = list(args)
        self.module = module
        self.ledger = Ledger(ledger_dir, "harness")
        self.live: list[subprocess.Popen[bytes]] = []
        self.spawned = 0

    def spawn(self, *extra: str) -> subprocess.Popen[bytes]:
        """Start one more process (``extra`` adds to the fleet's arguments)."""
        command = [sys.executable, "-m", self.module, self.url]
        command += [str(self.ledger_dir), "--options", json.dumps(self.options)]
        command += [*self.args, *extra]
        self.spawned += 1
        log = (self.ledger_dir / f"stderr-{self.spawned}.log").open("ab")
        with log:
            process = subprocess.Popen(
                command, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=log
            )
        self.live.append(process)
        return process

    def signal(self, process: subprocess.Popen[bytes], signum: signal.Signals, kind: str) -> None:
        """Record fault ``kind`` on the process, then send it ``signum``."""
        self.ledger.write("fault", kind=kind, target=process.pid)
        if process.poll() is None:
            os.kill(process.pid, signum)

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL the process (recorded first) and reap it."""
        self.signal(process, signal.SIGKILL, "kill")
        process.wait(timeout=10)
        self.live.remove(process)

    def reap(self) -> int:
        """Forget processes that exited by themselves; return how many did."""
        done = [p for p in self.live if p.poll() is not None]
        for process in done:
            self.live.remove(process)
        return len(done)

    async def wait_ready(self, process: subprocess.Popen[bytes], within: float = 30.0) -> None:
        """Wait until the process has opened its queue (its ``ready`` record).

        Asynchronous, so that a proxy in the same event loop keeps serving meanwhile.
        """
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if any(r["e"] == "ready" for r in self._records_of(process.pid)):
                return
            if process.poll() is not None:
                raise RuntimeError(f"worker {process.pid} exited with {process.returncode}")
            await anyio.sleep(0.05)
        raise RuntimeError(f"worker {process.pid} was not ready within {within}s")

    def _records_of(self, pid: int) -> list[dict[str, Any]]:
        """The records of one process (its own ledger file only: cheap however big the rest)."""
        return [r for r in read_ledger(self.ledger_dir, f"*-{pid}.jsonl") if r["pid"] == pid]

    def records(self) -> list[dict[str, Any]]:
        """Everything in the ledger so far."""
        return list(read_ledger(self.ledger_dir))

    def close(self, grace: float = 5.0) -> None:
        """SIGTERM every live process, SIGKILL what is left after ``grace`` seconds."""
        for process in self.live:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.terminate()
        deadline = time.monotonic() + grace
        for process in self.live:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.live.clear()
        self.ledger.close()
