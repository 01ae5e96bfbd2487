"""Running the named scripts on one client: through the :class:`CommandPipe` on plain Redis, or
redis-py's script objects on a Cluster (which route each call to the queue's slot and reload a
script on ``NOSCRIPT`` on every primary)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kmsg.adapters.redis.pipe import CommandPipe
from kmsg.adapters.redis.resp import pack_args
from kmsg.adapters.redis.scripts import SCRIPT_NAMES, ScriptTarget, script_sha, script_source

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

__all__ = ["ScriptRunner"]


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
            self._evalsha = {
                name: pack_args(("EVALSHA", script_sha(name))) for name in SCRIPT_NAMES
            }

    async def run(self, name: str, target: ScriptTarget, args: Sequence[Any]) -> Any:
        """Run script ``name`` on ``target`` with the script-specific ``args`` (ARGV[2..])."""
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
