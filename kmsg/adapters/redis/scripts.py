"""The Lua scripts, loaded once from ``lua/*.lua``: pure data, no I/O.

Each script file opens with its Redis 7 flags line (``#!lua``, ``#!lua flags=allow-oom`` for the
calls that must keep working under ``maxmemory``, ``#!lua flags=no-writes`` for reads), then a
header listing its KEYS, ARGV and return codes. The text sent to Redis is that flags line, then
``lua/includes/common.lua``, then the rest of the file.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from typing import Final

from kmsg.adapters.redis.keys import QueueKeys
from kmsg.adapters.redis.resp import pack_args

__all__ = ["SCRIPT_NAMES", "ScriptTarget", "script_sha", "script_source", "shared_source"]

SCRIPT_NAMES: Final = (
    "cancel",
    "claim",
    "cleanup",
    "clear",
    "complete",
    "complete_many",
    "enqueue",
    "extend",
    "extend_many",
    "fail",
    "import",
    "jobs",
    "list",
    "pause",
    "purge_failed",
    "rate_limit",
    "release",
    "remove",
    "retry_failed",
    "snooze",
    "stats",
    "unwait",
    "wake",
    "watch",
)

_LUA = resources.files("kmsg.adapters.redis").joinpath("lua")


@cache
def shared_source() -> str:
    """``lua/includes/common.lua``: the helpers every script starts with."""
    return _LUA.joinpath("includes", "common.lua").read_text(encoding="utf-8")


@cache
def script_source(name: str) -> str:
    """The full text of script ``name``: its flags line, the shared include, then the script."""
    flags, _, body = _LUA.joinpath(f"{name}.lua").read_text(encoding="utf-8").partition("\n")
    if not flags.startswith("#!lua"):
        raise RuntimeError(f"lua/{name}.lua must open with a '#!lua' flags line")
    return f"{flags}\n{shared_source()}\n{body}"


@cache
def script_sha(name: str) -> str:
    """The SHA1 digest ``EVALSHA`` names script ``name`` by."""
    return hashlib.sha1(script_source(name).encode()).hexdigest()


class ScriptTarget:
    """One queue as every script sees it: its ``KEYS`` and leading ``ARGV``, and both already in
    RESP form (they are the same for every call on the queue)."""

    __slots__ = ("count", "head", "keys", "packed")

    def __init__(self, keys: QueueKeys) -> None:
        self.keys = keys.script_keys
        self.head = [keys.channel]
        self.packed = pack_args([len(self.keys), *self.keys, *self.head])
        self.count = 3 + len(self.keys) + len(self.head)
