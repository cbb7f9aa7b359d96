"""Delivering events to handlers and iterators, in order, never letting one break things."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from wamd.events import Event

__all__ = ["EventEmitter", "Handler"]

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
Handler = Callable[[Any], "Awaitable[object] | object"]
"""A sync or async callable taking one event."""

_END = object()


class EventEmitter:
    """Calls handlers registered per event type, and feeds ``events()`` iterators.

    :meth:`emit` awaits every matching handler in registration order (so a handler that
    persists creds has finished before the connection goes on); a handler that raises is
    logged and skipped. Iterators get every event emitted after they started, through
    an unbounded queue each.
    """

    __slots__ = ("_closed", "_handlers", "_queues")

    def __init__(self) -> None:
        self._handlers: list[tuple[type[Event], Handler]] = []
        self._queues: list[asyncio.Queue[object]] = []
        self._closed = False

    def on(self, event_type: type[E], handler: Callable[[E], object]) -> Callable[[], None]:
        """Call ``handler(event)`` for every event of ``event_type`` (or a subclass).

        Returns a function that removes the handler again.
        """
        entry: tuple[type[Event], Handler] = (event_type, handler)
        self._handlers.append(entry)

        def remove() -> None:
            if entry in self._handlers:
                self._handlers.remove(entry)

        return remove

    async def emit(self, event: Event) -> None:
        """Deliver ``event`` to the handlers (awaited, in order), then to the iterators."""
        for event_type, handler in list(self._handlers):
            if not isinstance(event, event_type):
                continue
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "event handler %s failed on %s; the connection goes on",
                    getattr(handler, "__qualname__", handler),
                    type(event).__name__,
                )
        for queue in self._queues:
            queue.put_nowait(event)

    async def events(self) -> AsyncIterator[Event]:
        """Every event from now on, until the connection is closed for good."""
        if self._closed:
            return
        queue: asyncio.Queue[object] = asyncio.Queue()
        self._queues.append(queue)
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                if isinstance(item, Event):
                    yield item
        finally:
            if queue in self._queues:
                self._queues.remove(queue)

    def close(self) -> None:
        """End every iterator (after the events already queued)."""
        self._closed = True
        for queue in self._queues:
            queue.put_nowait(_END)
