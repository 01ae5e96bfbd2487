"""The ``Provider`` seam: one async ``send``, and providers found by entry point.

A provider turns a :data:`~kmsg.messaging.models.Message` into a
:class:`~kmsg.messaging.models.SendResult`, or raises :class:`~kmsg.ProviderError` whose ``code``
says whether trying again may help (``ProviderError.retryable``) and, for ``RATE_LIMIT_EXCEEDED``,
how long to wait (``retry_after``). Any other exception is a bug in the provider.

**Idempotency.** Each send may carry an ``idempotency_key``: the same key for every attempt of the
same message to the same recipient (kmsg's message processor passes ``kmsg:<queue>:<job id>``;
a bulk send fans out to one job per recipient, so the key is per recipient). A provider passes it
to a gateway that deduplicates (HTTP: the ``Idempotency-Key`` header), so a send repeated after a
worker crashed between the gateway's acceptance and the job's acknowledgement is not delivered
twice. A gateway that ignores keys delivers it twice: at-least-once, and nothing more can be done
from the sending side.

Third-party providers register a factory under the entry-point group ``kmsg.providers``; kmsg
registers ``mock`` (:class:`~kmsg.messaging.mock.MockProvider`) and ``http``
(:class:`~kmsg.messaging.http.HttpProvider`)::

    [project.entry-points."kmsg.providers"]
    acme = "acme_sms:AcmeProvider"
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Final, Protocol, runtime_checkable

from kmsg.errors import ValidationError
from kmsg.messaging.models import Message, SendResult

__all__ = [
    "PROVIDER_GROUP",
    "Provider",
    "SupportsProbe",
    "close_provider",
    "load_provider",
    "probe_provider",
    "provider_factory",
]

PROVIDER_GROUP: Final = "kmsg.providers"


@runtime_checkable
class Provider(Protocol):
    """Sends one message through a messaging service."""

    @property
    def name(self) -> str:
        """A short name for results and logs (``"mock"``, ``"http"``)."""
        ...

    async def send(self, message: Message, *, idempotency_key: str | None = None) -> SendResult:
        """Send ``message``; raise ``ProviderError`` (with a code) if it was refused or failed.

        ``idempotency_key`` is the same for every attempt to deliver this message (module
        docstring); pass it on to a gateway that deduplicates.
        """
        ...


@runtime_checkable
class SupportsProbe(Protocol):
    """A provider that can check its service answers (``kmsg health`` calls it)."""

    async def probe(self) -> str:
        """Check the service without sending; return a one-line detail for a person.

        Raises ``ProviderError`` when the service does not answer as it should; a probe is
        bounded in time as a send is.
        """
        ...


def provider_factory(name: str, /) -> Any:
    """The factory registered as ``name`` in the ``kmsg.providers`` group, imported now.

    Raises ``ValidationError`` for a name no installed package registers;
    ``MissingDependencyError`` when the provider's extra is missing.
    """
    found = entry_points(group=PROVIDER_GROUP, name=name)
    if not found:
        known = sorted(point.name for point in entry_points(group=PROVIDER_GROUP))
        raise ValidationError(f"no message provider named {name!r}; installed: {known}")
    return next(iter(found)).load()


def load_provider(name: str, /, **options: Any) -> Provider:
    """Build the provider registered as ``name`` in the ``kmsg.providers`` group with ``options``.

    Raises ``ValidationError`` for a name no installed package registers, or a factory that does
    not make a :class:`Provider`; ``MissingDependencyError`` when the provider's extra is missing.
    To build a provider from the environment and ``kmsg.toml`` instead, see
    :func:`kmsg.messaging.configure_provider`.
    """
    provider = provider_factory(name)(**options)
    if not isinstance(provider, Provider):
        raise ValidationError(f"provider {name!r} made {provider!r}, which is not a Provider")
    return provider


async def probe_provider(provider: Provider) -> str:
    """``provider.probe()`` when it has one, else a line saying it cannot be probed."""
    if isinstance(provider, SupportsProbe):
        return await provider.probe()
    return "configured (this provider offers no probe)"


async def close_provider(provider: Provider) -> None:
    """Await ``provider.aclose()`` when it has one (an HTTP client to close, say)."""
    aclose = getattr(provider, "aclose", None)
    if aclose is not None:
        await aclose()
