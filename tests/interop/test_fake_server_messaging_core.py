"""wamd's sans-IO messaging core and a Baileys client talk through the FakeServer.

Not wamd.client (it does not send or receive messages yet): a device built from
``wamd.messages`` (MessageSender, MessageReceiver) over a minimal Noise connection, so
the server is shown to be the mirror of what our core sends and expects, as it is of
Baileys'.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed

from tests.conftest import Oracle
from tests.interop.fake_server_driver import BaileysClient
from tests.interop.test_fake_server_messaging import (
    DELIVERY_ACK,
    WAIT,
    PatientClient,
    PatientServer,
    paired,
    pn,
    status_of,
)
from tests.unit.messages.accounts import Account as CoreDevice
from tests.unit.testing.mini_client import DeviceKeys, MiniClient
from wamd.binary import Node
from wamd.messages import MessageSender
from wamd.messages.retry import take_pre_key
from wamd.messages.send import text_message
from wamd.testing import Device, ServerThread, SignedPreKey

pytestmark = pytest.mark.interop

ALICE = "15550001111"
BOB = "15550002222"
CAROL = "15550003333"


@pytest.fixture
def srv() -> Iterator[ServerThread]:
    with PatientServer().start() as thread:
        yield thread


@pytest.fixture
def baileys(oracle: Oracle, srv: ServerThread) -> Iterator[Callable[..., BaileysClient]]:
    oracle.call("bc_take_stray")

    def start(folder: Path, **options: Any) -> BaileysClient:
        return PatientClient(oracle, srv, folder, **options)

    yield start
    oracle.call("bc_end_all")
    assert oracle.call("bc_take_stray") == []


class CorePeer:
    """A logged-in device running wamd.messages: answers iqs, decrypts, sends receipts."""

    def __init__(self, device: CoreDevice, client: MiniClient) -> None:
        self.device = device
        self.client = client
        self.pending: dict[str, asyncio.Future[Node]] = {}
        self.texts: list[tuple[str, str | None]] = []
        self.receipts: list[Node] = []
        self.sender = MessageSender(device.repo, device.me, self.query, now_s=lambda: 1_795_440_144)
        self.task = asyncio.get_running_loop().create_task(self._pump())

    async def query(self, node: Node) -> Node:
        future = asyncio.get_running_loop().create_future()
        self.pending[node.attrs["id"]] = future
        await self.client.send(node)
        return await asyncio.wait_for(future, WAIT)

    async def _pump(self) -> None:
        while True:
            try:
                node = await self.client.recv(timeout=60)
            except (ConnectionClosed, TimeoutError):
                return
            if node.tag == "iq" and node.attrs.get("id") in self.pending:
                self.pending.pop(node.attrs["id"]).set_result(node)
            elif node.tag == "message":
                result = await self.device.receiver.receive(node)
                if result.message is not None:
                    self.texts.append((result.message.id, result.message.text))
                for reply in result.replies:
                    await self.client.send(reply)
            elif node.tag == "receipt":
                self.receipts.append(node)

    async def wait(self, predicate: Callable[[], bool], timeout: float = WAIT) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.05)

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.client.close()


async def core_device_online(srv: ServerThread, number: str, push_name: str) -> CorePeer:
    """Register a wamd.messages device as ``number``:1 on the server and log it in."""
    device = CoreDevice(number, 1)
    creds = device.creds
    pre_keys = [(await take_pre_key(creds, device.store))[0] for _ in range(10)]
    spk = creds.signed_pre_key

    def register() -> None:
        account = srv.server.phone(number, push_name=push_name).account
        account.devices[1] = Device(
            device_id=1,
            noise_pub=creds.noise_key.public,
            identity_pub=creds.signed_identity_key.public,
            registration_id=creds.registration_id,
            signed_pre_key=SignedPreKey(spk.key_id, spk.key_pair.public, spk.signature),
            key_index=1,
            pre_keys={k.key_id: k.key_pair.public for k in pre_keys},
        )
        account.next_device_id = account.next_key_index = 2

    srv.call(register)
    keys = DeviceKeys(
        noise=creds.noise_key, identity=creds.signed_identity_key, user=number, device=1
    )
    client = await MiniClient.connect(srv.url, srv.root_public_key, keys, keys.login_payload())
    assert (await client.recv()).tag == "success"
    return CorePeer(device, client)


def enc_types(srv: ServerThread, msg_id: str, number: str) -> list[str]:
    """The enc types the server delivered for ``msg_id`` to ``number``:1."""
    return [
        enc.attrs["type"]
        for d in srv.server.messaging.deliveries
        if d.node.tag == "message"
        and d.node.attrs["id"] == msg_id
        and (d.phone_number, d.device) == (number, 1)
        for enc in d.node.children("enc")
    ]


def test_wamd_core_and_baileys_exchange_texts_through_the_server(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    alice = paired(srv, baileys, tmp_path / "alice", ALICE, "Alice")

    async def scenario() -> None:
        carol = await core_device_online(srv, CAROL, "Carol")
        try:
            out = await carol.sender.send(pn(ALICE), text_message("from wamd"))
            await carol.client.send(out.stanza)
            got = await asyncio.to_thread(alice.wait_text, "from wamd")
            assert got["key"]["id"] == out.stanza.attrs["id"]
            assert got["pushName"] == "Carol"
            await carol.wait(
                lambda: any(r.attrs["id"] == out.stanza.attrs["id"] for r in carol.receipts)
            )

            sent = await asyncio.to_thread(alice.send_text, pn(CAROL), "from baileys")
            await carol.wait(lambda: (sent["id"], "from baileys") in carol.texts)
            await asyncio.to_thread(alice.wait, status_of(alice, sent["id"], DELIVERY_ACK))

            again = await carol.sender.send(pn(ALICE), text_message("and back"))
            await carol.client.send(again.stanza)
            await asyncio.to_thread(alice.wait_text, "and back")
            types = srv.call(lambda: enc_types(srv, again.stanza.attrs["id"], ALICE))
            assert types == ["msg"]  # the session Alice answered on
        finally:
            await carol.close()

    asyncio.run(scenario())
    assert srv.call(lambda: list(srv.server.iq_errors)) == []


def test_wamd_core_in_a_baileys_group_receives_and_sends(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    alice = paired(srv, baileys, tmp_path / "alice", ALICE, "Alice")
    bob = paired(srv, baileys, tmp_path / "bob", BOB, "Bob")

    async def scenario() -> None:
        carol = await core_device_online(srv, CAROL, "Carol")
        try:
            meta = await asyncio.to_thread(alice.group_create, "Mixed", [pn(BOB), pn(CAROL)])
            group = meta["id"]
            sent = await asyncio.to_thread(alice.send_text, group, "hello all")
            await carol.wait(lambda: (sent["id"], "hello all") in carol.texts)  # SKDM + skmsg

            iq = Node("iq", {"id": "meta1", "to": group, "type": "get", "xmlns": "w:g2"})
            reply = await carol.query(Node(iq.tag, iq.attrs, [Node("query", {})]))
            node = reply.get_child("group")
            assert node is not None
            members = [p.attrs["jid"] for p in node.children("participant")]
            out = await carol.sender.send_group(group, members, text_message("carol here"))
            await carol.client.send(out.stanza)
            for client in (alice, bob):
                got = await asyncio.to_thread(client.wait_text, "carol here")
                assert got["key"]["remoteJid"] == group and got["pushName"] == "Carol"
        finally:
            await carol.close()

    asyncio.run(scenario())
    assert srv.call(lambda: list(srv.server.iq_errors)) == []
