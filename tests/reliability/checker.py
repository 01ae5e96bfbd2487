"""The checker: reads a ledger and the queue's final states, and counts what went wrong.

* **lost**: acknowledged enqueues whose job is neither ``completed`` nor ``failed`` at the end.
* **duplicates**: a handler run that began after an earlier run of the same job that was not
  given back (an accepted ``fail`` or ``release`` gives a job back). It is *explained* when the
  earlier holder was killed or paused by the harness, lost its lease (``LeaseLost`` on an ack),
  or held the job when a network fault was injected; *unexplained* otherwise.
* **stale completions accepted**: a ``complete`` that succeeded with a token that was not the
  job's newest lease, or a second accepted ``complete`` of one job.
* **overlapping leases**: a claim made (server clock) before the previous holder's lease deadline
  (its claim or latest accepted ``extend``) while that holder had not given the job back.
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Report", "check"]

HOLDER_FAULTS = frozenset({"kill", "stop"})
NETWORK_FAULTS = frozenset({"cut", "blackhole", "drop_reply", "redis_kill"})
# Claims and deadlines are read from different calls; allow this much clock noise (seconds).
SLACK = 0.05


@dataclass
class _Run:
    token: str
    pid: int
    claimed_now: float
    deadline: float
    claimed_at: float
    started_at: float | None = None
    acks: list[dict[str, Any]] = field(default_factory=list)

    def accepted(self, op: str) -> bool:
        return any(a["op"] == op and a["ok"] for a in self.acks)

    @property
    def given_back(self) -> bool:
        return self.accepted("fail") or self.accepted("release")

    @property
    def cut_off(self) -> bool:
        return any(not a["ok"] for a in self.acks)

    def hit_by(self, fault_times: list[float], rerun_at: float) -> bool:
        """Whether a network fault happened while this run held its job, before the rerun."""
        settled = [a["t"] for a in self.acks if a["ok"] and a["op"] != "extend"]
        end = min([*settled, rerun_at])
        return any(self.claimed_at <= t <= end for t in fault_times)


@dataclass
class Report:
    """What the checker found; :meth:`figures` gives the numbers for the report."""

    enqueued: int = 0
    executions: int = 0
    lost: list[str] = field(default_factory=list)
    explained: int = 0
    unexplained: list[str] = field(default_factory=list)
    stale_accepted: list[str] = field(default_factory=list)
    overlaps: list[str] = field(default_factory=list)
    refused: int = 0
    """Acknowledgements (complete or fail) the backend refused with ``LeaseLost``."""
    recovery: list[float] = field(default_factory=list)
    """Seconds from killing or pausing a holder to the next run of its job, per such job."""

    def figures(self) -> dict[str, float]:
        """The counts, for the results JSON."""
        return {
            "enqueued": self.enqueued,
            "executions": self.executions,
            "lost": len(self.lost),
            "duplicates_explained": self.explained,
            "duplicates_unexplained": len(self.unexplained),
            "stale_completions_accepted": len(self.stale_accepted),
            "stale_acks_refused": self.refused,
            "overlapping_leases": len(self.overlaps),
        } | self._redelivery()

    def _redelivery(self) -> dict[str, float]:
        if not self.recovery:
            return {}
        return {
            "median_redelivery_s": round(statistics.median(self.recovery), 2),
            "max_redelivery_s": round(max(self.recovery), 2),
        }


def _runs(records: list[dict[str, Any]]) -> dict[str, list[_Run]]:
    """Claims per job (in server-clock order), with their starts and acknowledgements."""
    by_token: dict[str, _Run] = {}
    jobs: dict[str, list[_Run]] = defaultdict(list)
    for r in records:
        if r["e"] == "claim":
            run = _Run(r["token"], r["pid"], r["until"] - r["lease"], r["until"], r["t"])
            by_token[r["token"]] = run
            jobs[r["job"]].append(run)
    for r in records:
        held = by_token.get(r.get("token", ""))
        if held is None:
            continue
        if r["e"] == "start":
            held.started_at = r["t"]
        elif r["e"] == "ack":
            held.acks.append(r)
            if r["op"] == "extend" and r["ok"]:
                held.deadline = max(held.deadline, r["until"])
    for runs in jobs.values():
        runs.sort(key=lambda run: run.claimed_now)
    return jobs


def _faulted(records: list[dict[str, Any]]) -> tuple[dict[int, list[float]], list[float]]:
    """When each holder was killed or paused; when network faults happened."""
    pids: dict[int, list[float]] = defaultdict(list)
    for r in records:
        if r["e"] == "fault" and r["kind"] in HOLDER_FAULTS:
            pids[r["target"]].append(r["t"])
    network = [r["t"] for r in records if r["e"] == "fault" and r["kind"] in NETWORK_FAULTS]
    return pids, network


def check(records: Iterable[dict[str, Any]], final_states: Mapping[str, str]) -> Report:
    """Check a ledger against the final state of every enqueued job (job id -> state value)."""
    records = list(records)
    report = Report()
    enqueued = {r["job"] for r in records if r["e"] == "enq"}
    report.enqueued = len(enqueued)
    report.refused = sum(
        r["e"] == "ack" and r["op"] in ("complete", "fail") and not r["ok"] for r in records
    )
    report.lost = sorted(j for j in enqueued if final_states.get(j) not in ("completed", "failed"))
    faulted_pids, network_faults = _faulted(records)
    for job, runs in _runs(records).items():
        started = [run for run in runs if run.started_at is not None]
        report.executions += len(started)
        for earlier, later in itertools.pairwise(started):
            if earlier.given_back:
                continue
            assert later.started_at is not None
            hits = sorted(t for t in faulted_pids.get(earlier.pid, ()) if t <= later.started_at)
            if hits and hits[-1] >= earlier.claimed_at:
                report.explained += 1
                report.recovery.append(later.started_at - hits[-1])
            elif earlier.cut_off or earlier.hit_by(network_faults, later.started_at):
                report.explained += 1
            else:
                report.unexplained.append(job)
        completes = [run for run in runs if run.accepted("complete")]
        report.stale_accepted += [job for run in completes if run is not runs[-1]]
        report.stale_accepted += [job] * max(0, len(completes) - 1)
        for earlier, later in itertools.pairwise(runs):
            if not earlier.given_back and later.claimed_now < earlier.deadline - SLACK:
                report.overlaps.append(job)
    return report
