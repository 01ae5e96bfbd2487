"""Payload types used by the dashboard tests."""

from __future__ import annotations

import msgspec


class SendSms(msgspec.Struct, frozen=True):
    """A text message to one phone number."""

    to: str
    text: str


class Ping(msgspec.Struct, frozen=True):
    """A payload of another task."""

    n: int = 0
