"""Rendering for the CLI: Rich tables for people, JSON for scripts (``--json``).

Every renderer takes plain kmsg models; JSON output turns stored payload and result bytes back into
JSON values so a script can read them without decoding twice.

Hostile text. Job payloads, errors, template texts, queue URLs and user arguments reach the
terminal, and none of them may restyle it or hide part of itself. So both consoles print text
literally (Rich markup and ``:emoji:`` codes are off: ``[red]X`` and ``pip install "kmsg[http]"``
print as written), and every piece of stored or user-supplied text goes through :func:`safe`, which
shows control characters (ANSI escape sequences, ``\\r``, backspace, bidi overrides) as visible
escapes. JSON output needs neither: the JSON encoder escapes control characters itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, Final

import click
import msgspec
from rich.console import Console
from rich.table import Table

from kmsg.models import Job, QueueStats, RetryResult

__all__ = [
    "console",
    "err_console",
    "format_age",
    "format_time",
    "human_duration",
    "job_to_builtins",
    "jobs_table",
    "print_job",
    "print_json",
    "safe",
    "skip_lines",
    "skips_to_builtins",
    "stats_to_builtins",
    "stats_table",
]

console = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)

_NAMED: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
# Bidirectional formatting characters can reorder what follows them on screen ("Trojan Source").
_BIDI: Final = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_CONTROL: Final = {
    code: _NAMED.get(chr(code), f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    for code in (*range(0x20), *range(0x7F, 0xA0), *_BIDI)
}


def safe(value: object) -> str:
    """``str(value)`` fit for the terminal: every control character (C0, DEL, C1, bidi
    overrides) shown as an escape such as ``\\x1b`` or ``\\r``, so stored or user-supplied text
    can neither restyle the terminal nor overwrite or hide part of a line.

    The consoles print literally (module docstring), so markup in the text shows as written.
    """
    return str(value).translate(_CONTROL)


_STATE_COLUMNS = ("pending", "delayed", "processing", "completed", "failed", "cancelled")


def print_json(data: object) -> None:
    """Write ``data`` as one line of JSON on stdout."""
    click.echo(msgspec.json.encode(data).decode())


def _json_value(raw: bytes | None) -> Any:
    """Stored bytes as a JSON value when they are JSON, else as text."""
    if raw is None:
        return None
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return raw.decode(errors="replace")


def _json_text(value: Any) -> str:
    """``value`` as JSON text with non-ASCII text kept readable (Korean stays Korean)."""
    return msgspec.json.encode(value).decode()


def job_to_builtins(job: Job) -> dict[str, Any]:
    """A job as JSON-ready builtins, with payload, result and progress decoded."""
    data: dict[str, Any] = msgspec.to_builtins(job)
    data["payload"] = _json_value(job.payload)
    data["result"] = _json_value(job.result)
    data["progress"] = _json_value(job.progress)
    return data


def skips_to_builtins(result: RetryResult) -> dict[str, Any]:
    """The skipped part of a :class:`~kmsg.RetryResult` as JSON-ready builtins."""
    return {
        "skipped": result.skipped_count,
        "skips": [msgspec.to_builtins(skip) for skip in result.skipped],
    }


def skip_lines(result: RetryResult, most: int = 20) -> list[str]:
    """Lines telling people what a retry skipped and why (the first ``most`` named)."""
    if not result.skipped_count:
        return []
    lines = [f"skipped {result.skipped_count} (left where they were):"]
    lines += [f"  {safe(skip.describe())}" for skip in result.skipped[:most]]
    if result.skipped_count > most:
        lines.append(f"  ... and {result.skipped_count - most} more (--json lists up to 1000)")
    return lines


def stats_to_builtins(stats: QueueStats) -> dict[str, Any]:
    """Queue stats as JSON-ready builtins, with the total added."""
    data: dict[str, Any] = msgspec.to_builtins(stats)
    data["total"] = stats.total
    return data


def format_time(epoch: float | None) -> str:
    """An epoch instant as local ISO time to the second, or ``-``."""
    if epoch is None:
        return "-"
    return dt.datetime.fromtimestamp(epoch).isoformat(sep=" ", timespec="seconds")


def format_age(seconds: float | None) -> str:
    """A duration as ``1h02m``, ``3m05s`` or ``4.2s``, or ``-``."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def human_duration(seconds: float) -> str:
    """A duration the way people write it: ``7d``, ``1h30m``, ``2m05s``, ``45s``, ``0.5s``."""
    if seconds < 59.5:
        return f"{seconds:.3g}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    counts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    first = next(i for i, (count, _) in enumerate(counts) if count)
    (big, big_unit), (small, small_unit) = counts[first], counts[min(first + 1, 3)]
    text = f"{big}{big_unit}"
    if small and small_unit != big_unit:
        text += f"{small:02d}{small_unit}" if small_unit in "ms" else f"{small}{small_unit}"
    return text


def stats_table(all_stats: Iterable[QueueStats]) -> Table:
    """One row per queue: counts per state, oldest pending age and settings."""
    table = Table(title="Queues")
    table.add_column("queue", no_wrap=True)
    for name in _STATE_COLUMNS:
        table.add_column(name, justify="right")
    table.add_column("oldest pending", justify="right")
    table.add_column("settings")
    for stats in all_stats:
        settings = ["paused"] if stats.paused else []
        if stats.rate_limit is not None:
            limit = stats.rate_limit
            settings.append(f"rate {limit.max_jobs}/{limit.per_seconds:g}s")
        table.add_row(
            safe(stats.queue),
            *(str(getattr(stats, name)) for name in _STATE_COLUMNS),
            format_age(stats.oldest_pending_age),
            ", ".join(settings) or "-",
        )
    return table


def jobs_table(jobs: Sequence[Job], *, title: str) -> Table:
    """One row per job: id, task, state, attempts, due time and last error."""
    table = Table(title=safe(title))
    # In a narrow terminal the task is shortened and the time and error wrap, so the id, state
    # and attempts (what people scan) stay whole.
    table.add_column("id", no_wrap=True, min_width=26)
    table.add_column("task", no_wrap=True, overflow="ellipsis", max_width=14)
    table.add_column("state", no_wrap=True, min_width=6)
    table.add_column("tries", justify="right", no_wrap=True, min_width=5)
    table.add_column("run at / ended", min_width=10)
    table.add_column("last error", overflow="fold", min_width=10)
    for job in jobs:
        ended = job.failed_at or job.completed_at or job.cancelled_at
        error = job.last_error
        table.add_row(
            safe(job.id),
            safe(job.task),
            job.state.value,
            f"{job.attempts}/{job.max_attempts}",
            format_time(ended if ended is not None else job.run_at),
            safe(f"{error.type}: {error.message}") if error else "-",
        )
    return table


def print_job(job: Job) -> None:
    """Every field of one job, its payload, result and error history."""
    table = Table(show_header=False, title=safe(f"Job {job.id}"))
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    data = job_to_builtins(job)
    for key in ("id", "queue", "task", "state", "priority", "attempts", "max_attempts", "lease"):
        table.add_row(key, safe(data[key]))
    for key in ("created_at", "run_at", "lease_until", "completed_at", "failed_at", "cancelled_at"):
        table.add_row(key, format_time(getattr(job, key)))
    table.add_row("dedupe_key", safe(job.dedupe_key or "-"))
    table.add_row("payload", safe(_json_text(data["payload"])))
    table.add_row("result", "-" if job.result is None else safe(_json_text(data["result"])))
    progress = "-" if job.progress is None else safe(_json_text(data["progress"]))
    table.add_row("progress", progress)
    for error in job.errors:
        table.add_row(
            f"error #{error.attempt}",
            safe(f"{format_time(error.at)} {error.type}: {error.message}"),
        )
    console.print(table)
