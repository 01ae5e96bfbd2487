"""The Lua scripts: loaded once from ``lua/*.lua`` and run by EVALSHA.

Each script is ``lua/includes/common.lua`` followed by its own file. On plain Redis the scripts
run through a :class:`~kmsg.adapters.redis.pipe.CommandPipe` (one auto-pipelined connection),
which on ``NOSCRIPT`` (after ``SCRIPT FLUSH``, a restart or a failover) loads the script and runs
it again. On Redis Cluster they run through redis-py's script objects, which route each call to
the queue's slot and do the same reload on every primary.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Final

from kmsg.adapters.redis.keys import QueueKeys
from kmsg.adapters.redis.pipe import CommandPipe, pack_args

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

__all__ = ["SCRIPT_NAMES", "ScriptRunner", "ScriptTarget", "script_source"]

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
    "stats",
    "unwait",
    "wake",
)

_LUA = resources.files("kmsg.adapters.redis").joinpath("lua")


@cache
def script_source(name: str) -> str:
    """The full text of script ``name``: the shared include, then the script itself."""
    common = _LUA.joinpath("includes", "common.lua").read_text(encoding="utf-8")
    return common + "\n" + _LUA.joinpath(f"{name}.lua").read_text(encoding="utf-8")


class ScriptTarget:
    """One queue as every script sees it: its ``KEYS``, the two leading ``ARGV``, and both
    already in RESP form (they are the same for every call on the queue)."""

    __slots__ = ("count", "head", "keys", "packed")

    def __init__(self, keys: QueueKeys) -> None:
        self.keys = keys.script_keys
        self.head = [keys.job_prefix, keys.channel]
        self.packed = pack_args([len(self.keys), *self.keys, *self.head])
        self.count = 3 + len(self.keys) + len(self.head)


class ScriptRunner:
    """Runs the named scripts on one client: through a pipe when given one, else redis-py's."""

    def __init__(self, client: Any, pipe: CommandPipe | None) -> None:
        self._pipe = pipe
        self._scripts: dict[str, AsyncScript] = {}
        self._evalsha: dict[str, bytes] = {}
        if pipe is None:
            self._scripts = {
                name: client.register_script(script_source(name)) for name in SCRIPT_NAMES
            }
        else:
            for name in SCRIPT_NAMES:
                sha = hashlib.sha1(script_source(name).encode()).hexdigest()
                self._evalsha[name] = pack_args(("EVALSHA", sha))

    async def run(self, name: str, target: ScriptTarget, args: Sequence[Any]) -> Any:
        """Run script ``name`` on ``target`` with the script-specific ``args`` (ARGV[3..])."""
        if self._pipe is None:
            return await self._scripts[name](keys=target.keys, args=[*target.head, *args])
        command = b"".join(
            (
                b"*%d\r\n" % (target.count + len(args)),
                self._evalsha[name],
                target.packed,
                pack_args(args),
            )
        )
        return await self._pipe.evalsha(command, script_source(name))
