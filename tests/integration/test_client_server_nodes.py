"""Server-initiated nodes: routing info, notification acks, pre-key refill, close in a handler."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

import wamd
from tests.integration.client_helpers import Recorder, link_by_qr, server_kwargs
from wamd.binary import Node
from wamd.testing import FakeServer

PHONE = "15550001111"


@pytest.fixture
async def setup() -> AsyncIterator[tuple[FakeServer, wamd.AuthHandle]]:
    async with FakeServer() as srv:
        auth = await wamd.memory_auth_state()
        await link_by_qr(srv, auth)
        yield srv, auth


async def _connect(srv: FakeServer, auth: wamd.AuthHandle) -> tuple[wamd.Connection, Recorder]:
    conn = await wamd.connect(auth, **server_kwargs(srv))
    recorder = Recorder()
    conn.on(wamd.Event, recorder)
    await conn.wait_connected(10)
    return conn, recorder


def _acks(srv: FakeServer) -> list[Node]:
    return [
        e.node
        for c in srv.connections
        for e in c.transcript
        if e.direction == "in" and e.node.tag == "ack"
    ]


async def test_routing_info_is_stored_and_sent_in_the_next_intro(
    setup: tuple[FakeServer, wamd.AuthHandle],
) -> None:
    srv, auth = setup
    conn, recorder = await _connect(srv, auth)
    server_conn = srv.connection_of(PHONE, 1)
    assert server_conn is not None
    routing = Node("routing_info", {}, b"\x08\x02\x08\x05")
    await server_conn.send(Node("ib", {}, [Node("edge_routing", {}, [routing])]))
    update = await recorder.wait_for(wamd.CredsUpdate)
    assert update.changed == frozenset({"routing_info"})
    assert auth.state.creds.routing_info == b"\x08\x02\x08\x05"
    assert await srv.send_stream_error(PHONE, 1, code=515)
    await recorder.wait_for(wamd.Connected, 2)
    assert srv.connections[-1].routing_info == b"\x08\x02\x08\x05"
    await conn.close()


async def test_notifications_are_acked(setup: tuple[FakeServer, wamd.AuthHandle]) -> None:
    srv, auth = setup
    conn, _ = await _connect(srv, auth)
    server_conn = srv.connection_of(PHONE, 1)
    assert server_conn is not None
    note = Node("notification", {"from": "@s.whatsapp.net", "type": "devices", "id": "n.1"})
    await server_conn.send(note)
    await srv.wait_for(lambda: any(a.attrs.get("id") == "n.1" for a in _acks(srv)), 5)
    ack = next(a for a in _acks(srv) if a.attrs.get("id") == "n.1")
    assert ack.attrs == {
        "id": "n.1",
        "to": "@s.whatsapp.net",
        "class": "notification",
        "type": "devices",
    }
    await conn.close()


async def test_pre_key_low_notification_refills_five(
    setup: tuple[FakeServer, wamd.AuthHandle],
) -> None:
    srv, auth = setup
    conn, recorder = await _connect(srv, auth)
    device = srv.devices(PHONE)[1]
    before = len(device.pre_keys)
    server_conn = srv.connection_of(PHONE, 1)
    assert server_conn is not None
    low = Node(
        "notification",
        {"from": "@s.whatsapp.net", "type": "encrypt", "id": "n.2"},
        [Node("count", {"value": "3"})],
    )
    await server_conn.send(low)
    await srv.wait_for(lambda: any(a.attrs.get("id") == "n.2" for a in _acks(srv)), 5)
    assert len(device.pre_keys) == before + 5
    assert max(device.pre_keys) == 817
    assert auth.state.creds.next_pre_key_id == 818
    counters = [e for e in recorder.of(wamd.CredsUpdate) if "next_pre_key_id" in e.changed]
    assert counters
    await conn.close()


async def test_close_from_inside_a_handler(setup: tuple[FakeServer, wamd.AuthHandle]) -> None:
    srv, auth = setup
    conn = await wamd.connect(auth, **server_kwargs(srv))
    closed = asyncio.Event()

    async def on_connected(event: wamd.Connected) -> None:
        await conn.close()
        closed.set()

    conn.on(wamd.Connected, on_connected)
    await asyncio.wait_for(closed.wait(), 10)
    await conn.wait_stopped(5)
    await asyncio.sleep(0.05)
    assert conn.stopped
    assert all(t.done() for t in conn._tasks)
