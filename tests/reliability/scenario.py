"""Setting up one scenario: a queue name, a handle, a fleet of worker processes, a producer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

from kmsg import JobQueue
from tests.backends import Store
from tests.reliability.checker import Report
from tests.reliability.ledger import Ledger
from tests.reliability.processes import Fleet
from tests.reliability.support import verdict

__all__ = ["Scenario", "backend_name", "open_scenario"]


def backend_name(url: str) -> str:
    """``sqlite`` or ``redis``, from a queue URL."""
    return url.partition(":")[0]


@dataclass
class Scenario:
    """What a scenario test works with."""

    qname: str
    queue: JobQueue
    fleet: Fleet
    producer: Ledger
    ledger_dir: Path

    @property
    def backend(self) -> str:
        """``sqlite`` or ``redis``."""
        return backend_name(self.fleet.url)

    async def verdict(self) -> Report:
        """The checker's report on this scenario's ledger and queue."""
        return await verdict(self.queue, self.qname, self.ledger_dir)


async def open_scenario(
    store: Store, ledger_dir: Path, fleets: list[Fleet], *args: str, prefix: str = "rel"
) -> Scenario:
    """A fresh queue name on ``store``, and a fleet (closed by the fixture) whose workers use it."""
    qname = f"{prefix}-{uuid4().hex[:8]}"
    fleet = Fleet(store.url, ledger_dir, options=store.options, args=["--queue", qname, *args])
    fleets.append(fleet)
    queue = await store.open()
    return Scenario(qname, queue, fleet, Ledger(ledger_dir, "producer"), ledger_dir)
