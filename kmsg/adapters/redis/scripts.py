"""The Lua scripts: loaded once from ``lua/*.lua`` and run by EVALSHA.

Each script is ``lua/includes/common.lua`` followed by its own file. redis-py's script objects run
``EVALSHA`` and, on ``NOSCRIPT`` (after ``SCRIPT FLUSH``, a restart or a failover), load the script
and run it again; in cluster mode the load goes to every primary.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Final

from kmsg.adapters.redis.keys import QueueKeys

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

__all__ = ["SCRIPT_NAMES", "ScriptRunner", "script_source"]

SCRIPT_NAMES: Final = (
    "cancel",
    "claim",
    "cleanup",
    "clear",
    "complete",
    "enqueue",
    "extend",
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
    "wake",
)

_LUA = resources.files("kmsg.adapters.redis").joinpath("lua")


@cache
def script_source(name: str) -> str:
    """The full text of script ``name``: the shared include, then the script itself."""
    common = _LUA.joinpath("includes", "common.lua").read_text(encoding="utf-8")
    return common + "\n" + _LUA.joinpath(f"{name}.lua").read_text(encoding="utf-8")


class ScriptRunner:
    """Runs the named scripts on one client (plain or cluster)."""

    def __init__(self, client: Any) -> None:
        self._scripts: dict[str, AsyncScript] = {
            name: client.register_script(script_source(name)) for name in SCRIPT_NAMES
        }

    async def run(self, name: str, keys: QueueKeys, args: Sequence[Any] = ()) -> Any:
        """Run script ``name`` on the queue's keys with the script-specific ``args``."""
        argv = [keys.job_prefix, keys.channel, *args]
        return await self._scripts[name](keys=keys.script_keys, args=argv)
