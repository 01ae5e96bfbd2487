"""Parse a ``sqlite://`` URL and the adapter's options into a frozen :class:`SQLiteOptions`.

``sqlite:///kmsg.db`` is a path relative to the working directory, ``sqlite:////abs/kmsg.db`` an
absolute one. Query parameters and keyword arguments are options (keywords win):

- ``synchronous``: ``NORMAL`` (default) or ``FULL``.
- ``busy_timeout``: a call waits for another connection's write lock for
  ``max(30, 2 * busy_timeout)`` seconds before ``BackendUnavailable`` (default 5).
- ``poll_interval``: the most seconds between ``wait_for_jobs`` checks for commits by other
  connections (default 0.01); checks are every 1 ms while commits are frequent.
- ``max_payload_bytes``: the payload size limit (default 256 KiB).
- ``clock``: a ``() -> float`` returning epoch seconds (keyword only; default ``time.time``).
- ``create``: ``true`` (default) makes the database file when it does not exist; ``false``
  refuses a missing file with ``BackendUnavailable`` instead (``kmsg migrate`` opens its source
  so, and never creates it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

from kmsg.codec import DEFAULT_MAX_PAYLOAD_BYTES
from kmsg.errors import ValidationError

__all__ = ["SQLiteOptions", "parse_url"]

SYNCHRONOUS_MODES: Final = frozenset({"NORMAL", "FULL"})
_KNOWN: Final = frozenset(
    {"synchronous", "busy_timeout", "poll_interval", "max_payload_bytes", "clock", "create"}
)


@dataclass(frozen=True, kw_only=True)
class SQLiteOptions:
    """Everything needed to open one SQLite queue; built by :func:`parse_url`."""

    path: Path
    synchronous: str = "NORMAL"
    busy_timeout: float = 5.0
    poll_interval: float = 0.01
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    clock: Callable[[], float] = field(default=time.time, repr=False)
    create: bool = True


def _path_of(url: str) -> Path:
    parts = urlsplit(url)
    if parts.scheme.lower() != "sqlite":
        raise ValidationError(f"not a sqlite:// URL: {url!r}")
    if parts.netloc:
        raise ValidationError(
            f"sqlite URL {url!r} has a host; use sqlite:///relative.db or sqlite:////abs/path.db"
        )
    raw = unquote(parts.path)
    # urlsplit keeps the slash after the empty host: "/rel.db" is relative, "//abs.db" absolute.
    relative = raw[1:] if raw.startswith("/") else raw
    if not relative or relative.endswith("/"):
        raise ValidationError(f"sqlite URL {url!r} names no database file")
    return Path(relative)


def _number(name: str, value: Any, low: float, high: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"option {name} must be a number, not {value!r}") from None
    if isinstance(value, bool) or not low <= number <= high:
        raise ValidationError(f"option {name} must be between {low:g} and {high:g}, not {value!r}")
    return number


def _integer(name: str, value: Any, low: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"option {name} must be an integer, not {value!r}") from None
    if isinstance(value, bool | float) or number < low:
        raise ValidationError(f"option {name} must be an integer of at least {low}, not {value!r}")
    return number


def _synchronous(value: Any) -> str:
    mode = str(value).upper()
    if mode not in SYNCHRONOUS_MODES:
        raise ValidationError(f"option synchronous must be NORMAL or FULL, not {value!r}")
    return mode


def parse_url(url: str, options: Mapping[str, Any]) -> SQLiteOptions:
    """Build the options from ``url`` and keyword ``options``; ``ValidationError`` if bad."""
    merged: dict[str, Any] = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    if "clock" in merged:
        raise ValidationError("option clock can only be given as a keyword argument")
    merged.update(options)
    unknown = sorted(set(merged) - _KNOWN)
    if unknown:
        raise ValidationError(f"unknown sqlite options {unknown}; known: {sorted(_KNOWN)}")
    clock = merged.get("clock", time.time)
    if not callable(clock):
        raise ValidationError("option clock must be a callable returning epoch seconds")
    return SQLiteOptions(
        path=_path_of(url),
        synchronous=_synchronous(merged.get("synchronous", "NORMAL")),
        busy_timeout=_number("busy_timeout", merged.get("busy_timeout", 5.0), 0.0, 3600.0),
        poll_interval=_number("poll_interval", merged.get("poll_interval", 0.01), 0.001, 60.0),
        max_payload_bytes=_integer(
            "max_payload_bytes", merged.get("max_payload_bytes", DEFAULT_MAX_PAYLOAD_BYTES), 1
        ),
        clock=clock,
        create=_flag("create", merged.get("create", True)),
    )


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in ("true", "false", "1", "0", "yes", "no"):
        raise ValidationError(f"option {name} must be true or false, not {value!r}")
    return text in ("true", "1", "yes")
