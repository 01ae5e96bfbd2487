"""Redis URLs and options -> settings -> a redis-py client (asyncio or blocking); errors -> kmsg
errors.

URLs: ``redis://[user:password@]host:port/db``, ``rediss://...`` (TLS),
``redis+cluster://host:port`` and ``rediss+cluster://host:port`` (Redis Cluster; any node works as
the seed). The port must be a number from 1 to 65535 and the database a whole number (``/0``;
none means 0); anything else is a ``ValidationError`` before any connection is tried. A database
the server does not have (``/99`` with the default 16) is a ``ValidationError`` at open, saying so
(see :func:`translate_error`).

Options, as keyword arguments or URL query parameters: ``key_prefix`` (default ``kmsg``),
``max_payload_bytes``, ``socket_timeout`` and ``socket_connect_timeout`` (seconds), ``eviction``
(``refuse``, the default, or ``warn``: what to do about a server whose ``maxmemory-policy`` may
evict keys; see server.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from redis import Redis as SyncRedis
from redis import exceptions as redis_errors
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster as SyncRedisCluster
from redis.retry import Retry as SyncRetry

from kmsg.adapters.redis.keys import DEFAULT_PREFIX, check_prefix
from kmsg.codec import DEFAULT_MAX_PAYLOAD_BYTES
from kmsg.errors import BackendFull, BackendUnavailable, ValidationError
from kmsg.urls import redact_url
from kmsg.validation import check_seconds

__all__ = ["RedisSettings", "backend_errors", "parse_settings", "translate_error"]

_SCHEMES: Final = {
    "redis": ("redis", False),
    "rediss": ("rediss", False),
    "redis+cluster": ("redis", True),
    "rediss+cluster": ("rediss", True),
}
_OPTIONS: Final = (
    "key_prefix",
    "max_payload_bytes",
    "socket_timeout",
    "socket_connect_timeout",
    "eviction",
)
_EVICTION: Final = ("refuse", "warn")
# Connection-level failures; a command whose reply was lost is retried (by redis-py on a cluster,
# by the CommandPipe on plain Redis), which the scripts make safe (enqueue is keyed by job id,
# complete by token).
_UNAVAILABLE: Final = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.BusyLoadingError,
    redis_errors.ClusterDownError,
    redis_errors.ClusterError,
    redis_errors.RedisClusterException,
    redis_errors.NoPermissionError,
    redis_errors.ReadOnlyError,
    OSError,
)

# How Redis words an ACL refusal of a command or key inside a script.
_PERMISSION_MARKERS: Final = ("NOPERM", "can't run this command", "can't access")


@dataclass(frozen=True)
class RedisSettings:
    """Where and how to connect; ``repr`` never shows the password."""

    url: str = field(repr=False)
    cluster: bool
    key_prefix: str = DEFAULT_PREFIX
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    socket_timeout: float = 5.0
    socket_connect_timeout: float = 5.0
    eviction: str = "refuse"

    @property
    def redacted_url(self) -> str:
        """The URL with any password replaced by ``***``."""
        return redact_url(self.url)

    def __repr__(self) -> str:
        return (
            f"RedisSettings(url={self.redacted_url!r}, cluster={self.cluster}, "
            f"key_prefix={self.key_prefix!r})"
        )

    def client(self) -> Redis | RedisCluster:
        """A new redis-py asyncio client (not yet connected)."""
        options: dict[str, Any] = {
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": self.socket_connect_timeout,
            "retry": Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=3),
        }
        if self.cluster:
            return RedisCluster.from_url(self.url, **options)
        return Redis.from_url(self.url, **options)

    def sync_client(self) -> Any:
        """A new redis-py blocking client (thread-safe; connects on first use)."""
        options: dict[str, Any] = {
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": self.socket_connect_timeout,
            "retry": SyncRetry(ExponentialBackoff(cap=1.0, base=0.05), retries=3),
        }
        if self.cluster:
            return SyncRedisCluster.from_url(self.url, **options)
        return SyncRedis.from_url(self.url, **options)


def _number(name: str, value: object) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValidationError(f"{name} must be a number, not {value!r}") from None
    return check_seconds(name, value, high=3600.0)


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{name} must be a positive integer, not {value!r}")
    return value


def parse_settings(url: str, options: Mapping[str, object]) -> RedisSettings:
    """Validate ``url`` and the options (keyword arguments win over query parameters)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        raise ValidationError(f"not a Redis URL: {redact_url(url)!r}")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    merged = {**{k: v for k, v in query.items() if k in _OPTIONS}, **options}
    unknown = sorted(set(merged) - set(_OPTIONS)) + sorted(set(query) - set(_OPTIONS))
    if unknown:
        raise ValidationError(f"unknown Redis options {unknown}; known: {list(_OPTIONS)}")
    client_scheme, cluster = _SCHEMES[scheme]
    _check_port(url)
    database = parts.path.strip("/")
    if database and not (database.isascii() and database.isdigit()):
        raise ValidationError(
            f"Redis URL {redact_url(url)!r}: the database must be a number (/0), not {database!r}"
        )
    if cluster and database not in ("", "0"):
        raise ValidationError("Redis Cluster has only database 0")
    client_url = urlunsplit((client_scheme, parts.netloc, parts.path, "", ""))
    return RedisSettings(
        url=client_url,
        cluster=cluster,
        key_prefix=check_prefix(merged.get("key_prefix", DEFAULT_PREFIX)),
        max_payload_bytes=_positive_int(
            "max_payload_bytes", merged.get("max_payload_bytes", DEFAULT_MAX_PAYLOAD_BYTES)
        ),
        socket_timeout=_number("socket_timeout", merged.get("socket_timeout", 5.0)),
        socket_connect_timeout=_number(
            "socket_connect_timeout", merged.get("socket_connect_timeout", 5.0)
        ),
        eviction=_eviction(merged.get("eviction", "refuse")),
    )


def _check_port(url: str) -> None:
    try:
        port = urlsplit(url).port
    except ValueError:
        port = 0
    if port == 0:
        netloc = urlsplit(redact_url(url)).netloc
        raise ValidationError(
            f"Redis URL {redact_url(url)!r}: bad port in {netloc!r}; use a number 1 to 65535"
        )


def _database(url: str) -> str:
    return urlsplit(url).path.strip("/") or "0"


def _eviction(value: object) -> str:
    if value not in _EVICTION:
        raise ValidationError(f"eviction must be one of {list(_EVICTION)}, not {value!r}")
    return str(value)


def translate_error(settings: RedisSettings, exc: Exception) -> Exception:
    """The kmsg error for a redis-py failure: ``BackendFull`` for ``OOM``, ``BackendUnavailable``
    for connection failures and ACL refusals (password never shown), ``ValidationError`` for a
    database number the server does not have; any other error is returned as it is."""
    if isinstance(exc, redis_errors.OutOfMemoryError):
        error: Exception = BackendFull(
            f"Redis at {settings.redacted_url} is out of memory (used memory > maxmemory):"
            " nothing was written; drain or clean up queues, or raise maxmemory"
        )
    elif isinstance(exc, _UNAVAILABLE):
        error = BackendUnavailable(
            f"Redis at {settings.redacted_url} is unavailable: {type(exc).__name__}: {exc}"
        )
    elif isinstance(exc, redis_errors.ResponseError) and "DB index is out of range" in str(exc):
        error = ValidationError(
            f"Redis at {settings.redacted_url} has no database {_database(settings.url)} (a server"
            " has 16 unless its `databases` setting says more; use /0 to /15 by default)"
        )
    elif isinstance(exc, redis_errors.ResponseError) and any(
        marker in str(exc) for marker in _PERMISSION_MARKERS
    ):
        error = BackendUnavailable(
            f"Redis at {settings.redacted_url} refused a command: no permission (see the ACL"
            f" in the kmsg Redis docs): {exc}"
        )
    else:
        return exc
    error.__cause__ = exc
    return error


@contextmanager
def backend_errors(settings: RedisSettings) -> Iterator[None]:
    """Turn redis-py connection failures into ``BackendUnavailable`` (:func:`translate_error`)."""
    try:
        yield
    except Exception as exc:
        error = translate_error(settings, exc)
        if error is exc:
            raise
        raise error from exc
