"""RoutingProvider and its circuit breakers: routing by type, failover, breakers, round robin.

Unit tests drive time with a fake clock (no sleeps); the queue-backed tests at the end run a
worker on every backend.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import anyio
import pytest

from kmsg import Backoff, JobQueue, JobState, ProviderError, ProviderErrorCode, ValidationError
from kmsg.messaging import (
    AlimTalk,
    Fail,
    KMsg,
    Lms,
    Message,
    MessageJobProcessor,
    MockProvider,
    RateLimited,
    Scenario,
    SendResult,
    Sms,
    Succeed,
)
from kmsg.messaging.breaker import BreakerPolicy, CircuitState
from kmsg.messaging.config import load_settings
from kmsg.messaging.routing import RoutingProvider, RoutingSettings
from kmsg.worker import Worker

pytestmark = pytest.mark.anyio

DOWN = ProviderErrorCode.NETWORK_ERROR
FAST = Backoff(initial=0.01, factor=2.0, maximum=0.05)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Switch:
    """A gateway that is up or down (answering ``code``) as the test says."""

    up: bool = True
    code: ProviderErrorCode = DOWN

    def __call__(self, message: Message) -> Scenario:
        return Succeed() if self.up else Fail(self.code, "gateway down")


def gateway(name: str, switch: Switch | None = None) -> MockProvider:
    return MockProvider(switch or Switch(), name=name)


def sms(n: int = 1) -> Sms:
    return Sms(to=f"010-5555-{n:04d}", text=f"hello {n}")


def calls(provider: MockProvider) -> int:
    return len(provider.history)


# --- routing and failover ---------------------------------------------------------------------


async def test_routes_by_message_type_and_default() -> None:
    nhn, aligo, solapi = gateway("nhn"), gateway("aligo"), gateway("solapi")
    await nhn.templates.create("T1", name="one", content="hi")
    router = RoutingProvider({"ALIMTALK": [nhn], "SMS": [aligo]}, default=[solapi])

    talk = await router.send(AlimTalk(to="01012345678", template_code="T1"), idempotency_key="k1")
    text = await router.send(sms(), idempotency_key="k2")
    long = await router.send(Lms(to="01012345678", text="long"), idempotency_key="k3")

    assert (talk.provider, text.provider, long.provider) == ("nhn", "aligo", "solapi")
    assert (calls(nhn), calls(aligo), calls(solapi)) == (1, 1, 1)
    assert router.name == "routing"


async def test_a_type_without_route_is_refused_without_retry() -> None:
    router = RoutingProvider({"SMS": [gateway("aligo")]})
    with pytest.raises(ProviderError) as caught:
        await router.send(Lms(to="01012345678", text="long"))
    assert caught.value.code is ProviderErrorCode.INVALID_REQUEST
    assert not caught.value.retryable


async def test_a_retryable_failure_fails_over_with_the_same_key() -> None:
    first, second = gateway("a", Switch(up=False)), gateway("b")
    router = RoutingProvider(default=[first, second])

    result = await router.send(sms(), idempotency_key="kmsg:q:job1")

    assert result.provider == "b"
    assert [call.idempotency_key for call in first.history + second.history] == [
        "kmsg:q:job1",
        "kmsg:q:job1",
    ]


@pytest.mark.parametrize(
    "code",
    [
        ProviderErrorCode.INVALID_RECIPIENT,
        ProviderErrorCode.TEMPLATE_NOT_FOUND,
        ProviderErrorCode.INVALID_REQUEST,
        ProviderErrorCode.NOT_KAKAO_USER,
    ],
)
async def test_a_message_error_is_not_failed_over_and_never_trips(code: ProviderErrorCode) -> None:
    first, second = gateway("a", Switch(up=False, code=code)), gateway("b")
    router = RoutingProvider(default=[first, second], breaker=BreakerPolicy(failure_threshold=2))

    for n in range(5):
        with pytest.raises(ProviderError) as caught:
            await router.send(sms(n))
        assert caught.value.code is code

    assert (calls(first), calls(second)) == (5, 0)
    assert router.state("a") is CircuitState.CLOSED


async def test_a_provider_fault_fails_over_and_the_last_one_is_raised_as_it_is() -> None:
    broke = gateway("a", Switch(up=False, code=ProviderErrorCode.INSUFFICIENT_BALANCE))
    locked = gateway("b", Switch(up=False, code=ProviderErrorCode.AUTHENTICATION_FAILED))
    router = RoutingProvider(default=[broke, locked])

    with pytest.raises(ProviderError) as caught:
        await router.send(sms())

    assert caught.value.code is ProviderErrorCode.AUTHENTICATION_FAILED
    assert not caught.value.retryable
    assert (calls(broke), calls(locked)) == (1, 1)


async def test_a_timeout_is_raised_when_failover_on_timeout_is_off() -> None:
    slow = gateway("a", Switch(up=False, code=ProviderErrorCode.NETWORK_TIMEOUT))
    spare = gateway("b")
    router = RoutingProvider(default=[slow, spare], failover_on_timeout=False)

    with pytest.raises(ProviderError) as caught:
        await router.send(sms())

    assert caught.value.code is ProviderErrorCode.NETWORK_TIMEOUT
    assert caught.value.retryable
    assert calls(spare) == 0


async def test_a_provider_bug_propagates_and_counts_as_a_failure() -> None:
    class Broken:
        name = "broken"

        async def send(self, message: Message, *, idempotency_key: str | None = None) -> SendResult:
            raise RuntimeError("bug")

    router = RoutingProvider(default=[Broken(), gateway("b")], breaker=BreakerPolicy(1))
    with pytest.raises(RuntimeError, match="bug"):
        await router.send(sms())
    assert router.state("broken") is CircuitState.OPEN
    assert (await router.send(sms())).provider == "b"


def test_routes_are_checked() -> None:
    a = gateway("a")
    with pytest.raises(ValidationError, match="unknown message types"):
        RoutingProvider({"EMAIL": [a]})
    with pytest.raises(ValidationError, match="at least one route"):
        RoutingProvider()
    with pytest.raises(ValidationError, match="name no provider"):
        RoutingProvider({"SMS": []}, default=[a])
    with pytest.raises(ValidationError, match="named 'a'"):
        RoutingProvider({"SMS": [a]}, default=[gateway("a")])
    with pytest.raises(ValidationError, match="strategy"):
        RoutingProvider(default=[a], strategy="random")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="failure_threshold"):
        BreakerPolicy(failure_threshold=0)
    with pytest.raises(ValidationError, match="cool_down"):
        BreakerPolicy(cool_down=0)


# --- circuit breaker --------------------------------------------------------------------------


async def test_a_provider_that_goes_down_trips_its_breaker_and_traffic_moves() -> None:
    clock, switch = FakeClock(), Switch()
    first, second = gateway("a", switch), gateway("b")
    policy = BreakerPolicy(failure_threshold=3, window=60, cool_down=30)
    router = RoutingProvider(default=[first, second], breaker=policy, clock=clock)
    assert (await router.send(sms(0))).provider == "a"

    switch.up = False
    providers = [(await router.send(sms(n))).provider for n in range(1, 11)]

    assert providers == ["b"] * 10  # each failed send failed over at once
    assert calls(first) == 1 + 3  # the 3 failures that opened it, then no traffic
    assert router.state("a") is CircuitState.OPEN
    clock.advance(29.9)
    await router.send(sms(11))
    assert calls(first) == 4


async def test_failures_further_apart_than_the_window_never_open_it() -> None:
    clock = FakeClock()
    first = gateway("a", Switch(up=False))
    router = RoutingProvider(
        default=[first, gateway("b")],
        breaker=BreakerPolicy(failure_threshold=3, window=10, cool_down=30),
        clock=clock,
    )
    for n in range(6):
        await router.send(sms(n))
        clock.advance(6)  # two failures fit in a window, never three
    assert router.state("a") is CircuitState.CLOSED
    assert calls(first) == 6


async def test_a_success_ends_the_failure_streak() -> None:
    clock = FakeClock()
    first = MockProvider(name="a")
    first.script(Fail(DOWN), Fail(DOWN), Succeed(), Fail(DOWN), Fail(DOWN))
    router = RoutingProvider(
        default=[first, gateway("b")], breaker=BreakerPolicy(failure_threshold=3), clock=clock
    )
    for n in range(5):
        await router.send(sms(n))
    assert router.state("a") is CircuitState.CLOSED


async def test_half_open_sends_one_trial_and_success_closes_it() -> None:
    clock, switch = FakeClock(), Switch(up=False)
    first, second = gateway("a", switch), gateway("b")
    policy = BreakerPolicy(failure_threshold=2, cool_down=30)
    router = RoutingProvider(default=[first, second], breaker=policy, clock=clock)
    for n in range(2):
        await router.send(sms(n))
    assert router.state("a") is CircuitState.OPEN

    clock.advance(30)
    assert router.state("a") is CircuitState.HALF_OPEN
    switch.up = True
    assert (await router.send(sms(2))).provider == "a"  # the trial
    assert router.state("a") is CircuitState.CLOSED
    assert [(await router.send(sms(n))).provider for n in range(3, 6)] == ["a"] * 3


async def test_a_failed_trial_opens_it_for_another_cool_down() -> None:
    clock = FakeClock()
    first = gateway("a", Switch(up=False))
    policy = BreakerPolicy(failure_threshold=2, cool_down=30)
    router = RoutingProvider(default=[first, gateway("b")], breaker=policy, clock=clock)
    for n in range(2):
        await router.send(sms(n))
    clock.advance(30)

    await router.send(sms(2))  # the trial fails: served by b

    assert calls(first) == 3
    assert router.state("a") is CircuitState.OPEN
    clock.advance(29)
    await router.send(sms(3))
    assert calls(first) == 3
    clock.advance(1)
    await router.send(sms(4))
    assert calls(first) == 4


async def test_only_one_trial_runs_while_half_open() -> None:
    clock = FakeClock()
    release = anyio.Event()
    sends = 0

    class Recovering:
        """Fails its first send; then answers, once released."""

        name = "a"

        async def send(self, message: Message, *, idempotency_key: str | None = None) -> SendResult:
            nonlocal sends
            sends += 1
            if sends == 1:
                raise ProviderError(DOWN, "down")
            await release.wait()
            return SendResult(message_id="m", provider="a", to=message.to, accepted_at=0.0)

    policy = BreakerPolicy(failure_threshold=1, cool_down=5)
    router = RoutingProvider(default=[Recovering(), gateway("b")], breaker=policy, clock=clock)
    assert (await router.send(sms(0))).provider == "b"
    clock.advance(5)
    served: list[str] = []

    async def one(n: int) -> None:
        served.append((await router.send(sms(n))).provider)

    async with anyio.create_task_group() as group:
        group.start_soon(one, 1)
        await anyio.wait_all_tasks_blocked()
        assert router.state("a") is CircuitState.HALF_OPEN
        for n in range(2, 5):
            await one(n)  # the trial is running: these skip a
        release.set()

    assert sends == 2
    assert sorted(served) == ["a", "b", "b", "b"]
    assert router.state("a") is CircuitState.CLOSED


async def test_a_cancelled_trial_gives_the_trial_back() -> None:
    clock = FakeClock()
    sends = 0

    class Hangs:
        """Fails its first send, then never answers."""

        name = "a"

        async def send(self, message: Message, *, idempotency_key: str | None = None) -> SendResult:
            nonlocal sends
            sends += 1
            if sends == 1:
                raise ProviderError(DOWN, "down")
            await anyio.sleep_forever()
            raise AssertionError

    policy = BreakerPolicy(failure_threshold=1, cool_down=5)
    router = RoutingProvider(default=[Hangs(), gateway("b")], breaker=policy, clock=clock)
    await router.send(sms(0))
    clock.advance(5)
    with anyio.move_on_after(0.05):
        await router.send(sms(1))  # the trial, cancelled

    assert router.state("a") is CircuitState.HALF_OPEN
    with anyio.move_on_after(0.05):
        await router.send(sms(2))  # a new trial may start
    assert sends == 3


async def test_when_every_provider_is_open_the_error_is_retryable_at_the_soonest_reopening() -> (
    None
):
    clock = FakeClock()
    first, second = gateway("a", Switch(up=False)), gateway("b", Switch(up=False))
    policy = BreakerPolicy(failure_threshold=1, cool_down=30)
    router = RoutingProvider(default=[first, second], breaker=policy, clock=clock)
    with pytest.raises(ProviderError) as caught:
        await router.send(sms(0))  # both fail, both open
    assert caught.value.code is DOWN
    assert caught.value.retryable
    assert caught.value.retry_after == pytest.approx(30)

    clock.advance(10)
    with pytest.raises(ProviderError) as caught:
        await router.send(sms(1))

    error = caught.value
    assert error.code is ProviderErrorCode.PROVIDER_ERROR
    assert error.retryable
    assert error.retry_after == pytest.approx(20)
    assert "a: open" in str(error)
    assert "b: open" in str(error)
    assert (calls(first), calls(second)) == (1, 1)


async def test_the_soonest_reopening_is_the_minimum_over_providers() -> None:
    clock, later = FakeClock(), Switch()
    first, second = gateway("a", Switch(up=False)), gateway("b", later)
    policy = BreakerPolicy(failure_threshold=1, cool_down=30)
    router = RoutingProvider(default=[first, second], breaker=policy, clock=clock)
    assert (await router.send(sms(0))).provider == "b"  # a opens at t
    clock.advance(12)
    later.up = False
    with pytest.raises(ProviderError):
        await router.send(sms(1))  # b opens at t + 12

    with pytest.raises(ProviderError) as caught:
        await router.send(sms(2))
    assert caught.value.retry_after == pytest.approx(18)  # a reopens first, at t + 30


async def test_a_rate_limited_provider_is_held_for_its_retry_after() -> None:
    clock = FakeClock()
    first, second = MockProvider(name="a"), gateway("b")
    first.script(RateLimited(retry_after=10))
    router = RoutingProvider(default=[first, second], clock=clock)

    assert (await router.send(sms(0))).provider == "b"
    assert (await router.send(sms(1))).provider == "b"  # a is held, not asked
    assert calls(first) == 1
    clock.advance(10)
    assert (await router.send(sms(2))).provider == "a"


async def test_rate_limited_everywhere_retries_when_the_first_hold_ends() -> None:
    clock = FakeClock()
    first, second = MockProvider(name="a"), MockProvider(name="b")
    first.script(RateLimited(retry_after=7))
    second.script(RateLimited(retry_after=3))
    router = RoutingProvider(default=[first, second], clock=clock)

    with pytest.raises(ProviderError) as caught:
        await router.send(sms())

    assert caught.value.code is ProviderErrorCode.RATE_LIMIT_EXCEEDED
    assert caught.value.retry_after == pytest.approx(3)


async def test_an_unexplained_failure_leaves_the_delay_to_the_worker() -> None:
    router = RoutingProvider(default=[gateway("a", Switch(up=False))])
    with pytest.raises(ProviderError) as caught:
        await router.send(sms())
    assert caught.value.retryable
    assert caught.value.retry_after is None


# --- round robin ------------------------------------------------------------------------------


async def test_round_robin_spreads_the_sends() -> None:
    providers = [gateway(name) for name in "abc"]
    router = RoutingProvider(default=providers, strategy="round_robin")

    served = Counter([(await router.send(sms(n))).provider for n in range(9)])

    assert served == {"a": 3, "b": 3, "c": 3}


async def test_round_robin_skips_an_open_provider_and_keeps_spreading() -> None:
    clock = FakeClock()
    providers = [gateway("a"), gateway("b", Switch(up=False)), gateway("c")]
    router = RoutingProvider(
        default=providers,
        strategy="round_robin",
        breaker=BreakerPolicy(failure_threshold=1),
        clock=clock,
    )

    served = Counter([(await router.send(sms(n))).provider for n in range(12)])

    assert served["b"] == 0
    assert served["a"] + served["c"] == 12
    assert abs(served["a"] - served["c"]) <= 4
    assert calls(providers[1]) == 1


async def test_round_robin_turns_per_route() -> None:
    a, b = gateway("a"), gateway("b")
    router = RoutingProvider({"SMS": [a, b], "LMS": [a, b]}, strategy="round_robin")
    lms = Lms(to="01012345678", text="x")
    order = [
        (await router.send(sms())).provider,
        (await router.send(lms)).provider,
        (await router.send(sms())).provider,
        (await router.send(lms)).provider,
    ]
    assert order == ["a", "a", "b", "b"]


async def test_aclose_closes_every_provider() -> None:
    closed: list[str] = []

    class Closable(MockProvider):
        async def aclose(self) -> None:
            closed.append(self.name)

    router = RoutingProvider({"SMS": [Closable(name="a")]}, default=[Closable(name="b")])
    await router.aclose()
    assert sorted(closed) == ["a", "b"]


# --- on a queue, through the message processor ------------------------------------------------


def worker_for(queue: JobQueue, qname: str, processor: MessageJobProcessor) -> Worker:
    worker = Worker(queue, queues=(qname,), idle_wait=0.05, lease=10.0, concurrency=1)
    processor.register(worker)
    return worker


async def run(worker: Worker) -> None:
    with anyio.fail_after(60):
        await worker.run_until_idle()


async def test_on_a_queue_a_down_gateway_stops_getting_traffic(queue: JobQueue, qname: str) -> None:
    first, second = gateway("a", Switch(up=False)), gateway("b")
    router = RoutingProvider(default=[first, second], breaker=BreakerPolicy(failure_threshold=3))
    kmsg_ = KMsg(router, queue, queue_name=qname, backoff=FAST)
    ids = [await kmsg_.enqueue(sms(n)) for n in range(10)]

    await run(worker_for(queue, qname, MessageJobProcessor(router)))

    assert calls(first) == 3
    assert Counter(message.to for message in second.sent) == Counter(sms(n).to for n in range(10))
    for job_id in ids:
        status = await kmsg_.delivery_status(job_id)
        assert status.result is not None
        assert status.result.provider == "b"


async def test_on_a_queue_the_retry_goes_to_the_next_provider(queue: JobQueue, qname: str) -> None:
    """With failover_on_timeout off, the attempt that timed out is retried by the queue, and
    the retry finds the first provider open, so it goes to the second."""
    slow = gateway("a", Switch(up=False, code=ProviderErrorCode.NETWORK_TIMEOUT))
    spare = gateway("b")
    router = RoutingProvider(
        default=[slow, spare], breaker=BreakerPolicy(failure_threshold=1), failover_on_timeout=False
    )
    job_id = await KMsg(router, queue, queue_name=qname, backoff=FAST).enqueue(sms())

    await run(worker_for(queue, qname, MessageJobProcessor(router)))

    job = await queue.get(qname, job_id)
    assert (job.state, job.attempts) == (JobState.COMPLETED, 2)
    assert "NETWORK_TIMEOUT" in job.errors[0].message
    assert [call.idempotency_key for call in slow.history + spare.history] == [
        f"kmsg:{qname}:{job_id}"
    ] * 2
    assert (calls(slow), len(spare.sent)) == (1, 1)


async def test_on_a_queue_every_provider_open_delays_the_job_then_it_is_sent(
    queue: JobQueue, qname: str
) -> None:
    """Both gateways down: the job is not dead-lettered but retried when a breaker half-opens;
    by then b is back and its trial send delivers it."""
    back = Switch(up=False)
    first, second = gateway("a", Switch(up=False)), gateway("b", back)
    policy = BreakerPolicy(failure_threshold=1, cool_down=0.3)  # real time: the queue waits
    router = RoutingProvider(default=[first, second], breaker=policy, min_retry_after=0.01)
    kmsg_ = KMsg(router, queue, queue_name=qname, max_attempts=5, backoff=FAST)
    job_id = await kmsg_.enqueue(sms())
    second.script(Fail(DOWN, "down"))  # b fails once, then answers
    back.up = True

    await run(worker_for(queue, qname, MessageJobProcessor(router)))

    job = await queue.get(qname, job_id)
    assert job.state is JobState.COMPLETED
    assert 2 <= job.attempts <= 5
    assert job.completed_at is not None
    assert job.completed_at - job.errors[0].at >= 0.2  # waited for a cool-down, not the backoff
    assert [call.ok for call in second.history] == [False, True]
    assert len(first.sent) == 0


# --- configured from settings -----------------------------------------------------------------


async def test_from_settings_builds_each_named_provider_once() -> None:
    settings = RoutingSettings(
        sms=" mock , ", default="mock", strategy="round_robin", failure_threshold=2, cool_down=7
    )
    assert settings.routes() == {"SMS": ["mock"], "*": ["mock"]}

    router = RoutingProvider.from_settings(settings)

    assert list(router.providers) == ["mock"]
    assert (await router.send(sms())).provider == "mock"
    assert (await router.send(Lms(to="01012345678", text="x"))).provider == "mock"
    assert router._breakers["mock"].policy == BreakerPolicy(failure_threshold=2, cool_down=7)


def test_settings_come_from_the_environment() -> None:
    environ = {"K_MSG_ROUTING_ALIMTALK": "nhn,solapi", "K_MSG_ROUTING_COOL_DOWN": "5"}
    settings = load_settings(RoutingSettings, "routing", environ=environ)
    assert settings.routes() == {"ALIMTALK": ["nhn", "solapi"]}
    assert settings.cool_down == 5.0


def test_from_settings_refuses_bad_routes() -> None:
    with pytest.raises(ValidationError, match="route to itself"):
        RoutingProvider.from_settings(RoutingSettings(sms="routing"))
    with pytest.raises(ValidationError, match="no message provider named 'nope'"):
        RoutingProvider.from_settings(RoutingSettings(sms="nope"))
    with pytest.raises(ValidationError, match="at least one route"):
        RoutingProvider.from_settings(RoutingSettings())
