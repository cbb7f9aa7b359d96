"""EventEmitter: ordered, awaited handlers; failures logged; iterators fed and ended."""

from __future__ import annotations

import asyncio
import logging

import pytest

from wamd.client.emitter import EventEmitter
from wamd.events import Connected, Disconnected, DisconnectReason, Event, QRCode


async def test_handlers_run_in_order_and_async_ones_are_awaited() -> None:
    emitter = EventEmitter()
    calls: list[str] = []

    async def slow(event: Event) -> None:
        await asyncio.sleep(0.01)
        calls.append("async")

    emitter.on(Event, slow)
    emitter.on(Connected, lambda e: calls.append("sync"))
    await emitter.emit(Connected())
    assert calls == ["async", "sync"]


async def test_handlers_only_get_their_type() -> None:
    emitter = EventEmitter()
    seen: list[Event] = []
    emitter.on(QRCode, seen.append)
    await emitter.emit(Connected())
    await emitter.emit(QRCode("qr", 1, 60.0))
    assert [type(e) for e in seen] == [QRCode]


async def test_a_failing_handler_is_logged_and_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    emitter = EventEmitter()
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("boom")

    emitter.on(Event, broken)
    emitter.on(Event, seen.append)
    with caplog.at_level(logging.ERROR, logger="wamd.client.emitter"):
        await emitter.emit(Connected())
    assert seen == [Connected()]
    assert "broken" in caplog.text
    assert "boom" in caplog.text


async def test_remove_handler() -> None:
    emitter = EventEmitter()
    seen: list[Event] = []
    remove = emitter.on(Event, seen.append)
    remove()
    remove()  # twice is fine
    await emitter.emit(Connected())
    assert seen == []


async def test_iterators_get_later_events_and_end_on_close() -> None:
    emitter = EventEmitter()
    got: list[Event] = []

    async def consume() -> None:
        async for event in emitter.events():
            got.append(event)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    await emitter.emit(Connected())
    await emitter.emit(Disconnected(DisconnectReason.TIMED_OUT, 408, True))
    emitter.close()
    await asyncio.wait_for(task, 1)
    assert [type(e) for e in got] == [Connected, Disconnected]


async def test_iterating_a_closed_emitter_ends_at_once() -> None:
    emitter = EventEmitter()
    emitter.close()
    assert [e async for e in emitter.events()] == []
