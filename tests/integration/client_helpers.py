"""Shared helpers for the client integration tests: a recorder, a QR-scanning phone, and
what the server received."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import wamd
from wamd.binary import Node
from wamd.client import ReconnectPolicy
from wamd.testing import FakePhone, FakeServer

E = TypeVar("E", bound=wamd.Event)

FAST_RECONNECT = ReconnectPolicy(initial=0.05, max_delay=0.2, jitter=0.0)


def pn(number: str) -> str:
    """The PN user JID of the phone number ``number``."""
    return f"{number}@s.whatsapp.net"


def received(srv: FakeServer, number: str) -> list[Node]:
    """Every stanza the server received from the linked device of ``number``."""
    account = srv.accounts[number]
    return [
        entry.node
        for conn in srv.connections
        if conn.account is account and conn.device_id == 1
        for entry in conn.transcript
        if entry.direction == "in"
    ]


class Recorder:
    """Collects every event of a connection, and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[wamd.Event] = []
        self._changed = asyncio.Event()

    def __call__(self, event: wamd.Event) -> None:
        self.events.append(event)
        self._changed.set()

    def of(self, kind: type[E]) -> list[E]:
        """The recorded events of ``kind``."""
        return [e for e in self.events if isinstance(e, kind)]

    async def wait_for(self, kind: type[E], count: int = 1, timeout: float = 10.0) -> E:
        """Wait until ``count`` events of ``kind`` were recorded; return the last one."""
        async with asyncio.timeout(timeout):
            while len(self.of(kind)) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.of(kind)[count - 1]


def scanner(phone: FakePhone) -> Callable[[str], Awaitable[None]]:
    """An ``on_qr`` callback: the phone scans the first QR code it is shown."""
    scanned: list[str] = []

    async def on_qr(qr: str) -> None:
        if not scanned:
            scanned.append(qr)
            await phone.scan(qr)

    return on_qr


def server_kwargs(server: FakeServer, **extra: Any) -> dict[str, Any]:
    """The connect() arguments that point a client at ``server``."""
    kwargs: dict[str, Any] = {
        "url": server.url,
        "server_root_key": server.root_public_key,
        "reconnect": FAST_RECONNECT,
    }
    kwargs.update(extra)
    return kwargs


async def link_by_qr(
    server: FakeServer, state: wamd.AuthState | wamd.AuthHandle, phone_number: str = "15550001111"
) -> Recorder:
    """Link a device by QR on ``server`` until Connected; the connection is closed again."""
    phone = server.phone(phone_number)
    recorder = Recorder()
    async with wamd.connect(state, on_qr=scanner(phone), **server_kwargs(server)) as conn:
        conn.on(wamd.Event, recorder)
        await conn.wait_connected(15)
    return recorder
