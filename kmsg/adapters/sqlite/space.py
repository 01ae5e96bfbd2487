"""Room to write: new work is refused while the calls that drain a queue still have space.

SQLite fails any write that needs a page it cannot get with ``SQLITE_FULL``, which the adapter
raises as ``BackendFull`` with nothing of that call written (``database.py``). Left at that, a
full disk would stop the draining calls as well, since a claim adds index entries and grows rows
too. So the calls that add jobs (``enqueue_many``, ``import_jobs``) first check that each step
leaves :data:`DRAIN_RESERVE` free, and raise ``BackendFull`` (nothing written) when it would not;
the calls that drain and free (claim, complete, fail, extend, release, cancel, remove,
purge_failed, cleanup, clear) never check, and the reserve is theirs.

The room is the smaller of what SQLite may still add to the file (``max_page_count`` pages in
all) and the free space of the disk, plus the free pages inside the file, which any write
reuses before it grows the file.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Final

from kmsg.adapters.sqlite.statements import sql
from kmsg.errors import BackendFull

__all__ = ["DRAIN_RESERVE", "JOB_OVERHEAD", "check_room"]

DRAIN_RESERVE: Final = 8 << 20
"""Bytes kept free for draining: a claim or complete of 1,000 jobs writes about 100-200 KiB of
new index entries and longer rows, so 8 MiB carries a queue through many of them (and deletes
give space back), while being nothing beside any real disk."""

JOB_OVERHEAD: Final = 512
"""About the bytes a job takes beyond its payload: the row's other columns, five index entries."""


def _free_disk(path: Path) -> int | None:
    try:
        return shutil.disk_usage(path.parent).free
    except OSError:
        return None  # the file's folder cannot be measured: SQLITE_FULL remains the guard


def check_room(connection: sqlite3.Connection, path: Path, needed: int) -> None:
    """Raise ``BackendFull`` unless ``needed`` more bytes leave :data:`DRAIN_RESERVE` free."""
    page_size, pages, free_pages, max_pages = connection.execute(sql("room")).fetchone()
    room = (max_pages - pages) * page_size
    disk = _free_disk(path)
    if disk is not None:
        room = min(room, disk)
    room += free_pages * page_size
    if room < needed + DRAIN_RESERVE:
        raise BackendFull(
            f"sqlite database {path} is nearly full ({room >> 10} KiB left, {DRAIN_RESERVE >> 20}"
            " MiB kept for draining): new jobs are refused and nothing of this call was written;"
            " free disk space, or drain the queue (claim, complete, cleanup, purge_failed)"
        )
