"""``kmsg dashboard``: serve the web dashboard (``pip install "kmsg[dashboard]"``).

Credentials come from the environment: ``K_MSG_DASHBOARD_TOKEN``, or ``K_MSG_DASHBOARD_USER`` and
``K_MSG_DASHBOARD_PASSWORD`` (``K_MSG_DASHBOARD_SECRET`` keeps sessions across restarts). Without
them the dashboard refuses to start unless ``--insecure-local`` is given on a loopback host.
It answers only to the loopback names and the bound address unless ``--allow-host`` adds more,
and believes ``X-Forwarded-*`` headers only from a ``--trusted-proxy``.
"""

from __future__ import annotations

import click

from kmsg.cli.app import CliState
from kmsg.errors import MissingDependencyError

__all__ = ["dashboard_cmd"]


@click.command("dashboard")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--read-only", is_flag=True, help="Hide every action that changes the queue.")
@click.option("--insecure-local", is_flag=True, help="Allow no credentials (loopback hosts only).")
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="NAME",
    help="Also answer to this host name (repeatable; '*' for any, not with --insecure-local).",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    metavar="ADDRESS",
    help="Believe X-Forwarded-For/-Proto/-Host from this proxy address or network (repeatable).",
)
@click.pass_obj
def dashboard_cmd(
    state: CliState,
    host: str,
    port: int,
    read_only: bool,
    insecure_local: bool,
    allow_hosts: tuple[str, ...],
    trusted_proxies: tuple[str, ...],
) -> None:
    """Serve the web dashboard for the configured queue URL until interrupted."""
    try:
        from kmsg.dashboard import serve
    except ImportError as exc:
        raise MissingDependencyError("the dashboard", "dashboard") from exc
    serve(
        state.queue_url,
        host=host,
        port=port,
        read_only=read_only,
        insecure_local=insecure_local,
        allowed_hosts=allow_hosts,
        trusted_proxies=trusted_proxies,
    )
