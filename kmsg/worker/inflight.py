"""A job whose handler is running: its lease, its cancel scope and what its lease is known to last.

The runner makes one :class:`InFlight` per handler call, the heartbeat loop renews its lease, and
whoever must stop the handler (a lost lease, shutdown) says why in :attr:`InFlight.stop` before
cancelling :attr:`InFlight.scope`.
"""

from __future__ import annotations

import enum

import anyio

from kmsg.models import ClaimedJob

__all__ = ["InFlight", "Stop"]


class Stop(enum.Enum):
    """Why a running handler was cancelled by the worker (a timeout sets no reason)."""

    LEASE_LOST = "lease lost"
    RELEASE = "release"


class InFlight:
    """A running handler's job and lease, as the worker sees them.

    Times are ``anyio.current_time()`` values. ``renewed_at`` is when the lease was last set (the
    claim, or the sending of the last successful renewal); ``expires_at`` is ``renewed_at`` plus
    the lease, never later than the backend's deadline.
    """

    __slots__ = (
        "expires_at",
        "job",
        "lease",
        "lost_reason",
        "progress",
        "renewed_at",
        "scope",
        "stop",
    )

    def __init__(
        self, claimed: ClaimedJob, scope: anyio.CancelScope, claimed_at: float, lease: float
    ) -> None:
        self.job = claimed.job
        self.lease = claimed.lease
        self.scope = scope
        self.renewed_at = claimed_at
        self.expires_at = claimed_at + lease
        self.stop: Stop | None = None
        self.lost_reason = ""
        self.progress: bytes | None = None
        """The handler's latest progress report not yet carried by a heartbeat."""

    def report(self, progress: bytes) -> None:
        """Keep the handler's latest progress for the next heartbeat."""
        self.progress = progress

    def renewed(self, sent_at: float, lease: float) -> None:
        """Record a successful renewal sent at ``sent_at`` for ``lease`` seconds."""
        self.renewed_at = sent_at
        self.expires_at = sent_at + lease
