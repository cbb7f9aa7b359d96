"""A FakeServer on its own event loop in a background thread, for blocking test code.

Test code that blocks (a call into the Baileys oracle, a subprocess) cannot share an
event loop with the server. :class:`ServerThread` runs the server in a thread and lets
the caller run coroutines on its loop::

    with FakeServer.start_in_thread() as srv:
        phone = srv.server.phone("15550001111")
        srv.run(phone.scan(qr))
        srv.wait_for(lambda: phone.devices)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

from wamd.errors import TimeoutError_, UsageError
from wamd.testing.server import FakeServer

__all__ = ["ServerThread"]

_T = TypeVar("_T")


class ServerThread:
    """Runs a :class:`FakeServer` (built from ``kwargs``) on a loop in a daemon thread."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name="FakeServer", daemon=True)
        self._server: FakeServer | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    @property
    def server(self) -> FakeServer:
        """The server (only touch its state through :meth:`run` or :meth:`call`)."""
        if self._server is None:
            raise UsageError("ServerThread is not started: call start() first")
        return self._server

    @property
    def url(self) -> str:
        """The server's websocket URL."""
        return self.server.url

    @property
    def root_public_key(self) -> bytes:
        """The test root public key clients must trust."""
        return self.server.root_public_key

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = FakeServer(**self._kwargs)
            self._loop.run_until_complete(self._server.start())
        except BaseException as exc:  # re-raised by start()
            self._error = exc
            self._loop.close()
            self._started.set()
            return
        self._started.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    def start(self) -> ServerThread:
        """Start the thread and the server; return self once it listens.

        Raises what made the server fail to start (an ``OSError`` for a port in use, for
        example), or :class:`~wamd.errors.TimeoutError_` if it did not listen within 10 s.
        """
        self._thread.start()
        if not self._started.wait(10):
            raise TimeoutError_("FakeServer did not start listening within 10 s")
        if self._error is not None:
            self._thread.join(5)  # it is returning: stop() then finds nothing to stop
            raise self._error
        return self

    def run(self, coro: Coroutine[Any, Any, _T], timeout: float = 30.0) -> _T:
        """Run ``coro`` on the server's loop and return its result (blocking)."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    def call(self, fn: Callable[[], _T], timeout: float = 10.0) -> _T:
        """Call ``fn()`` on the server's loop (to read or change state safely)."""

        async def wrapper() -> _T:
            return fn()

        return self.run(wrapper(), timeout)

    def wait_for(self, predicate: Callable[[], object], timeout: float = 10.0) -> None:
        """Block until ``predicate()`` (evaluated on the server's loop) is true."""
        try:
            self.run(self.server.wait_for(predicate, timeout), timeout + 5)
        except TimeoutError:
            raise TimeoutError_(f"fake server: condition not met within {timeout} s") from None

    def stop(self) -> None:
        """Close the server, stop the loop and join the thread."""
        if not self._thread.is_alive():
            return
        try:
            if self._server is not None:
                self.run(self._server.close(), 15)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(15)

    def __enter__(self) -> ServerThread:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
