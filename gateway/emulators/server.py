"""Serve an ASGI app with uvicorn on a loopback port, in a background thread.

The listening socket is bound and put in listening state before the thread starts, so the URL is
usable at once: connections made before uvicorn's loop runs wait in the kernel's backlog.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp


class LoopbackServer:
    """One uvicorn server on 127.0.0.1 in its own thread and event loop."""

    def __init__(self, app: ASGIApp, *, port: int = 0, host: str = "127.0.0.1") -> None:
        # IPPROTO_TCP explicitly: asyncio then sets TCP_NODELAY on accepted connections, which
        # avoids a Nagle and delayed-ACK stall of ~40 ms per keep-alive request.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(2048)
        self.host, self.port = self._sock.getsockname()[:2]
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=1,
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name=f"loopback:{self.port}", daemon=True)
        self._on_stop: list[asyncio.Event] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop_events(self, *events: asyncio.Event) -> None:
        """Events set when the server stops (used to release requests that hang on purpose)."""
        self._on_stop.extend(events)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._server.serve(sockets=[self._sock]))
        finally:
            self._loop.close()

    def start(self) -> LoopbackServer:
        """Start serving (again calls are no-ops, so ``with x.serve():`` works too)."""
        if not self._thread.is_alive() and self._thread.ident is None:
            self._thread.start()
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            for event in self._on_stop:
                try:
                    loop.call_soon_threadsafe(event.set)
                except RuntimeError:  # the loop closed meanwhile
                    break
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
