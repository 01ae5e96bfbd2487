"""DashboardAuth: credentials from the environment, signed sessions, constant-time checks."""

from __future__ import annotations

import pytest

from kmsg import ValidationError
from kmsg.dashboard import DashboardAuth


def test_from_env_reads_token_user_password_and_secret() -> None:
    env = {
        "K_MSG_DASHBOARD_TOKEN": "tok-12345678",
        "K_MSG_DASHBOARD_USER": "ops",
        "K_MSG_DASHBOARD_PASSWORD": "pass-12345678",
        "K_MSG_DASHBOARD_SECRET": "s" * 32,
    }
    auth = DashboardAuth.from_env(env)
    assert auth.check_token("tok-12345678")
    assert auth.check_password("ops", "pass-12345678")
    assert not auth.check_password("ops", "pass-1234567")
    assert not auth.check_password("opz", "pass-12345678")
    assert auth.secret == b"s" * 32


def test_from_env_without_credentials_is_not_configured() -> None:
    auth = DashboardAuth.from_env({"K_MSG_DASHBOARD_TOKEN": ""})
    assert not auth.configured
    assert not auth.check_token("")


@pytest.mark.parametrize(
    "kwargs",
    [{"username": "ops"}, {"password": "pass-12345678"}, {"token": "short"}, {"secret": b"x"}],
)
def test_bad_credentials_config_is_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DashboardAuth(**kwargs)  # type: ignore[arg-type]


def test_repr_hides_secrets() -> None:
    auth = DashboardAuth(token="tok-12345678", username="ops", password="pass-12345678")
    assert "tok-12345678" not in repr(auth)
    assert "pass-12345678" not in repr(auth)


def test_session_round_trip_and_expiry() -> None:
    auth = DashboardAuth(token="tok-12345678", session_seconds=60)
    session = auth.new_session("ops", now=1000.0)
    cookie = auth.dump(session)
    assert auth.load(cookie, now=1059.0) == session
    assert auth.load(cookie, now=1061.0) is None


def test_session_signed_with_another_key_is_refused() -> None:
    one, two = DashboardAuth(token="tok-12345678"), DashboardAuth(token="tok-12345678")
    cookie = one.dump(one.new_session("ops"))
    assert two.load(cookie) is None


@pytest.mark.parametrize("cookie", ["", "abc", "abc.def", "!!!.0000", "."])
def test_malformed_cookies_are_refused(cookie: str) -> None:
    assert DashboardAuth(token="tok-12345678").load(cookie) is None


def test_payload_swapped_under_a_valid_signature_is_refused() -> None:
    auth = DashboardAuth(token="tok-12345678")
    mine = auth.dump(auth.new_session("ops")).split(".")
    other = auth.dump(auth.new_session("admin")).split(".")
    assert auth.load(f"{other[0]}.{mine[1]}") is None
