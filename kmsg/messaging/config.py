"""Providers configured from the environment and a TOML file, by one loader for every provider.

**Declaring settings.** A provider that needs settings (a gateway URL, a key, timeouts) declares
them as a msgspec Struct in the class attribute ``Settings`` and builds itself from one with the
classmethod ``from_settings``; :class:`~kmsg.messaging.http.HttpProvider` does so with
:class:`~kmsg.messaging.http.HttpSettings`. A gateway provider added later (NHN Cloud, SOLAPI,
Aligo, ...) does the same and registers under the ``kmsg.providers`` entry-point group; nothing
here changes. A factory without ``Settings`` is called with no arguments.

**Where each setting comes from**, first found wins:

1. the environment variable ``K_MSG_<PROVIDER>_<FIELD>``: provider name and field upper-cased,
   any other character as ``_`` (``K_MSG_HTTP_URL``, ``K_MSG_HTTP_TOKEN``). A variable that is
   set counts, even when empty;
2. the ``[provider]`` table of the config file: ``K_MSG_CONFIG`` names it (it must exist), else
   ``kmsg.toml`` in the current directory is read when there is one. The table applies to the
   provider its ``name`` key names (or to any provider when it has no ``name``);
3. the field's default.

Which provider: ``K_MSG_PROVIDER``, else the table's ``name``. Example ``kmsg.toml``::

    [provider]
    name = "http"
    url = "https://sms.example.com/v1/send"
    timeout = 5               # seconds, the whole send
    health_url = "/health"    # what `kmsg health` probes
    # token: better in the environment (K_MSG_HTTP_TOKEN) than in a file

Environment values are text, converted to the field's type (``"5"`` -> ``5.0``, ``"true"``).
Every mistake is a :class:`~kmsg.ValidationError` naming where to fix it: a missing required
setting names its variable and its key (``provider 'http' needs K_MSG_HTTP_URL (or url in the
[provider] table of kmsg.toml)``), a bad value its variable or key, an unknown key in the table
the key and the provider's known ones. Values never appear in these messages, so a secret put in
the wrong place is not printed.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import msgspec

from kmsg.errors import ValidationError
from kmsg.messaging.provider import Provider, provider_factory

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG_FILE",
    "PROVIDER_ENV",
    "ProviderTable",
    "configure_provider",
    "load_settings",
    "read_provider_table",
    "setting_variable",
]

CONFIG_ENV: Final = "K_MSG_CONFIG"
DEFAULT_CONFIG_FILE: Final = "kmsg.toml"
PROVIDER_ENV: Final = "K_MSG_PROVIDER"
_NOT_NAME: Final = re.compile(r"[^A-Z0-9]")
_AT_FIELD: Final = re.compile(r"at `\$\.(\w+)")

S = TypeVar("S", bound=msgspec.Struct)


@dataclass(frozen=True)
class ProviderTable:
    """The ``[provider]`` table of a config file; ``source`` is the file (None: no file)."""

    values: Mapping[str, Any] = field(default_factory=dict)
    source: Path | None = None

    @property
    def name(self) -> str | None:
        """The provider the table is for (its ``name`` key), if it says."""
        name = self.values.get("name")
        return name if isinstance(name, str) and name else None

    def where(self, key: str) -> str:
        """How to point a user at ``key`` in this table."""
        return f"{key} in the [provider] table of {self.source or DEFAULT_CONFIG_FILE}"


def read_provider_table(environ: Mapping[str, str] | None = None) -> ProviderTable:
    """The ``[provider]`` table of ``K_MSG_CONFIG`` or ``./kmsg.toml`` (empty without a file).

    Raises ``ValidationError`` when ``K_MSG_CONFIG`` names no file, or the file is not valid
    TOML or its ``provider`` entry is not a table. Other tables are left for other readers.
    """
    env = os.environ if environ is None else environ
    explicit = env.get(CONFIG_ENV)
    path = Path(explicit) if explicit else Path(DEFAULT_CONFIG_FILE)
    if not path.is_file():
        if explicit:
            raise ValidationError(f"{CONFIG_ENV}={explicit}: no such file")
        return ProviderTable()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValidationError(f"config file {path}: {exc}") from None
    table = document.get("provider", {})
    if not isinstance(table, dict):
        raise ValidationError(f"config file {path}: provider must be a table ([provider])")
    return ProviderTable(table, path)


def setting_variable(provider: str, field_name: str) -> str:
    """The variable of a provider's setting: ``("http", "url")`` -> ``K_MSG_HTTP_URL``."""
    return f"K_MSG_{_NOT_NAME.sub('_', provider.upper())}_{_NOT_NAME.sub('_', field_name.upper())}"


def load_settings(
    settings_type: type[S],
    provider: str,
    *,
    environ: Mapping[str, str] | None = None,
    table: ProviderTable | None = None,
) -> S:
    """``settings_type`` filled from the environment, then ``table``, then its defaults.

    The module docstring gives the order and the variable names. Raises ``ValidationError``
    naming the variable or key of a missing or invalid setting, or an unknown key in ``table``.
    """
    env = os.environ if environ is None else environ
    table = table if table is not None else ProviderTable()
    fields = msgspec.structs.fields(settings_type)
    unknown = sorted(set(table.values) - {f.encode_name for f in fields} - {"name"})
    if unknown:
        known = ", ".join(f.encode_name for f in fields)
        raise ValidationError(
            f"unknown setting {', '.join(unknown)} for provider {provider!r} in the [provider] "
            f"table of {table.source}; known: {known}"
        )
    raw: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for info in fields:
        variable = setting_variable(provider, info.name)
        if variable in env:
            raw[info.encode_name], sources[info.encode_name] = env[variable], variable
        elif info.encode_name in table.values:
            raw[info.encode_name] = table.values[info.encode_name]
            sources[info.encode_name] = table.where(info.encode_name)
        elif info.required:
            raise ValidationError(
                f"provider {provider!r} needs {variable} (or {table.where(info.encode_name)})"
            )
    try:
        return msgspec.convert(raw, settings_type, strict=False)
    except msgspec.ValidationError as exc:
        found = _AT_FIELD.search(str(exc))
        where = sources.get(found.group(1), "") if found else ""
        raise ValidationError(f"provider {provider!r} setting {where}: {exc}") from None


def configure_provider(
    name: str,
    *,
    environ: Mapping[str, str] | None = None,
    table: ProviderTable | None = None,
) -> Provider:
    """The provider registered as ``name``, built from its settings (module docstring).

    ``table`` defaults to :func:`read_provider_table`; it is ignored when its ``name`` names
    another provider. Raises ``ValidationError`` (unknown provider, bad settings, a factory that
    does not make a Provider) or ``MissingDependencyError`` (the provider's extra is missing).
    """
    env = os.environ if environ is None else environ
    if table is None:
        table = read_provider_table(env)
    if table.name not in (None, name):
        table = ProviderTable(source=table.source)
    factory = provider_factory(name)
    settings_type = getattr(factory, "Settings", None)
    if settings_type is None:
        extra = sorted(set(table.values) - {"name"})
        if extra:
            raise ValidationError(
                f"provider {name!r} takes no settings, but the [provider] table of "
                f"{table.source} sets {', '.join(extra)}"
            )
        provider = factory()
    elif isinstance(settings_type, type) and issubclass(settings_type, msgspec.Struct):
        provider = factory.from_settings(
            load_settings(settings_type, name, environ=env, table=table)
        )
    else:
        raise ValidationError(f"provider {name!r}: Settings is not a msgspec Struct type")
    if not isinstance(provider, Provider):
        raise ValidationError(f"provider {name!r} made {provider!r}, which is not a Provider")
    return provider
