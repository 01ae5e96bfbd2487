"""The ``kmsg`` command line: ``kmsg --help`` lists the commands; docs/cli.md is the reference.

Built on Click with Rich output; subcommands are imported on first use (``app.LAZY_COMMANDS``).
:func:`main` is the console-script entry point.
"""

from __future__ import annotations

from kmsg.cli.app import cli

__all__ = ["cli", "main"]


def main() -> None:
    """Run the ``kmsg`` command (the console script and ``python -m kmsg``)."""
    cli.main(prog_name="kmsg")
