"""Push wake-ups for ``wait_for_jobs``: one shared pub/sub connection per adapter.

Scripts that may make a job claimable PUBLISH to the queue's channel while a waiter may be idle
(the ``wake`` script, run before every wait, marks the queue's ``idle_until``; a busy worker that
keeps claiming is not sent a message per job). A reader task dispatches each message to the
events of the waiters on that channel. A waiter registers its event and waits for the channel's
subscription to be confirmed *before* it asks the server how long to wait (and marks itself idle),
so a job enqueued between that probe and the wait still wakes it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

__all__ = ["Notifier"]

_log = logging.getLogger("kmsg.adapters.redis")
_READ_TIMEOUT: Final = 1.0
_RECONNECT_PAUSE: Final = 0.2


class Notifier:
    """Fans messages of one pub/sub connection out to waiting tasks."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._waiters: dict[tuple[str, str | None], set[asyncio.Event]] = {}
        self._subscribed: dict[str, asyncio.Event] = {}

    async def register(self, channel: str, topic: str | None = None) -> asyncio.Event:
        """An event set by the next message on ``channel`` (only one whose text is ``topic``,
        if given); subscribed when this returns."""
        if self._pubsub is None:
            self._pubsub = self._client.pubsub()
        confirmed = self._subscribed.get(channel)
        if confirmed is None:
            confirmed = self._subscribed[channel] = asyncio.Event()
            try:
                await self._pubsub.subscribe(channel)
            except BaseException:
                del self._subscribed[channel]
                raise
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read())
        await confirmed.wait()
        event = asyncio.Event()
        self._waiters.setdefault((channel, topic), set()).add(event)
        return event

    def unregister(self, channel: str, event: asyncio.Event, topic: str | None = None) -> None:
        """Forget a waiter's event (the channel stays subscribed for the next waiter)."""
        events = self._waiters.get((channel, topic))
        if events is not None:
            events.discard(event)
            if not events:
                del self._waiters[channel, topic]

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=_READ_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the connection dropped: redis-py resubscribes on reconnect
                _log.warning("redis notify connection failed, retrying: %s", exc)
                self._wake_all()
                await asyncio.sleep(_RECONNECT_PAUSE)
                continue
            if message is not None:
                self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        channel = message["channel"]
        name = channel.decode() if isinstance(channel, bytes) else str(channel)
        if message["type"] == "subscribe":
            confirmed = self._subscribed.get(name)
            if confirmed is not None:
                confirmed.set()
        elif message["type"] == "message":
            data = message["data"]
            topic = data.decode() if isinstance(data, bytes) else str(data)
            for key in ((name, None), (name, topic)):
                for event in self._waiters.get(key, ()):
                    event.set()

    def _wake_all(self) -> None:
        for event in self._subscribed.values():
            event.set()
        for events in self._waiters.values():
            for event in events:
                event.set()

    async def aclose(self) -> None:
        """Stop the reader and close the pub/sub connection."""
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
            self._reader = None
        if self._pubsub is not None:
            await self._pubsub.aclose()
            self._pubsub = None
