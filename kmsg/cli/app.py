"""The root ``kmsg`` group: global options, the shared CLI state, and error handling.

A user mistake (bad URL, unreachable backend, invalid input, unknown job id) prints one line to
stderr and exits with the code in :class:`ExitCode`; the traceback is shown only with
``--verbose``. Every command body runs under :func:`run_async`, which opens the configured queue
when asked to.

The global options (``--queue-url``, ``--json``, ``-v/--verbose``) are accepted before the command
(``kmsg --json queue stats``) and after it (``kmsg queue stats --json``): every subcommand gets
hidden copies of them (:func:`accept_global_options`) that update the shared :class:`CliState`.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import sys
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, NoReturn, TypeVar

import anyio
import click

from kmsg import __version__
from kmsg.cli.logs import configure_logging
from kmsg.cli.output import safe
from kmsg.errors import (
    BackendUnavailable,
    JobNotFound,
    KmsgError,
    MissingDependencyError,
    ProviderError,
    ProviderErrorCode,
    ValidationError,
)
from kmsg.queue import JobQueue
from kmsg.urls import DEFAULT_QUEUE_URL, QUEUE_URL_ENV, open_queue, redact_url

__all__ = [
    "accept_global_options",
    "CliError",
    "cli_error",
    "CliState",
    "ExitCode",
    "cli",
    "fail",
    "run_async",
    "run_with_queue",
]

T = TypeVar("T")


class ExitCode(enum.IntEnum):
    """What the ``kmsg`` process exit status means."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    NOT_FOUND = 3
    UNAVAILABLE = 4


EPILOG: Final = f"""\b
Exit codes:
  0  success
  1  failure (a job failed, a check failed, the user declined)
  2  usage error (bad option, invalid URL, phone number or payload)
  3  not found (unknown job id)
  4  backend unavailable (unreachable Redis, unopenable database, missing extra)

\b
Environment:
  {QUEUE_URL_ENV}   queue URL (default {DEFAULT_QUEUE_URL})
  K_MSG_MOCK=true   use the mock message provider
  K_MSG_PROVIDER    a provider by name (e.g. http), set up by K_MSG_<NAME>_<SETTING>
                    (K_MSG_HTTP_URL, K_MSG_HTTP_TOKEN, ...) or the [provider] table of
                    K_MSG_CONFIG (default ./kmsg.toml)
"""


class CliError(click.ClickException):
    """A failure reported as one line on stderr; subclasses choose the exit code."""

    exit_code = int(ExitCode.FAILURE)


class _UsageFailure(CliError):
    exit_code = int(ExitCode.USAGE)


class _NotFound(CliError):
    exit_code = int(ExitCode.NOT_FOUND)


class _Unavailable(CliError):
    exit_code = int(ExitCode.UNAVAILABLE)


_ERROR_CLASSES: Final[dict[ExitCode, type[CliError]]] = {
    ExitCode.FAILURE: CliError,
    ExitCode.USAGE: _UsageFailure,
    ExitCode.NOT_FOUND: _NotFound,
    ExitCode.UNAVAILABLE: _Unavailable,
}


def cli_error(message: str, exit_code: ExitCode = ExitCode.FAILURE) -> CliError:
    """The :class:`CliError` that prints ``message`` (control characters made visible) and exits
    with ``exit_code``."""
    return _ERROR_CLASSES[exit_code](safe(message))


def fail(message: str, exit_code: ExitCode = ExitCode.FAILURE) -> NoReturn:
    """Stop the command with ``message`` on stderr and ``exit_code``."""
    raise cli_error(message, exit_code)


@dataclass(frozen=True)
class CliState:
    """Global options, shared with every subcommand as ``ctx.obj``."""

    queue_url: str
    url_given: bool
    verbose: bool
    json: bool

    @property
    def shown_url(self) -> str:
        """The queue URL with any password hidden."""
        return redact_url(self.queue_url)


def _exit_code_for(exc: BaseException) -> ExitCode:
    if isinstance(exc, JobNotFound):
        return ExitCode.NOT_FOUND
    if isinstance(exc, ProviderError) and exc.code is ProviderErrorCode.TEMPLATE_NOT_FOUND:
        return ExitCode.NOT_FOUND
    if isinstance(exc, BackendUnavailable | MissingDependencyError):
        return ExitCode.UNAVAILABLE
    if isinstance(exc, ValidationError):
        return ExitCode.USAGE
    return ExitCode.FAILURE


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ProviderError):
        return f"provider error {exc}"
    if isinstance(exc, KmsgError):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc}"
    return f"unexpected {type(exc).__name__}: {exc} (run with --verbose for the traceback)"


# command name -> "module:attribute"; imported only when the command runs (or --help lists it),
# so `kmsg queue stats` does not pay for the worker and messaging imports.
LAZY_COMMANDS: Final = {
    "demo": "kmsg.cli.demo:demo_cmd",
    "info": "kmsg.cli.info_cmds:info_cmd",
    "health": "kmsg.cli.info_cmds:health_cmd",
    "send": "kmsg.cli.send_cmds:send_cmd",
    "test-send": "kmsg.cli.send_cmds:test_send_cmd",
    "worker": "kmsg.cli.worker_cmd:worker_cmd",
    "dashboard": "kmsg.cli.dashboard_cmd:dashboard_cmd",
    "templates": "kmsg.cli.templates_cmds:templates_group",
    "queue": "kmsg.cli.queue_cmds:queue_group",
    "dlq": "kmsg.cli.dlq_cmds:dlq_group",
    "migrate": "kmsg.cli.migrate:migrate_cmd",
    "status": "kmsg.cli.status_cmd:status_cmd",
}


class KmsgGroup(click.Group):
    """The root group: loads subcommands lazily and turns their errors into one line and a code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every command, in the order of :data:`LAZY_COMMANDS`."""
        return [*LAZY_COMMANDS, *super().list_commands(ctx)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import the command's module on first use."""
        target = LAZY_COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module_name, _, attribute = target.partition(":")
        command: click.Command = getattr(importlib.import_module(module_name), attribute)
        return accept_global_options(command)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; translate kmsg, OS and unexpected errors into :class:`CliError`."""
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            state = ctx.obj if isinstance(ctx.obj, CliState) else None
            if state is not None and state.verbose:
                traceback.print_exc(file=sys.stderr)
            raise cli_error(_describe(exc), _exit_code_for(exc)) from exc


def run_async(func: Callable[[], Awaitable[T]]) -> T:
    """Run an async command body on asyncio (the backend every adapter supports)."""
    return anyio.run(func)


def run_with_queue(state: CliState, func: Callable[[JobQueue], Awaitable[T]]) -> T:
    """Open the configured queue, run ``func`` with it, and close it."""

    async def body() -> T:
        async with open_queue(state.queue_url) as queue:
            return await func(queue)

    return run_async(body)


_URL_HELP: Final = f"Queue backend URL (env {QUEUE_URL_ENV})."
_VERBOSE_HELP: Final = "Log details and show tracebacks on errors."
_JSON_HELP: Final = "Print machine-readable JSON where possible."
_ACCEPTS_GLOBALS: Final = "_kmsg_accepts_global_options"


def _global_given_late(ctx: click.Context, param: click.Parameter, value: object) -> None:
    """A global option given after the subcommand: fold it into the shared :class:`CliState`."""
    if value is None or value is False:
        return
    state = ctx.obj
    if not isinstance(state, CliState):
        return
    if param.name == "late_queue_url":
        state = dataclasses.replace(state, queue_url=str(value), url_given=True)
    elif param.name == "late_verbose":
        state = dataclasses.replace(state, verbose=True)
        configure_logging(verbose=True)
    else:
        state = dataclasses.replace(state, json=True)
    old = ctx.obj
    scope: click.Context | None = ctx
    while scope is not None and scope.obj is old:  # the root's error handler reads it too
        scope.obj = state
        scope = scope.parent


def accept_global_options(command: click.Command) -> click.Command:
    """Give ``command`` (and, for a group, every command in it) hidden ``--queue-url``, ``--json``
    and ``-v/--verbose`` options, so global options work after the subcommand too."""
    if getattr(command, _ACCEPTS_GLOBALS, False):
        return command
    setattr(command, _ACCEPTS_GLOBALS, True)
    common: dict[str, Any] = {"expose_value": False, "hidden": True, "callback": _global_given_late}
    command.params += [
        click.Option(["--queue-url", "late_queue_url"], help=_URL_HELP, **common),
        click.Option(
            ["--verbose", "-v", "late_verbose"], is_flag=True, help=_VERBOSE_HELP, **common
        ),
        click.Option(["--json", "late_json"], is_flag=True, help=_JSON_HELP, **common),
    ]
    if isinstance(command, click.Group):
        for child in command.commands.values():
            accept_global_options(child)
    return command


@click.group(cls=KmsgGroup, epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--queue-url",
    envvar=QUEUE_URL_ENV,
    default=DEFAULT_QUEUE_URL,
    show_default=True,
    help=_URL_HELP + " Global options go before or after the command.",
)
@click.option("--verbose", "-v", is_flag=True, help=_VERBOSE_HELP)
@click.option("--json", "as_json", is_flag=True, help=_JSON_HELP)
@click.version_option(__version__, "--version", prog_name="kmsg")
@click.pass_context
def cli(ctx: click.Context, queue_url: str, verbose: bool, as_json: bool) -> None:
    """kmsg: queue, send and inspect message jobs on SQLite or Redis."""
    source = ctx.get_parameter_source("queue_url")
    ctx.obj = CliState(
        queue_url=queue_url,
        url_given=source is not None and source is not click.core.ParameterSource.DEFAULT,
        verbose=verbose,
        json=as_json,
    )
    configure_logging(verbose)
