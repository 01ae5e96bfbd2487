"""Click parameter types and options shared by the commands: durations, states, queues, --yes,
--create, and the confirmation question."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final, TypeVar

import anyio
import click

from kmsg.cli.output import safe
from kmsg.models import JobState

__all__ = [
    "DURATION",
    "STATE",
    "Duration",
    "confirm",
    "confirm_async",
    "create_option",
    "queue_option",
    "yes_option",
]

F = TypeVar("F", bound=Callable[..., Any])

_UNITS: Final = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PATTERN: Final = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")


class Duration(click.ParamType[float, Any]):
    """Seconds, written as ``90``, ``45s``, ``10m``, ``2h``, ``7d`` or ``1w``."""

    name = "duration"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        """Parse ``value`` to seconds, or fail with a usage error."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        match = _PATTERN.fullmatch(str(value).strip().lower())
        if match is None:
            self.fail(f"{value!r} is not a duration (e.g. 90, 45s, 10m, 2h, 7d)", param, ctx)
        return float(match.group(1)) * _UNITS[match.group(2)]


DURATION: Final = Duration()
STATE: Final = click.Choice([state.value for state in JobState])


def queue_option(*, multiple: bool = False) -> Callable[[F], F]:
    """The ``--queue/-q`` option: one queue name (default ``default``), or several."""
    if multiple:
        return click.option(
            "--queue",
            "-q",
            "queues",
            multiple=True,
            help="Queue name (repeatable; default: every queue).",
        )
    return click.option(
        "--queue", "-q", "queue_name", default="default", show_default=True, help="Queue name."
    )


def yes_option() -> Callable[[F], F]:
    """The ``--yes/-y`` option that skips the confirmation of a destructive action."""
    return click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")


def confirm(yes: bool, prompt: str) -> None:
    """Ask ``prompt`` unless ``yes``; a refusal aborts the command (exit 1)."""
    if not yes:
        click.confirm(safe(prompt), abort=True, err=True)


async def confirm_async(yes: bool, prompt: str) -> None:
    """:func:`confirm` from inside a command's async body (the question waits in a thread)."""
    if not yes:
        await anyio.to_thread.run_sync(confirm, yes, prompt)


def create_option() -> Callable[[F], F]:
    """The ``--create`` option: act on a queue the backend has never seen (see ``known.py``)."""
    return click.option(
        "--create", is_flag=True, help="Allow a queue that has never been seen (a new queue)."
    )
