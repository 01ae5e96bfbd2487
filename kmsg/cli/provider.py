"""Which message provider the CLI uses, and where the mock provider's templates live.

``K_MSG_MOCK=true`` selects :class:`~kmsg.messaging.mock.MockProvider`; otherwise
``K_MSG_PROVIDER`` (or the ``name`` of the ``[provider]`` table in ``kmsg.toml`` /
``K_MSG_CONFIG``) names a provider registered in the ``kmsg.providers`` entry-point group, built
from its settings in the environment and that table by
:func:`~kmsg.messaging.config.configure_provider` (``K_MSG_HTTP_URL``, ``K_MSG_HTTP_TOKEN``, ...).

The mock provider keeps templates in memory, which would vanish between two ``kmsg`` runs, so the
CLI keeps them in a small JSON file: next to the SQLite database (``kmsg.db`` ->
``kmsg.templates.json``), else ``kmsg-templates.json`` in the current directory, or wherever
``K_MSG_MOCK_TEMPLATES`` points. ``kmsg templates`` edits that file and ``kmsg worker`` loads it at
start (restart workers to pick up template changes).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

import msgspec

from kmsg.cli.app import CliState, ExitCode, fail
from kmsg.messaging.config import (
    CONFIG_ENV,
    DEFAULT_CONFIG_FILE,
    PROVIDER_ENV,
    configure_provider,
    read_provider_table,
)
from kmsg.messaging.mock import MockProvider
from kmsg.messaging.provider import Provider
from kmsg.messaging.template_store import InMemoryTemplateStore, ProviderTemplate

__all__ = [
    "MOCK_ENV",
    "PROVIDER_ENV",
    "TEMPLATES_ENV",
    "build_provider",
    "mock_enabled",
    "provider_configured",
    "read_templates",
    "save_templates",
    "template_store",
    "templates_path",
]

MOCK_ENV: Final = "K_MSG_MOCK"
TEMPLATES_ENV: Final = "K_MSG_MOCK_TEMPLATES"
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FILE_TYPE = list[ProviderTemplate]


def mock_enabled() -> bool:
    """Whether ``K_MSG_MOCK`` selects the mock provider."""
    return os.environ.get(MOCK_ENV, "").strip().lower() in _TRUE


def provider_configured() -> bool:
    """Whether a provider is chosen: ``K_MSG_MOCK``, ``K_MSG_PROVIDER`` or the table's ``name``.

    Raises ``ValidationError`` when ``K_MSG_CONFIG`` names no file or the file is not TOML.
    """
    return bool(mock_enabled() or os.environ.get(PROVIDER_ENV) or read_provider_table().name)


def templates_path(queue_url: str) -> Path:
    """The JSON file that holds the mock provider's templates for this queue URL."""
    explicit = os.environ.get(TEMPLATES_ENV)
    if explicit:
        return Path(explicit)
    parts = urlsplit(queue_url)
    if parts.scheme == "sqlite" and parts.path not in ("", "/"):
        return Path(parts.path[1:]).with_suffix(".templates.json")
    return Path("kmsg-templates.json")


class _ReplayClock:
    """A clock that returns given instants first, so loaded templates keep their timestamps."""

    def __init__(self) -> None:
        self.next: float | None = None

    def __call__(self) -> float:
        instant, self.next = self.next, None
        return time.time() if instant is None else instant


def read_templates(path: Path) -> list[ProviderTemplate]:
    """The templates saved in ``path`` (none if there is no file yet)."""
    if not path.exists():
        return []
    try:
        return msgspec.json.decode(path.read_bytes(), type=_FILE_TYPE)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        fail(f"mock template file {path} is damaged: {exc}")


async def template_store(saved: Iterable[ProviderTemplate]) -> InMemoryTemplateStore:
    """A template store holding ``saved``, with their timestamps kept."""
    clock = _ReplayClock()
    store = InMemoryTemplateStore(clock=clock)
    for template in saved:
        clock.next = template.created_at
        await store.create(
            template.code, name=template.name, content=template.content, status=template.status
        )
        if template.updated_at != template.created_at:
            clock.next = template.updated_at
            await store.update(template.code)
    return store


def save_templates(path: Path, templates: Iterable[ProviderTemplate]) -> None:
    """Write ``templates`` to ``path`` atomically (a temporary file, then a rename)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(msgspec.json.encode(list(templates)))
    temporary.replace(path)


async def build_provider(state: CliState, *, failure_rate: float = 0.0) -> Provider:
    """The configured provider; the mock one comes with the templates saved for this queue URL."""
    if mock_enabled():
        saved = read_templates(templates_path(state.queue_url))
        provider = MockProvider(failure_rate=failure_rate)
        provider.templates = await template_store(saved)
        return provider
    table = read_provider_table()
    name = os.environ.get(PROVIDER_ENV) or table.name
    if not name:
        fail(
            f"no message provider: set {MOCK_ENV}=true or {PROVIDER_ENV}=<name>, or name one in "
            f"the [provider] table of {DEFAULT_CONFIG_FILE} (or of the file {CONFIG_ENV} names)",
            ExitCode.USAGE,
        )
    return configure_provider(name, table=table)
