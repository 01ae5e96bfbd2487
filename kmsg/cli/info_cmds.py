"""``kmsg info`` and ``kmsg health``: what is configured, and whether it is reachable."""

from __future__ import annotations

import time
from dataclasses import dataclass

import click
from rich.table import Table

from kmsg import __version__
from kmsg.cli.app import CliState, ExitCode, fail, run_async, run_with_queue
from kmsg.cli.output import console, print_json, safe, stats_table, stats_to_builtins
from kmsg.cli.provider import MOCK_ENV, PROVIDER_ENV, build_provider, provider_configured
from kmsg.cli.queue_cmds import gather_stats
from kmsg.errors import BackendUnavailable, KmsgError, MissingDependencyError
from kmsg.messaging.provider import close_provider, probe_provider
from kmsg.models import QueueStats
from kmsg.queue import Capabilities, JobQueue
from kmsg.urls import open_queue

__all__ = ["health_cmd", "info_cmd"]


@click.command("info")
@click.pass_obj
def info_cmd(state: CliState) -> None:
    """Version, backend, queue URL (password hidden) and every queue with its counts."""

    async def body(queue: JobQueue) -> tuple[Capabilities, list[QueueStats]]:
        return queue.capabilities, await gather_stats(queue)

    capabilities, all_stats = run_with_queue(state, body)
    if state.json:
        print_json(
            {
                "version": __version__,
                "backend": capabilities.backend,
                "queue_url": state.shown_url,
                "capabilities": capabilities,
                "queues": [stats_to_builtins(stats) for stats in all_stats],
            }
        )
        return
    console.print(f"kmsg {__version__}")
    console.print(f"backend:   {capabilities.backend}")
    console.print(f"queue URL: {safe(state.shown_url)}")
    if all_stats:
        console.print(stats_table(all_stats))
    else:
        console.print("no queues yet")


@dataclass(frozen=True)
class Check:
    """One health check: what was checked, whether it passed, and a detail line."""

    name: str
    ok: bool
    detail: str


async def check_backend(url: str) -> Check:
    """Open the backend and list its queues, timing the round trip.

    An unreachable backend is a failed check; a malformed URL raises ``ValidationError``.
    """
    started = time.perf_counter()
    try:
        async with open_queue(url) as queue:
            names = await queue.queues()
            backend = queue.capabilities.backend
    except (BackendUnavailable, MissingDependencyError) as exc:
        return Check("backend", False, str(exc))
    elapsed_ms = (time.perf_counter() - started) * 1000
    return Check("backend", True, f"{backend}: {len(names)} queues, {elapsed_ms:.0f} ms")


async def check_provider(state: CliState) -> Check:
    """Build the configured provider and probe it; unconfigured is reported, not failed.

    A provider with a ``probe`` (``SupportsProbe``) is asked whether its service answers:
    ``HttpProvider`` GETs its ``health_url`` (without one it reports itself configured), the
    mock provider answers ok. One without a probe is checked for configuration only.
    """
    try:
        if not provider_configured():
            return Check(
                "provider",
                True,
                f"skipped: none configured ({MOCK_ENV} / {PROVIDER_ENV} / kmsg.toml)",
            )
        provider = await build_provider(state)
    except (KmsgError, click.ClickException) as exc:
        detail = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
        return Check("provider", False, detail)
    try:
        detail = await probe_provider(provider)
    except KmsgError as exc:
        return Check("provider", False, f"{provider.name}: {exc}")
    finally:
        await close_provider(provider)
    return Check("provider", True, f"{provider.name}: {detail}")


@click.command("health")
@click.pass_obj
def health_cmd(state: CliState) -> None:
    """Check that the backend (and the message provider) is reachable; exit non-zero if not."""
    checks = [
        run_async(lambda: check_backend(state.queue_url)),
        run_async(lambda: check_provider(state)),
    ]
    if state.json:
        print_json({"ok": all(c.ok for c in checks), "checks": [c.__dict__ for c in checks]})
    else:
        table = Table(title=safe(f"Health of {state.shown_url}"))
        for column in ("check", "status", "detail"):
            table.add_column(column)
        for check in checks:
            table.add_row(check.name, "ok" if check.ok else "FAILED", safe(check.detail))
        console.print(table)
    if not checks[0].ok:
        fail(f"backend unavailable: {checks[0].detail}", ExitCode.UNAVAILABLE)
    if not all(check.ok for check in checks):
        fail("health check failed")
