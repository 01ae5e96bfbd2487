"""``kmsg templates``: create, list, get, update and delete provider templates (AlimTalk).

With the mock provider (``K_MSG_MOCK=true``) the templates live in a JSON file next to the database
(see :mod:`kmsg.cli.provider`), saved after every change, so ``kmsg worker`` sends with them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
import msgspec
from rich.table import Table

from kmsg.cli.app import CliState, ExitCode, fail, run_async
from kmsg.cli.output import console, format_time, print_json, safe
from kmsg.cli.params import confirm, yes_option
from kmsg.cli.provider import (
    mock_enabled,
    read_templates,
    save_templates,
    template_store,
    templates_path,
)
from kmsg.messaging.template_store import (
    MAX_PAGE_SIZE,
    InMemoryTemplateStore,
    ProviderTemplate,
    TemplateStatus,
)

__all__ = ["templates_group"]

T = TypeVar("T")
_STATUS = click.Choice([status.value for status in TemplateStatus])


def _with_store(
    state: CliState, func: Callable[[InMemoryTemplateStore], Awaitable[T]], *, save: bool
) -> T:
    """Run ``func`` on the mock template file's store, saving it afterwards if ``save``."""
    if not mock_enabled():
        fail(
            "template commands need a provider with a template API; only the mock provider "
            "(K_MSG_MOCK=true) has one in this version",
            ExitCode.USAGE,
        )
    path = templates_path(state.queue_url)
    saved = read_templates(path)

    async def body() -> T:
        store = await template_store(saved)
        result = await func(store)
        if save:
            save_templates(path, await _all(store))
        return result

    return run_async(body)


async def _all(
    store: InMemoryTemplateStore, status: TemplateStatus | None = None
) -> list[ProviderTemplate]:
    found: list[ProviderTemplate] = []
    page = 1
    while True:
        listing = await store.list(page=page, page_size=MAX_PAGE_SIZE, status=status)
        found.extend(listing.templates)
        if len(found) >= listing.total or not listing.templates:
            return found
        page += 1


def _show(state: CliState, templates: list[ProviderTemplate]) -> None:
    if state.json:
        print_json([{**msgspec.to_builtins(t), "variables": t.variables} for t in templates])
        return
    table = Table(title="Templates")
    for column in ("code", "name", "status", "variables", "updated", "content"):
        table.add_column(column, overflow="fold")
    for t in templates:
        table.add_row(
            safe(t.code),
            safe(t.name),
            t.status.value,
            safe(", ".join(t.variables)),
            format_time(t.updated_at),
            safe(t.content),
        )
    console.print(table)


@click.group("templates")
def templates_group() -> None:
    """Manage the provider's message templates (AlimTalk)."""


@templates_group.command("create")
@click.argument("code")
@click.option("--name", required=True, help="A label for people.")
@click.option("--content", required=True, help="Template text with #{var} placeholders.")
@click.option("--status", type=_STATUS, default="approved", show_default=True)
@click.pass_obj
def create_cmd(state: CliState, code: str, name: str, content: str, status: str) -> None:
    """Create template CODE."""
    created = _with_store(
        state,
        lambda store: store.create(code, name=name, content=content, status=TemplateStatus(status)),
        save=True,
    )
    _show(state, [created])


@templates_group.command("list")
@click.option("--status", type=_STATUS, help="Only templates in this review status.")
@click.pass_obj
def list_cmd(state: CliState, status: str | None) -> None:
    """List every template, oldest first."""
    chosen = None if status is None else TemplateStatus(status)
    _show(state, _with_store(state, lambda store: _all(store, chosen), save=False))


@templates_group.command("get")
@click.argument("code")
@click.pass_obj
def get_cmd(state: CliState, code: str) -> None:
    """Show template CODE (exit 3 if unknown)."""
    _show(state, [_with_store(state, lambda store: store.get(code), save=False)])


@templates_group.command("update")
@click.argument("code")
@click.option("--name", help="A new label.")
@click.option("--content", help="New template text.")
@click.option("--status", type=_STATUS, help="A new review status.")
@click.pass_obj
def update_cmd(
    state: CliState, code: str, name: str | None, content: str | None, status: str | None
) -> None:
    """Change the given fields of template CODE."""
    chosen = None if status is None else TemplateStatus(status)
    updated = _with_store(
        state,
        lambda store: store.update(code, name=name, content=content, status=chosen),
        save=True,
    )
    _show(state, [updated])


@templates_group.command("delete")
@click.argument("code")
@yes_option()
@click.pass_obj
def delete_cmd(state: CliState, code: str, yes: bool) -> None:
    """Delete template CODE."""
    confirm(yes, f"Delete template {code}?")
    _with_store(state, lambda store: store.delete(code), save=True)
    if state.json:
        print_json({"deleted": code})
    else:
        console.print(safe(f"deleted template {code}"))
