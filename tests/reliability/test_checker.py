"""The checker itself: each kind of fault it reports is found in a small hand-written ledger.

Not marked ``reliability``: these run in a second, with the main suite.
"""

from __future__ import annotations

from typing import Any

from tests.reliability.checker import check

LEASE = 1.0


def claim(job: str, token: str, at: float, pid: int = 1) -> dict[str, Any]:
    """A claim record: ``at`` is the server's clock at the claim."""
    return {"e": "claim", "job": job, "token": token, "pid": pid, "t": at, "until": at + LEASE}


def ack(op: str, job: str, token: str, at: float, ok: bool = True) -> dict[str, Any]:
    """An acknowledgement record."""
    return {"e": "ack", "op": op, "job": job, "token": token, "ok": ok, "pid": 1, "t": at}


def start(job: str, token: str, at: float, pid: int = 1) -> dict[str, Any]:
    """A handler-start record."""
    return {"e": "start", "job": job, "token": token, "pid": pid, "t": at}


def run(
    job: str, token: str, at: float, pid: int = 1, op: str = "complete"
) -> list[dict[str, Any]]:
    """A claim, a start and an accepted acknowledgement."""
    return [claim(job, token, at, pid), start(job, token, at, pid), ack(op, job, token, at + 0.1)]


ENQ = {"e": "enq", "job": "j", "pid": 9, "t": 0.0}


def checked(records: list[dict[str, Any]], state: str = "completed") -> Any:
    """Check ``records`` (claims get the lease) with job ``j`` in ``state``."""
    records = [{**r, "lease": LEASE} if r["e"] == "claim" else r for r in records]
    return check(records, {"j": state})


def test_a_clean_run_reports_nothing() -> None:
    report = checked([ENQ, *run("j", "a", 1.0)])
    assert report.figures()["executions"] == 1
    assert (report.lost, report.unexplained, report.stale_accepted, report.overlaps) == (
        [],
        [],
        [],
        [],
    )


def test_a_job_neither_completed_nor_dead_is_lost() -> None:
    assert checked([ENQ], state="pending").lost == ["j"]
    assert checked([ENQ], state="failed").lost == []


def test_a_rerun_after_a_completion_is_an_unexplained_duplicate() -> None:
    report = checked([ENQ, *run("j", "a", 1.0), *run("j", "b", 5.0)])
    assert report.unexplained == ["j"]


def test_a_rerun_after_an_accepted_fail_is_no_duplicate() -> None:
    report = checked([ENQ, *run("j", "a", 1.0, op="fail"), *run("j", "b", 5.0)])
    assert (report.explained, report.unexplained) == (0, [])


def test_a_rerun_after_the_holder_was_killed_is_explained() -> None:
    kill = {"e": "fault", "kind": "kill", "target": 7, "pid": 9, "t": 1.5}
    records = [ENQ, claim("j", "a", 1.0, pid=7), start("j", "a", 1.0, pid=7), kill]
    report = checked([*records, *run("j", "b", 3.0)])
    assert (report.explained, report.unexplained) == (1, [])
    assert report.recovery == [1.5]
    late_kill = {**kill, "t": 9.0}
    assert checked([*records[:3], late_kill, *run("j", "b", 3.0)]).unexplained == ["j"]


def test_a_network_fault_explains_only_runs_it_caught() -> None:
    cut = {"e": "fault", "kind": "cut", "target": None, "pid": 9, "t": 1.5}
    vanished = [claim("j", "a", 1.0), start("j", "a", 1.0)]
    assert checked([ENQ, *vanished, cut, *run("j", "b", 3.0)]).explained == 1
    late_cut = {**cut, "t": 10.0}
    assert checked([ENQ, *vanished, late_cut, *run("j", "b", 3.0)]).unexplained == ["j"]


def test_a_completion_with_an_old_token_is_stale() -> None:
    records = [ENQ, claim("j", "a", 1.0), start("j", "a", 1.0), *run("j", "b", 3.0)]
    report = checked([*records, ack("complete", "j", "a", 4.0)])
    assert report.stale_accepted
    refused = checked([*records, ack("complete", "j", "a", 4.0, ok=False)])
    assert (refused.stale_accepted, refused.refused) == ([], 1)


def test_a_claim_inside_a_live_lease_overlaps() -> None:
    report = checked([ENQ, claim("j", "a", 1.0), claim("j", "b", 1.5)])
    assert report.overlaps == ["j"]
    extended = {**ack("extend", "j", "a", 1.3), "until": 2.5}
    assert checked([ENQ, claim("j", "a", 1.0), extended, claim("j", "b", 2.2)]).overlaps == ["j"]
    assert checked([ENQ, claim("j", "a", 1.0), claim("j", "b", 2.2)]).overlaps == []
