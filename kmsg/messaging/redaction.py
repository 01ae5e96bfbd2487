"""Secrets out of error messages: what every gateway provider stores as a job's error.

A gateway's error reply may echo the request (its ``Authorization`` header, a key in the URL),
and an exception's text may hold the URL: both end up in the job's error history, which the CLI
and the dashboard show. So every provider error message goes through :func:`redact` first.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final
from urllib.parse import quote

__all__ = ["MAX_ERROR_TEXT", "MIN_SECRET_LENGTH", "REDACTED", "redact", "secret_forms"]

REDACTED: Final = "[redacted]"
MAX_ERROR_TEXT: Final = 500
"""The longest provider error message kept (characters)."""
MIN_SECRET_LENGTH: Final = 4
"""Shorter values are not searched for: a one-letter "key" would blank out every letter of the
message, and no gateway issues keys that short."""


def secret_forms(secrets: Iterable[str | None]) -> tuple[str, ...]:
    """Each secret as sent and percent-encoded, longest first (so no part of one is left), those
    shorter than :data:`MIN_SECRET_LENGTH` left out."""
    forms = {
        form
        for secret in secrets
        if secret and len(secret) >= MIN_SECRET_LENGTH
        for form in (secret, quote(secret, safe=""))
    }
    return tuple(sorted(forms, key=len, reverse=True))


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every one of ``secrets`` (from :func:`secret_forms`) replaced by
    ``[redacted]`` and cut to :data:`MAX_ERROR_TEXT` characters."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    if len(text) > MAX_ERROR_TEXT:
        text = text[: MAX_ERROR_TEXT - 1] + "…"
    return text
