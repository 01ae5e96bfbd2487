"""Provider error messages lose every secret, and only secrets."""

from __future__ import annotations

from kmsg.messaging.redaction import MAX_ERROR_TEXT, redact, secret_forms


def test_secrets_and_their_percent_encoded_forms_are_redacted() -> None:
    secrets = secret_forms(["s3cret/key", None, ""])
    text = "refused s3cret/key (sent as s3cret%2Fkey)"
    assert redact(text, secrets) == "refused [redacted] (sent as [redacted])"


def test_a_value_too_short_to_be_a_secret_leaves_the_message_readable() -> None:
    assert redact("a transport failed", secret_forms(["a", "ab"])) == "a transport failed"


def test_a_long_message_is_cut() -> None:
    assert len(redact("x" * 10_000, ())) == MAX_ERROR_TEXT
