"""MockProvider: history, mock_failure, scripted scenarios, handler, seeded randomness."""

from __future__ import annotations

import anyio
import pytest

from kmsg import ProviderError, ProviderErrorCode, ValidationError
from kmsg.messaging import (
    AlimTalk,
    Delay,
    Fail,
    Message,
    MockProvider,
    Provider,
    RateLimited,
    Scenario,
    Sms,
    Succeed,
    Timeout,
    load_provider,
)

pytestmark = pytest.mark.anyio


def sms(n: int = 0) -> Sms:
    return Sms(to=f"010-0000-{n:04d}", text=f"message {n}")


async def outcomes(provider: MockProvider, count: int) -> list[str]:
    """Send ``count`` messages; "ok" or the error code of each."""
    seen = []
    for n in range(count):
        try:
            await provider.send(sms(n))
        except ProviderError as exc:
            seen.append(exc.code.value)
        else:
            seen.append("ok")
    return seen


async def test_sends_succeed_and_are_recorded() -> None:
    provider = MockProvider(clock=lambda: 1000.0)
    first = await provider.send(sms(1))
    second = await provider.send(sms(2))
    assert (first.provider, first.to, first.accepted_at) == ("mock", "01000000001", 1000.0)
    assert first.message_id != second.message_id
    assert [call.message for call in provider.history] == [sms(1), sms(2)]
    assert provider.sent == [sms(1), sms(2)]
    assert isinstance(provider, Provider)


async def test_mock_failure_fails_the_next_n_sends() -> None:
    provider = MockProvider()
    provider.mock_failure(2)
    assert await outcomes(provider, 3) == ["PROVIDER_ERROR", "PROVIDER_ERROR", "ok"]
    assert [call.ok for call in provider.history] == [False, False, True]
    error = provider.history[0].error
    assert error is not None
    assert error.retryable
    assert provider.sent == [sms(2)]


async def test_mock_failure_with_a_non_retryable_code() -> None:
    provider = MockProvider()
    provider.mock_failure(1, ProviderErrorCode.INSUFFICIENT_BALANCE)
    with pytest.raises(ProviderError) as caught:
        await provider.send(sms())
    assert caught.value.code is ProviderErrorCode.INSUFFICIENT_BALANCE
    assert not caught.value.retryable


async def test_scripted_scenarios_play_in_order() -> None:
    provider = MockProvider()
    provider.script(
        Succeed(),
        Fail(ProviderErrorCode.AUTHENTICATION_FAILED, "bad key"),
        RateLimited(retry_after=7.5),
        Timeout(),
        Delay(0.01, then=Fail(ProviderErrorCode.NETWORK_ERROR)),
        Delay(0.01),
    )
    assert await outcomes(provider, 7) == [
        "ok",
        "AUTHENTICATION_FAILED",
        "RATE_LIMIT_EXCEEDED",
        "NETWORK_TIMEOUT",
        "NETWORK_ERROR",
        "ok",
        "ok",
    ]
    rate_limited = provider.history[2].error
    assert rate_limited is not None
    assert rate_limited.retry_after == 7.5


async def test_timeout_and_delay_take_their_time() -> None:
    provider = MockProvider()
    provider.script(Timeout(after=0.05), Delay(0.05))
    start = anyio.current_time()
    with pytest.raises(ProviderError, match="NETWORK_TIMEOUT"):
        await provider.send(sms())
    await provider.send(sms())
    assert anyio.current_time() - start >= 0.1


async def test_a_handler_decides_per_message() -> None:
    def handler(message: Message) -> Scenario:
        return Fail(ProviderErrorCode.INVALID_REQUEST) if message.to.endswith("13") else Succeed()

    provider = MockProvider(handler)
    assert await outcomes(provider, 15) == ["ok"] * 13 + ["INVALID_REQUEST", "ok"]


async def test_the_script_comes_before_the_handler() -> None:
    provider = MockProvider(lambda message: Fail())
    provider.script(Succeed())
    assert await outcomes(provider, 2) == ["ok", "PROVIDER_ERROR"]


async def test_seeded_failure_rate_is_reproducible() -> None:
    runs = [await outcomes(MockProvider(failure_rate=0.5, seed=42), 40) for _ in range(2)]
    assert runs[0] == runs[1]
    assert 5 < runs[0].count("PROVIDER_ERROR") < 35
    other = await outcomes(MockProvider(failure_rate=0.5, seed=7), 40)
    assert other != runs[0]


async def test_failure_rate_extremes() -> None:
    assert set(await outcomes(MockProvider(failure_rate=1.0), 5)) == {"PROVIDER_ERROR"}
    assert set(await outcomes(MockProvider(failure_rate=0.0), 5)) == {"ok"}


async def test_seeded_latency_is_reproducible_and_bounded() -> None:
    runs = []
    for _ in range(2):
        provider = MockProvider(latency=(0.01, 0.03), seed=3)
        start = anyio.current_time()
        await outcomes(provider, 3)
        latencies = [call.latency for call in provider.history]
        assert anyio.current_time() - start >= sum(latencies)
        runs.append(latencies)
    assert runs[0] == runs[1]
    assert all(0.01 <= latency <= 0.03 for latency in runs[0])
    assert len(set(runs[0])) == 3


@pytest.mark.parametrize(
    "options",
    [{"failure_rate": 1.5}, {"failure_rate": -0.1}, {"latency": (0.2, 0.1)}, {"latency": (-1, 1)}],
)
async def test_bad_options_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        MockProvider(**options)  # type: ignore[arg-type]


async def test_alimtalk_needs_a_stored_approved_template() -> None:
    provider = MockProvider()
    message = AlimTalk(to="010-1234-5678", template_code="WELCOME", variables={"name": "김"})
    with pytest.raises(ProviderError) as caught:
        await provider.send(message)
    assert caught.value.code is ProviderErrorCode.TEMPLATE_NOT_FOUND
    assert not caught.value.retryable

    await provider.templates.create("WELCOME", name="welcome", content="#{name}님 환영합니다")
    assert (await provider.send(message)).to == "01012345678"


async def test_alimtalk_with_a_missing_variable_is_an_invalid_request() -> None:
    provider = MockProvider()
    await provider.templates.create("OTP", name="otp", content="code #{code}")
    with pytest.raises(ProviderError, match=r"#\{code\}") as caught:
        await provider.send(AlimTalk(to="010-1234-5678", template_code="OTP"))
    assert caught.value.code is ProviderErrorCode.INVALID_REQUEST


async def test_load_provider_finds_the_mock_by_entry_point() -> None:
    provider = load_provider("mock", name="loaded", seed=1)
    assert isinstance(provider, MockProvider)
    assert provider.name == "loaded"


async def test_load_provider_refuses_an_unknown_name() -> None:
    with pytest.raises(ValidationError, match=r"no message provider named 'nope'.*'mock'"):
        load_provider("nope")


async def test_an_idempotent_mock_delivers_a_key_once_and_answers_repeats_alike() -> None:
    provider = MockProvider(idempotent=True)
    first = await provider.send(Sms(to="01012345678", text="a"), idempotency_key="k1")
    again = await provider.send(Sms(to="01012345678", text="a"), idempotency_key="k1")
    other = await provider.send(Sms(to="01012345678", text="a"), idempotency_key="k2")
    assert again == first
    assert other.message_id != first.message_id
    assert (len(provider.sent), provider.suppressed, provider.repeated_keys) == (2, 1, 0)


async def test_a_plain_mock_delivers_a_repeated_key_again_and_counts_it() -> None:
    provider = MockProvider()
    for _ in range(2):
        await provider.send(Sms(to="01012345678", text="a"), idempotency_key="k1")
    await provider.send(Sms(to="01012345678", text="a"))
    assert (len(provider.sent), provider.suppressed, provider.repeated_keys) == (3, 0, 1)
