"""``MockProvider``: a scriptable, handler-driven provider for tests, demos and ``K_MSG_MOCK=true``.

Each send plays one :data:`Scenario`. The next one comes from, in order: the script
(:meth:`MockProvider.script`, :meth:`MockProvider.mock_failure`), else the ``handler`` (a function
of the message, like httpx's ``MockTransport``), else a seeded coin: ``Fail()`` with probability
``failure_rate``, else ``Succeed()``. A seeded random latency (uniform in ``latency``) comes first.
Every send is recorded in :attr:`MockProvider.history`, failures included.

AlimTalk sends look their template up in :attr:`MockProvider.templates`: a missing code fails
with ``TEMPLATE_NOT_FOUND``, a template not approved or a missing ``#{var}`` with
``INVALID_REQUEST`` (neither retryable), as a real gateway answers.

With ``idempotent=True`` it acts as a gateway that honours idempotency keys: a send whose key it
has accepted before returns that first result again and delivers nothing (counted in
:attr:`MockProvider.suppressed`); otherwise every accepted send is a delivery, and
:attr:`MockProvider.repeated_keys` counts the keys delivered more than once.
"""

from __future__ import annotations

import itertools
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from kmsg.errors import ProviderError, ProviderErrorCode, ValidationError
from kmsg.messaging.models import AlimTalk, Message, SendResult
from kmsg.messaging.template_store import InMemoryTemplateStore, TemplateStatus
from kmsg.messaging.templates import MissingTemplateVariable, Template

__all__ = [
    "Delay",
    "Fail",
    "MockCall",
    "MockProvider",
    "RateLimited",
    "Scenario",
    "Succeed",
    "Timeout",
]


@dataclass(frozen=True)
class Succeed:
    """The provider accepts the message."""


@dataclass(frozen=True)
class Fail:
    """The provider refuses the message with ``code`` (retryable as the code says)."""

    code: ProviderErrorCode = ProviderErrorCode.PROVIDER_ERROR
    message: str = "mock failure"


@dataclass(frozen=True)
class RateLimited:
    """The provider answers ``RATE_LIMIT_EXCEEDED`` and asks to wait ``retry_after`` seconds."""

    retry_after: float = 1.0


@dataclass(frozen=True)
class Timeout:
    """The provider does not answer: ``NETWORK_TIMEOUT`` after ``after`` seconds."""

    after: float = 0.0


@dataclass(frozen=True)
class Delay:
    """The provider takes ``seconds`` to answer, then plays ``then``."""

    seconds: float
    then: Scenario = Succeed()


Scenario = Succeed | Fail | RateLimited | Timeout | Delay
"""What one send does."""


@dataclass(frozen=True)
class MockCall:
    """One recorded send: the message, either its ``result`` or its ``error``, and the random
    ``latency`` (seconds) it was held for."""

    message: Message
    result: SendResult | None
    error: ProviderError | None
    latency: float = 0.0
    idempotency_key: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the send succeeded."""
        return self.result is not None


class MockProvider:
    """An in-memory provider that records every send and plays scripted or random outcomes.

    ``seed`` makes ``failure_rate`` and ``latency`` reproducible; ``clock`` stamps results.
    """

    def __init__(
        self,
        handler: Callable[[Message], Scenario] | None = None,
        *,
        name: str = "mock",
        failure_rate: float = 0.0,
        latency: tuple[float, float] = (0.0, 0.0),
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
        idempotent: bool = False,
    ) -> None:
        if not 0.0 <= failure_rate <= 1.0:
            raise ValidationError(f"failure_rate must be between 0 and 1, not {failure_rate}")
        if not 0.0 <= latency[0] <= latency[1]:
            raise ValidationError(f"latency must be (low, high) with 0 <= low <= high: {latency}")
        self._name = name
        self._handler = handler
        self._failure_rate = failure_rate
        self._latency = latency
        self._random = random.Random(seed)
        self._clock = clock
        self._script: deque[Scenario] = deque()
        self._ids = itertools.count(1)
        self.history: list[MockCall] = []
        """Every send so far, in order, failures included."""
        self._idempotent = idempotent
        self._accepted: dict[str, SendResult] = {}
        self.suppressed = 0
        """Sends answered from an earlier acceptance of their key (``idempotent=True``)."""
        self.templates = InMemoryTemplateStore(clock=clock)
        """The templates AlimTalk sends are checked against and rendered from."""

    @property
    def name(self) -> str:
        """The provider name put in results (default ``"mock"``)."""
        return self._name

    @property
    def sent(self) -> list[Message]:
        """The messages sent successfully, in order."""
        return [call.message for call in self.history if call.ok]

    @property
    def repeated_keys(self) -> int:
        """Idempotency keys delivered more than once (0 when ``idempotent=True``)."""
        counts: dict[str, int] = {}
        for call in self.history:
            if call.ok and call.idempotency_key is not None:
                counts[call.idempotency_key] = counts.get(call.idempotency_key, 0) + 1
        return sum(1 for count in counts.values() if count > 1)

    def script(self, *scenarios: Scenario) -> None:
        """Queue outcomes for the next sends, one each, before the handler or the coin decide."""
        self._script.extend(scenarios)

    def mock_failure(
        self, count: int = 1, code: ProviderErrorCode = ProviderErrorCode.PROVIDER_ERROR
    ) -> None:
        """Make the next ``count`` sends fail with ``code``."""
        self.script(*[Fail(code)] * count)

    async def probe(self) -> str:
        """Answer a health probe: the mock is always reachable (its scenarios are for sends)."""
        return f"ok (mock provider {self._name!r}, in memory)"

    async def send(self, message: Message, *, idempotency_key: str | None = None) -> SendResult:
        """Play the next scenario for ``message``; record and return or raise its outcome.

        With ``idempotent=True``, a key accepted before returns its first result, delivering
        nothing."""
        if self._idempotent and idempotency_key in self._accepted:
            self.suppressed += 1
            return self._accepted[idempotency_key]
        scenario = self._next_scenario(message)
        low, high = self._latency
        latency = self._random.uniform(low, high) if high > 0 else 0.0
        if latency:
            await anyio.sleep(latency)
        try:
            result = await self._play(scenario, message)
        except ProviderError as exc:
            self.history.append(MockCall(message, None, exc, latency, idempotency_key))
            raise
        self.history.append(MockCall(message, result, None, latency, idempotency_key))
        if self._idempotent and idempotency_key is not None:
            self._accepted[idempotency_key] = result
        return result

    def _next_scenario(self, message: Message) -> Scenario:
        if self._script:
            return self._script.popleft()
        if self._handler is not None:
            return self._handler(message)
        if self._failure_rate and self._random.random() < self._failure_rate:
            return Fail(message="mock random failure")
        return Succeed()

    async def _play(self, scenario: Scenario, message: Message) -> SendResult:
        match scenario:
            case Succeed():
                if isinstance(message, AlimTalk):
                    await self._check_template(message)
                return SendResult(
                    message_id=f"{self._name}-{next(self._ids)}",
                    provider=self._name,
                    to=message.to,
                    accepted_at=self._clock(),
                )
            case Fail(code, text):
                raise ProviderError(code, text)
            case RateLimited(retry_after):
                raise ProviderError(
                    ProviderErrorCode.RATE_LIMIT_EXCEEDED,
                    "mock rate limit",
                    retry_after=retry_after,
                )
            case Timeout(after):
                await anyio.sleep(after)
                raise ProviderError(ProviderErrorCode.NETWORK_TIMEOUT, "mock timeout")
            case Delay(seconds, then):
                await anyio.sleep(seconds)
                return await self._play(then, message)

    async def _check_template(self, message: AlimTalk) -> None:
        template = await self.templates.get(message.template_code)
        if template.status is not TemplateStatus.APPROVED:
            raise ProviderError(
                ProviderErrorCode.INVALID_REQUEST,
                f"template {template.code!r} is {template.status.value}, not approved",
            )
        try:
            Template(template.content).render(message.variables)
        except MissingTemplateVariable as exc:
            raise ProviderError(ProviderErrorCode.INVALID_REQUEST, str(exc)) from None
