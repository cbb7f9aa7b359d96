"""query(): ids with the socket's prefix, <error> answers, timeouts, closed sockets."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

import wamd
from tests.integration.client_helpers import link_by_qr, server_kwargs
from wamd.binary import Node
from wamd.errors import ConnectionClosedError, QueryError, TimeoutError_
from wamd.testing import FakeServer


@pytest.fixture
async def conn() -> AsyncIterator[tuple[FakeServer, wamd.Connection]]:
    async with FakeServer() as srv:
        auth = await wamd.memory_auth_state()
        await link_by_qr(srv, auth)
        connection = await wamd.connect(auth, **server_kwargs(srv))
        await connection.wait_connected(10)
        yield srv, connection
        await connection.close()


async def test_ids_carry_the_socket_prefix(conn: tuple[FakeServer, wamd.Connection]) -> None:
    _, connection = conn
    first, second = connection.next_id(), connection.next_id()
    match = re.fullmatch(r"(\d+)\.(\d+)-(\d+)", first)
    assert match is not None
    assert int(match.group(1)) < 65536 and int(match.group(2)) < 65536
    assert second.rsplit("-", 1)[0] == first.rsplit("-", 1)[0]
    assert int(second.rsplit("-", 1)[1]) == int(match.group(3)) + 1


async def test_query_returns_the_answer(conn: tuple[FakeServer, wamd.Connection]) -> None:
    _, connection = conn
    node = Node("iq", {"to": "@s.whatsapp.net", "type": "get", "xmlns": "encrypt"}, [Node("count")])
    reply = await connection.query(node)
    assert reply.attrs["id"] == node.attrs["id"]
    count = reply.get_child("count")
    assert count is not None and count.attrs["value"] == "812"


async def test_error_answer_raises_query_error(conn: tuple[FakeServer, wamd.Connection]) -> None:
    _, connection = conn
    node = Node("iq", {"to": "@s.whatsapp.net", "type": "get", "xmlns": "no-such-ns"})
    with pytest.raises(QueryError) as info:
        await connection.query(node)
    assert info.value.code == 501
    assert info.value.text == "feature-not-implemented"


async def test_unanswered_query_times_out(conn: tuple[FakeServer, wamd.Connection]) -> None:
    srv, connection = conn
    srv.faults.unanswered.add("abt")
    node = Node("iq", {"to": "@s.whatsapp.net", "type": "get", "xmlns": "abt"})
    with pytest.raises(TimeoutError_, match="no answer"):
        await connection.query(node, timeout=0.2)


async def test_query_on_a_closed_connection_raises(
    conn: tuple[FakeServer, wamd.Connection],
) -> None:
    _, connection = conn
    await connection.close()
    with pytest.raises(ConnectionClosedError):
        await connection.query(Node("iq", {"type": "get", "xmlns": "w:p"}))
