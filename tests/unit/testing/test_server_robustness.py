"""The FakeServer under hostile or odd input, and its layering."""

from __future__ import annotations

import ast
import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as sync_connect

import wamd.testing
from tests.unit.testing.mini_client import DeviceKeys, register
from tests.unit.testing.test_server_flows import PHONE, link, login
from wamd.binary import Node, decode_node
from wamd.noise import FrameReader, NoiseInitiator, encode_frame
from wamd.testing import FakeServer, ServerThread


@pytest.fixture(scope="module")
def srv() -> Iterator[ServerThread]:
    with FakeServer.start_in_thread(handshake_timeout=2.0) as thread:
        yield thread


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    garbage=st.one_of(
        st.binary(max_size=200),
        st.binary(max_size=120).map(lambda b: b"WA\x06\x03" + encode_frame(b)),
        st.binary(max_size=60).map(lambda b: b"ED\x00\x01\x00\x00\x02xyWA\x06\x03" + b),
    )
)
def test_any_first_message_is_answered_or_closed_never_crashes(
    srv: ServerThread, garbage: bytes
) -> None:
    before = srv.call(lambda: len(srv.server.handshake_failures))
    with sync_connect(srv.url, open_timeout=5, close_timeout=1) as ws:
        ws.send(garbage)
        try:
            reply = ws.recv(timeout=0.3)
        except ConnectionClosed:
            reply = None
        except TimeoutError:
            reply = b"(waiting for more)"  # a partial intro or frame: the server waits
    if reply is None:  # closed silently: the reason was recorded
        srv.wait_for(lambda: len(srv.server.handshake_failures) > before)
    else:
        assert isinstance(reply, bytes)
    srv.wait_for(lambda: all(c.closed.is_set() for c in srv.server.connections), 10)


async def test_intro_and_frames_split_into_single_bytes_still_work() -> None:
    async with FakeServer() as server:
        keys = DeviceKeys()
        async with connect(server.url) as ws:
            noise = NoiseInitiator()
            for byte in noise.client_hello():
                await ws.send(bytes([byte]))
            hello = await asyncio.wait_for(ws.recv(), 5)
            assert isinstance(hello, bytes)
            finished = noise.process_server_hello(
                FrameReader().feed(hello)[0],
                keys.noise,
                keys.registration_payload(),
                now=int(time.time()),
                root_key=server.root_public_key,
            )
            message = finished.message
            await ws.send(message[:5])
            await ws.send(message[5:])
            frames = FrameReader().feed(await asyncio.wait_for(ws.recv(), 5))  # type: ignore[arg-type]
            first = decode_node(finished.transport.decrypt(frames[0]))
            assert first.children()[0].tag == "pair-device"
        assert server.handshake_failures == []


async def test_garbage_transport_frame_closes_and_is_recorded() -> None:
    async with FakeServer() as server:
        keys = DeviceKeys()
        await link(server, keys)
        client, _ = await login(server, keys)
        await client.ws.send(encode_frame(b"\x00" * 40))
        assert await client.closed_by_server()
        assert server.handshake_failures[-1].stage == "transport"
        assert server.connection_of(PHONE, 1) is None


async def test_undecodable_stanza_closes_and_is_recorded() -> None:
    async with FakeServer() as server:
        keys = DeviceKeys()
        client, _ = await register(server.url, server.root_public_key, keys)
        await client.ws.send(client.cipher.encrypt_frame(b"\x00\xf8"))
        assert await client.closed_by_server()
        assert server.handshake_failures[-1].stage == "transport"


async def test_client_stanzas_other_than_iq_are_kept_and_ignored() -> None:
    async with FakeServer() as server:
        keys = DeviceKeys()
        await link(server, keys)
        client, _ = await login(server, keys)
        await client.send(Node("presence", {"name": "Alice", "type": "available"}))
        await client.send(Node("ib", {}, [Node("unified_session", {"id": "1"})]))
        reply = await client.query("w:p", "get", [Node("ping")])
        assert reply.attrs["type"] == "result"
        assert server.accounts[PHONE].push_name == "Alice"
        tags = [e.node.tag for e in server.connections[-1].transcript if e.direction == "in"]
        assert tags == ["presence", "ib", "iq"]
        await client.close()


def test_testing_never_imports_the_client_layer() -> None:
    package = Path(wamd.testing.__file__).parent
    for path in package.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith(("wamd.client", "wamd.messages")), (path, name)
                assert name != "wamd" or not isinstance(node, ast.ImportFrom), (path, name)
