"""A loopback TCP proxy that injects network faults between a client and a server.

Faults: :meth:`TcpProxy.cut` closes every open connection; :meth:`TcpProxy.blackhole` stops
forwarding in both directions (bytes wait, as in a partition) until :meth:`TcpProxy.heal`, which
then cuts the connections that were held; :meth:`TcpProxy.drop_next_reply` lets the next request
reach the server but throws its reply away and closes that connection, so the client cannot know
whether its command ran; :meth:`TcpProxy.add_latency` delays every chunk by that many seconds in
each direction (order kept, nothing lost), as a network 20 ms away would. Runs in the test's
event loop (anyio), bound to 127.0.0.1 only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.abc

__all__ = ["TcpProxy", "tcp_proxy"]

CHUNK = 65536
_GONE = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``target_port``; see the module docstring."""

    def __init__(
        self, listener: anyio.abc.Listener[anyio.abc.SocketStream], target_port: int
    ) -> None:
        self._listener = listener
        self.target_port = target_port
        self.port: int = listener.extra(anyio.abc.SocketAttribute.local_port)
        self._links: set[anyio.CancelScope] = set()
        """One cancel scope per proxied connection: cancelling it closes both of its sides."""
        self._open = anyio.Event()
        self._open.set()
        self._drop_armed = False
        self.dropped_replies = 0
        self.latency = 0.0
        """Seconds every chunk is held back in each direction (see :meth:`add_latency`)."""

    def url(self, db: int = 0) -> str:
        """``redis://127.0.0.1:<port>/<db>``: the server's URL through the proxy."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def cut(self) -> None:
        """Close every open connection now."""
        for link in list(self._links):
            link.cancel()

    def blackhole(self) -> None:
        """Stop forwarding; connections stay open but silent until :meth:`heal`."""
        self._open = anyio.Event()

    def heal(self) -> None:
        """Forward again; connections held by the blackhole are cut (their peers gave up)."""
        self.cut()
        self._open.set()

    def add_latency(self, seconds: float) -> None:
        """Hold every chunk back ``seconds`` in each direction from now on (0 removes it)."""
        self.latency = seconds

    def drop_next_reply(self) -> None:
        """Throw away the next reply from the server and close its connection."""
        self._drop_armed = True

    async def serve(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Accept connections until cancelled."""
        task_status.started()
        await self._listener.serve(self._handle)

    async def _handle(self, client: anyio.abc.SocketStream) -> None:
        async with client:
            try:
                server = await anyio.connect_tcp("127.0.0.1", self.target_port)
            except OSError:
                return
            link = anyio.CancelScope()
            self._links.add(link)
            try:
                async with server:
                    with link:
                        async with anyio.create_task_group() as group:
                            group.start_soon(self._pump, link, client, server, False)
                            group.start_soon(self._pump, link, server, client, True)
            finally:
                self._links.discard(link)

    async def _pump(
        self,
        link: anyio.CancelScope,
        source: anyio.abc.SocketStream,
        sink: anyio.abc.SocketStream,
        replies: bool,
    ) -> None:
        """Forward ``source`` to ``sink``: read chunks as they come, send each one ``latency``
        seconds after it arrived (a second task sends, so reading never waits for the delay)."""
        send, receive = anyio.create_memory_object_stream[tuple[float, bytes]](1000)
        async with anyio.create_task_group() as group, receive:
            group.start_soon(self._deliver, link, receive, sink, replies)
            try:
                async with send:
                    while True:
                        data = await source.receive(CHUNK)
                        await send.send((anyio.current_time() + self.latency, data))
            except _GONE:
                link.cancel()

    async def _deliver(
        self,
        link: anyio.CancelScope,
        chunks: anyio.abc.ObjectReceiveStream[tuple[float, bytes]],
        sink: anyio.abc.SocketStream,
        replies: bool,
    ) -> None:
        try:
            async for due, data in chunks:
                await anyio.sleep(max(due - anyio.current_time(), 0.0))
                await self._open.wait()
                if replies and self._drop_armed:
                    self._drop_armed = False
                    self.dropped_replies += 1
                    link.cancel()
                    return
                await sink.send(data)
        except _GONE:
            link.cancel()


@asynccontextmanager
async def tcp_proxy(target_port: int) -> AsyncIterator[TcpProxy]:
    """A running proxy to ``target_port`` on 127.0.0.1; stopped (every link closed) on exit."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener, anyio.create_task_group() as group:
        proxy = TcpProxy(listener, target_port)
        await group.start(proxy.serve)
        try:
            yield proxy
        finally:
            proxy.cut()
            group.cancel_scope.cancel()
