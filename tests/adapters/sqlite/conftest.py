"""Fixtures of the SQLite adapter's own tests: a fresh file and a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from kmsg import open_queue
from kmsg.adapters.sqlite import SQLiteJobQueue


class Ping(msgspec.Struct, frozen=True):
    """A test payload."""

    n: int


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    """The clock injected into the queue."""
    return FakeClock()


@pytest.fixture
async def queue(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SQLiteJobQueue]:
    """A queue on a fresh file whose time is ``clock``."""
    async with open_queue(f"sqlite:///{tmp_path / 'kmsg.db'}", clock=clock) as opened:
        assert isinstance(opened, SQLiteJobQueue)
        yield opened
