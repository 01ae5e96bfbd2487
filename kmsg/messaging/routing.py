"""``RoutingProvider``: send each message type through a list of providers, with failover and a
circuit breaker per provider.

::

    router = RoutingProvider(
        {"ALIMTALK": [nhn, solapi], "SMS": [aligo, nhn]},
        default=[nhn],                      # LMS, MMS, FRIENDTALK
        strategy="first_healthy",           # or "round_robin"
    )
    MessageJobProcessor(router).register(worker)

A ``RoutingProvider`` is itself a :class:`~kmsg.messaging.provider.Provider`, so it goes wherever
one does (under :class:`~kmsg.messaging.facade.KMsg`, in a message processor).

**Which provider.** The message's type (``"SMS"``, ``"LMS"``, ``"MMS"``, ``"ALIMTALK"``,
``"FRIENDTALK"``) picks its list in ``routes``, else ``default``. ``first_healthy`` tries the list
in order; ``round_robin`` starts each send one place further along the list (per type) and
wraps, so the load spreads while failover still reaches every provider. Either way a provider
whose breaker is open (see :mod:`kmsg.messaging.breaker`) is skipped.

**Failover.** One ``send`` tries the providers in that order until one accepts, passing each the
caller's idempotency key unchanged. What moves it to the next provider:

* a retryable ``ProviderError`` (``NETWORK_ERROR``, ``NETWORK_TIMEOUT``, ``PROVIDER_ERROR``
  such as a 5xx, ``RATE_LIMIT_EXCEEDED``, ``UNKNOWN_ERROR``): counted by that provider's breaker;
* a code in ``failover_codes`` (default ``AUTHENTICATION_FAILED`` and ``INSUFFICIENT_BALANCE``):
  not retryable at that provider, but about the provider and not the message, so another one may
  well succeed; also counted by the breaker.

Any other error is about the message itself (``INVALID_RECIPIENT``, ``INVALID_REQUEST``,
``TEMPLATE_NOT_FOUND``, ``NOT_KAKAO_USER``, ...): it would fail everywhere, so it is raised at
once, unchanged (the processor may then fall back to SMS), and the breaker counts it as an answer
from a working gateway. An exception that is not a ``ProviderError`` is a provider bug: it counts
as a failure and propagates without failover.

**When no provider accepts.** If every provider was tried and each refused for its own sake
with a non-retryable error, the last error is raised as it is (the job is dead-lettered).
Otherwise a retryable error is raised, so the queue retries the job later, when the breakers may
have moved on: the code of the last retryable error (or ``PROVIDER_ERROR`` when every provider's
breaker was open), a message naming what each provider said, and ``retry_after`` the soonest
time one of them takes traffic again (end of a cool-down or of a rate-limit hold; at least
``min_retry_after``), or None (the worker's backoff) when a provider failed without saying.

**Duplicates.** An idempotency key is honoured by one gateway, never across two. A timeout is
ambiguous: the first gateway may have accepted the message before the reply was lost, and
failing over then may deliver it twice. ``failover_on_timeout=False`` raises a
``NETWORK_TIMEOUT`` instead (retryable), so the queue's retry finds the same provider first
(``first_healthy``, while its breaker stays closed) and its key deduplicates; the default favours
delivery over that risk.

**From the environment.** Registered as the provider ``routing``, it is configured like any
other (:mod:`kmsg.messaging.config`, :class:`RoutingSettings`)::

    K_MSG_PROVIDER=routing
    K_MSG_ROUTING_ALIMTALK=nhn,solapi
    K_MSG_ROUTING_SMS=aligo,nhn
    K_MSG_ROUTING_DEFAULT=nhn
    K_MSG_ROUTING_STRATEGY=first_healthy      # or round_robin
    K_MSG_ROUTING_FAILURE_THRESHOLD=5         # WINDOW=60, COOL_DOWN=30 (seconds)

and each named provider from its own variables (``K_MSG_NHN_*``, ...). The ``[provider]`` table
of ``kmsg.toml`` then configures the router, so the routed providers take environment variables.

Memory is bounded: a breaker per provider and a counter per route. The clock (default
``time.monotonic``) is injectable for tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import ClassVar, Final, Literal, Self

import msgspec

from kmsg.errors import ProviderError, ProviderErrorCode, ValidationError
from kmsg.messaging.breaker import BreakerPolicy, CircuitBreaker, CircuitState
from kmsg.messaging.config import configure_provider
from kmsg.messaging.models import Message, SendResult
from kmsg.messaging.provider import Provider, close_provider
from kmsg.messaging.sizing import message_type

__all__ = ["MESSAGE_TYPES", "RoutingProvider", "RoutingSettings", "Strategy"]

MESSAGE_TYPES: Final = frozenset({"SMS", "LMS", "MMS", "ALIMTALK", "FRIENDTALK"})
"""The message type names a route may be keyed by."""

Strategy = Literal["first_healthy", "round_robin"]
"""How a route's providers are ordered for each send."""

_DEFAULT_ROUTE: Final = "*"
_MAX_SUMMARY: Final = 600
_PROVIDER_FAULTS: Final = frozenset(
    {ProviderErrorCode.AUTHENTICATION_FAILED, ProviderErrorCode.INSUFFICIENT_BALANCE}
)


class RoutingSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A :class:`RoutingProvider` as settings (``K_MSG_ROUTING_<FIELD>`` or ``[provider]``).

    Each route is a comma-separated list of provider names as registered in ``kmsg.providers``
    (``K_MSG_ROUTING_ALIMTALK="nhn,solapi"``, ``K_MSG_ROUTING_SMS="aligo,nhn"``,
    ``K_MSG_ROUTING_DEFAULT="nhn"``); each named provider is configured once, by
    :func:`~kmsg.messaging.configure_provider`, from its own ``K_MSG_<NAME>_*`` variables.
    """

    default: str = ""
    sms: str = ""
    lms: str = ""
    mms: str = ""
    alimtalk: str = ""
    friendtalk: str = ""
    strategy: Strategy = "first_healthy"
    failure_threshold: int = 5
    window: float = 60.0
    cool_down: float = 30.0
    failover_on_timeout: bool = True

    def routes(self) -> dict[str, list[str]]:
        """The named routes (``"SMS"`` -> ``["aligo", "nhn"]``; ``"*"`` for the default)."""
        named = {kind: getattr(self, kind.lower()) for kind in sorted(MESSAGE_TYPES)}
        named[_DEFAULT_ROUTE] = self.default
        return {
            kind: [name.strip() for name in text.split(",") if name.strip()]
            for kind, text in named.items()
            if text.strip()
        }


class RoutingProvider:
    """A provider that routes by message type over other providers (module docstring).

    ``routes`` maps type names to provider lists, ``default`` serves the other types. Providers
    are told apart by ``name``: one name, one provider, one breaker. Raises ``ValidationError``
    for an unknown type name, an empty route, no route at all, or two providers with one name.
    """

    def __init__(
        self,
        routes: Mapping[str, Sequence[Provider]] | None = None,
        *,
        default: Sequence[Provider] = (),
        strategy: Strategy = "first_healthy",
        breaker: BreakerPolicy | None = None,
        failover_codes: frozenset[ProviderErrorCode] = _PROVIDER_FAULTS,
        failover_on_timeout: bool = True,
        min_retry_after: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        name: str = "routing",
    ) -> None:
        if strategy not in ("first_healthy", "round_robin"):
            raise ValidationError(f"strategy must be first_healthy or round_robin: {strategy!r}")
        self._name = name
        self._strategy = strategy
        self._failover_codes = failover_codes
        self._failover_on_timeout = failover_on_timeout
        self._min_retry_after = min_retry_after
        self._clock = clock
        self._routes = self._check_routes(routes or {}, default)
        self._providers: dict[str, Provider] = {}
        for route in self._routes.values():
            for provider in route:
                known = self._providers.setdefault(provider.name, provider)
                if known is not provider:
                    raise ValidationError(f"two different providers are named {provider.name!r}")
        self._breakers = {
            provider: CircuitBreaker(breaker, clock=clock) for provider in self._providers
        }
        self._turns = dict.fromkeys(self._routes, 0)

    Settings: ClassVar[type[RoutingSettings]] = RoutingSettings

    @classmethod
    def from_settings(cls, settings: RoutingSettings) -> Self:
        """The router :class:`RoutingSettings` describe, each named provider configured once
        from the environment (the hook the config loader calls). Raises ``ValidationError``."""
        named = settings.routes()
        built: dict[str, Provider] = {}
        for name in sorted({name for names in named.values() for name in names}):
            if name == "routing":
                raise ValidationError("a routing provider cannot route to itself")
            built[name] = configure_provider(name)
        routes = {kind: [built[n] for n in names] for kind, names in named.items()}
        default = routes.pop(_DEFAULT_ROUTE, [])
        policy = BreakerPolicy(
            failure_threshold=settings.failure_threshold,
            window=settings.window,
            cool_down=settings.cool_down,
        )
        return cls(
            routes,
            default=default,
            strategy=settings.strategy,
            breaker=policy,
            failover_on_timeout=settings.failover_on_timeout,
        )

    @staticmethod
    def _check_routes(
        routes: Mapping[str, Sequence[Provider]], default: Sequence[Provider]
    ) -> dict[str, tuple[Provider, ...]]:
        unknown = sorted(set(routes) - MESSAGE_TYPES)
        if unknown:
            raise ValidationError(
                f"unknown message types {unknown}; known: {sorted(MESSAGE_TYPES)}"
            )
        checked = {kind: tuple(providers) for kind, providers in routes.items()}
        if default:
            checked[_DEFAULT_ROUTE] = tuple(default)
        if not checked:
            raise ValidationError("a RoutingProvider needs at least one route or a default")
        empty = sorted(kind for kind, providers in checked.items() if not providers)
        if empty:
            raise ValidationError(f"routes {empty} name no provider")
        return checked

    @property
    def name(self) -> str:
        """This router's name (default ``"routing"``); results name the provider that sent."""
        return self._name

    @property
    def providers(self) -> Mapping[str, Provider]:
        """Every routed provider, by name."""
        return dict(self._providers)

    def state(self, provider: str) -> CircuitState:
        """The breaker state of the provider named ``provider`` (``KeyError`` if unknown)."""
        return self._breakers[provider].state

    def route(self, message: Message) -> tuple[Provider, ...]:
        """The providers ``message`` would be offered to, in order (breakers not consulted).

        Raises ``ValidationError`` when no route serves its type."""
        key = message_type(message)
        if key not in self._routes:
            key = _DEFAULT_ROUTE
        providers = self._routes.get(key)
        if providers is None:
            raise ValidationError(f"no provider is routed for {message_type(message)} messages")
        if self._strategy == "first_healthy":
            return providers
        start = self._turns[key] % len(providers)
        self._turns[key] = start + 1
        return providers[start:] + providers[:start]

    async def send(self, message: Message, *, idempotency_key: str | None = None) -> SendResult:
        """Send through the first provider of the route that accepts (module docstring).

        Raises ``ProviderError``: the message's own error at once; a retryable one when the
        providers are down or resting; the last error when every provider is unusable.
        """
        try:
            candidates = self.route(message)
        except ValidationError as exc:
            raise ProviderError(ProviderErrorCode.INVALID_REQUEST, str(exc)) from None
        last: ProviderError | None = None
        retryable: ProviderError | None = None
        notes: list[str] = []
        waits: list[float | None] = []  # when each provider may take it (None: worker's backoff)
        for provider in candidates:
            breaker = self._breakers[provider.name]
            if not breaker.acquire():
                notes.append(f"{provider.name}: {breaker.state.value}")
                waits.append(breaker.available_at())
                continue
            try:
                result = await provider.send(message, idempotency_key=idempotency_key)
            except ProviderError as exc:
                if not self._provider_fault(exc):
                    breaker.succeeded()
                    raise
                breaker.failed(retry_after=exc.retry_after)
                last = exc
                notes.append(f"{provider.name}: {exc}")
                if exc.retryable:
                    retryable = exc
                    at = breaker.available_at()
                    waits.append(at if at > self._clock() else None)
                    timed_out = exc.code is ProviderErrorCode.NETWORK_TIMEOUT
                    if timed_out and not self._failover_on_timeout:
                        raise
                continue
            except Exception:
                breaker.failed()
                raise
            except BaseException:
                breaker.abandoned()
                raise
            breaker.succeeded()
            if result.provider != provider.name:
                result = msgspec.structs.replace(result, provider=provider.name)
            return result
        if not waits and last is not None:
            raise last  # every provider tried, each unusable for its own sake
        raise self._exhausted(message, retryable, notes, waits)

    def _provider_fault(self, exc: ProviderError) -> bool:
        return exc.retryable or exc.code in self._failover_codes

    def _exhausted(
        self,
        message: Message,
        retryable: ProviderError | None,
        notes: list[str],
        waits: list[float | None],
    ) -> ProviderError:
        """The retryable error of a send no provider took: retry when the soonest may."""
        wait = None
        known = [at for at in waits if at is not None]
        if known and len(known) == len(waits):
            wait = max(min(known) - self._clock(), self._min_retry_after)
        kind = message_type(message)
        if retryable is None:
            code = ProviderErrorCode.PROVIDER_ERROR
            text = f"every provider for {kind} is resting after failures (circuit open)"
        else:
            code, text = retryable.code, f"no provider for {kind} took the message"
        summary = "; ".join(notes)
        if len(summary) > _MAX_SUMMARY:
            summary = summary[: _MAX_SUMMARY - 3] + "..."
        return ProviderError(code, f"{text}: {summary}", retryable=True, retry_after=wait)

    async def aclose(self) -> None:
        """Close every routed provider that has an ``aclose``."""
        for provider in self._providers.values():
            await close_provider(provider)
