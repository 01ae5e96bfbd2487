"""open_queue picks an adapter by scheme and reports bad URLs and missing extras clearly."""

from __future__ import annotations

import pytest

from kmsg import ValidationError, open_queue, redact_url


def test_redact_url_hides_passwords() -> None:
    assert redact_url("redis://user:s3cret@host:6379/0") == "redis://user:***@host:6379/0"
    assert redact_url("rediss://:s3cret@host/1") == "rediss://:***@host/1"
    assert redact_url("sqlite:///kmsg.db") == "sqlite:///kmsg.db"
    assert "s3cret" not in repr(open_queue("redis://u:s3cret@localhost:6379"))


@pytest.mark.anyio
@pytest.mark.parametrize("url", ["postgres://localhost/db", "kmsg.db", "http://x"])
async def test_unknown_scheme_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="unsupported queue URL"):
        await open_queue(url)


@pytest.mark.anyio
async def test_password_never_appears_in_the_error() -> None:
    with pytest.raises(ValidationError) as caught:
        await open_queue("mysql://root:hunter2@localhost/db")
    assert "hunter2" not in str(caught.value)


def test_env_var_supplies_the_default_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("K_MSG_QUEUE_URL", "redis://127.0.0.1:6379/3")
    assert "redis://127.0.0.1:6379/3" in repr(open_queue())
    monkeypatch.delenv("K_MSG_QUEUE_URL")
    assert "sqlite:///kmsg.db" in repr(open_queue())
