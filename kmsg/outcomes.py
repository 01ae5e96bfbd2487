"""One table from what a backend answers to what the caller sees, shared by every adapter.

A fenced call (``complete``, ``fail``, ``extend``, ``release`` and their batch forms) that
changes nothing answers one of the :class:`Lost` codes, on every backend (the Lua scripts return
the code's value; the SQLite transaction bodies return the member); :func:`lease_lost` turns it
into the ``LeaseLost`` the caller gets, with the same message everywhere.
"""

from __future__ import annotations

import enum
from typing import Final

from kmsg.errors import LeaseLost
from kmsg.models import Lease

__all__ = ["Lost", "lease_lost"]


class Lost(enum.StrEnum):
    """Why a fenced call changed nothing (the value is what a Lua script returns)."""

    STALE = "lost"
    """The job is not ``processing`` under this token (its lease was reclaimed, or it ended)."""
    GONE = "gone"
    """The job no longer exists (removed, cleared, or its record is missing)."""
    CANCELLED = "cancelled"
    """A cancel was requested: the call ended the job as ``cancelled`` instead."""
    CANCEL_REQUESTED = "cancel_requested"
    """A cancel was requested: ``extend`` changed nothing, so the holder learns to stop."""


_REASONS: Final = {
    Lost.STALE: "the lease token is stale",
    Lost.GONE: "the job no longer exists",
    Lost.CANCELLED: "the job was cancelled",
    Lost.CANCEL_REQUESTED: "the job's cancel was requested",
}


def lease_lost(lease: Lease, why: Lost) -> LeaseLost:
    """The ``LeaseLost`` a caller of a fenced call gets for ``why``."""
    return LeaseLost(lease.queue, lease.job_id, _REASONS[why])
