"""A claimer process for the multi-process conformance test.

Run as ``python -m tests.conformance._claimer URL QUEUE OUTFILE [OPTIONS_JSON]``: opens the store at
URL, creates ``OUTFILE.ready`` and waits for a file named ``go`` beside OUTFILE (so that every
claimer starts together), then claims jobs of QUEUE in small batches and completes each, writing
every claimed id (one a line) to OUTFILE, until the queue has nothing left to claim.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio

from kmsg import open_queue
from tests.conformance.support import wait_for_files

START_WITHIN = 60.0
"""Seconds to wait for the ``go`` file before giving up."""

IDLE_ROUNDS = 3
"""Empty claims in a row, with nothing left pending, after which the claimer stops."""


async def claim_until_empty(
    url: str, queue_name: str, out: Path, options: dict[str, object]
) -> None:
    """Claim and complete jobs until the queue stays empty; record each claimed id in ``out``."""
    async with open_queue(url, **options) as queue:
        await queue.stats(queue_name)
        out.with_suffix(".ready").touch()
        await wait_for_files([out.parent / "go"], within=START_WITHIN)
        idle = 0
        with out.open("w", encoding="utf-8") as sink:
            while idle < IDLE_ROUNDS:
                claimed = await queue.claim(queue_name, limit=5)
                for item in claimed:
                    sink.write(f"{item.job.id}\n")
                    await queue.complete(item.lease)
                stats = await queue.stats(queue_name)
                idle = idle + 1 if not claimed and stats.pending == 0 else 0
                if not claimed:
                    await anyio.sleep(0.05)


def main(argv: list[str]) -> None:
    """Parse the arguments and run the claimer under asyncio."""
    url, queue_name, out = argv[:3]
    options = json.loads(argv[3]) if len(argv) > 3 else {}
    anyio.run(claim_until_empty, url, queue_name, Path(out), options)


if __name__ == "__main__":
    main(sys.argv[1:])
