"""Provider settings from the environment and ``kmsg.toml``: one loader, clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import msgspec
import pytest

from kmsg import ValidationError
from kmsg.messaging import (
    MockProvider,
    ProviderTable,
    configure_provider,
    load_settings,
    read_provider_table,
)
from kmsg.messaging.config import setting_variable
from kmsg.messaging.http import HttpProvider, HttpSettings


class GatewaySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Settings of an imagined gateway provider named ``acme-sms``."""

    api_key: str
    sender: str = "0212345678"
    timeout: Annotated[float, msgspec.Meta(gt=0)] = 10.0
    retries: int = 3
    sandbox: bool = False


def test_variables_are_named_after_the_provider_and_field() -> None:
    assert setting_variable("http", "url") == "K_MSG_HTTP_URL"
    assert setting_variable("acme-sms", "api_key") == "K_MSG_ACME_SMS_API_KEY"


def test_the_environment_wins_over_the_table_then_defaults() -> None:
    environ = {"K_MSG_ACME_SMS_API_KEY": "from-env", "K_MSG_ACME_SMS_TIMEOUT": "2.5"}
    table = ProviderTable({"api_key": "from-file", "retries": 7, "sandbox": True}, Path("k.toml"))
    settings = load_settings(GatewaySettings, "acme-sms", environ=environ, table=table)
    assert settings == GatewaySettings(
        api_key="from-env", timeout=2.5, retries=7, sandbox=True, sender="0212345678"
    )


def test_environment_text_is_converted_to_the_field_type() -> None:
    environ = {
        "K_MSG_ACME_SMS_API_KEY": "k",
        "K_MSG_ACME_SMS_RETRIES": "5",
        "K_MSG_ACME_SMS_SANDBOX": "true",
    }
    settings = load_settings(GatewaySettings, "acme-sms", environ=environ)
    assert (settings.retries, settings.sandbox) == (5, True)


def test_a_missing_setting_names_its_variable_and_key() -> None:
    with pytest.raises(ValidationError) as caught:
        load_settings(GatewaySettings, "acme-sms", environ={})
    assert str(caught.value) == (
        "provider 'acme-sms' needs K_MSG_ACME_SMS_API_KEY "
        "(or api_key in the [provider] table of kmsg.toml)"
    )


def test_a_bad_value_names_where_it_came_from_and_not_the_value() -> None:
    environ = {"K_MSG_ACME_SMS_API_KEY": "secret-value", "K_MSG_ACME_SMS_TIMEOUT": "soon"}
    with pytest.raises(ValidationError, match="K_MSG_ACME_SMS_TIMEOUT: Expected `float`"):
        load_settings(GatewaySettings, "acme-sms", environ=environ)
    table = ProviderTable({"api_key": "secret-value", "timeout": -1}, Path("conf/k.toml"))
    with pytest.raises(ValidationError) as caught:
        load_settings(GatewaySettings, "acme-sms", environ={}, table=table)
    assert "timeout in the [provider] table of conf/k.toml: Expected `float` > 0" in str(
        caught.value
    )
    assert "secret-value" not in str(caught.value)


def test_an_unknown_key_in_the_table_is_refused() -> None:
    table = ProviderTable({"name": "acme-sms", "api_key": "k", "time_out": 3}, Path("k.toml"))
    with pytest.raises(ValidationError, match=r"unknown setting time_out .* known: api_key, "):
        load_settings(GatewaySettings, "acme-sms", environ={}, table=table)


def test_read_provider_table_from_kmsg_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert read_provider_table({}) == ProviderTable()
    (tmp_path / "kmsg.toml").write_text('[provider]\nname = "http"\nurl = "http://gw/send"\n')
    table = read_provider_table({})
    assert (table.name, table.values["url"], table.source) == (
        "http",
        "http://gw/send",
        Path("kmsg.toml"),
    )


def test_read_provider_table_refuses_what_it_cannot_use(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"K_MSG_CONFIG=.*: no such file"):
        read_provider_table({"K_MSG_CONFIG": str(tmp_path / "missing.toml")})
    broken = tmp_path / "broken.toml"
    broken.write_text("[provider\n")
    with pytest.raises(ValidationError, match=r"broken\.toml"):
        read_provider_table({"K_MSG_CONFIG": str(broken)})
    broken.write_text('provider = "http"\n')
    with pytest.raises(ValidationError, match=r"provider must be a table"):
        read_provider_table({"K_MSG_CONFIG": str(broken)})


@pytest.mark.anyio
async def test_configure_http_from_the_environment() -> None:
    environ = {
        "K_MSG_HTTP_URL": "https://ops:pw@sms.example/send",
        "K_MSG_HTTP_TIMEOUT": "3",
        "K_MSG_HTTP_HEALTH_URL": "/health",
    }
    provider = configure_provider("http", environ=environ, table=ProviderTable())
    assert isinstance(provider, HttpProvider)
    async with provider:
        assert provider.url == "https://sms.example/send"
        assert "pw" not in repr(provider)


@pytest.mark.anyio
async def test_a_table_for_another_provider_is_ignored() -> None:
    table = ProviderTable({"name": "acme-sms", "api_key": "k"}, Path("k.toml"))
    provider = configure_provider("http", environ={"K_MSG_HTTP_URL": "http://gw/s"}, table=table)
    assert isinstance(provider, HttpProvider)
    await provider.aclose()


def test_configure_http_without_a_url_says_which_variable() -> None:
    with pytest.raises(ValidationError, match="provider 'http' needs K_MSG_HTTP_URL"):
        configure_provider("http", environ={}, table=ProviderTable())


def test_a_provider_without_settings_is_built_plainly_and_refuses_a_table() -> None:
    assert isinstance(configure_provider("mock", environ={}, table=ProviderTable()), MockProvider)
    table = ProviderTable({"name": "mock", "seed": 1}, Path("k.toml"))
    with pytest.raises(ValidationError, match=r"takes no settings, .* sets seed"):
        configure_provider("mock", environ={}, table=table)


def test_unknown_provider_names_the_installed_ones() -> None:
    with pytest.raises(ValidationError, match=r"no message provider named 'nosuch'.*'http'"):
        configure_provider("nosuch", environ={}, table=ProviderTable())


def test_http_settings_repr_hides_the_token_and_url_credentials() -> None:
    settings = HttpSettings(url="https://u:pw@gw/send", token="sk_live_xyz")
    assert "sk_live_xyz" not in repr(settings)
    assert "pw" not in repr(settings)
