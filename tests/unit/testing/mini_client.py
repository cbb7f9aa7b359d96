"""A minimal client built from wamd's sans-IO core, to test the FakeServer without Baileys.

Not wamd.client: just enough websocket, Noise and pairing to drive the server's flows
step by step and look at every stanza.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from wamd.binary import Node, decode_node, encode_node
from wamd.crypto import KeyPair, generate_key_pair, sign
from wamd.noise import FrameReader, NoiseInitiator, TransportCipher
from wamd.pairing import (
    build_login_payload,
    build_qr,
    build_registration_payload,
    verify_pair_success,
)

S_WA = "@s.whatsapp.net"


@dataclass
class DeviceKeys:
    """The keys and identity of one companion, as its creds would hold them."""

    noise: KeyPair = field(default_factory=generate_key_pair)
    identity: KeyPair = field(default_factory=generate_key_pair)
    signed_pre_key: KeyPair = field(default_factory=generate_key_pair)
    registration_id: int = field(default_factory=lambda: int.from_bytes(os.urandom(2), "big") + 1)
    adv_secret: str = field(default_factory=lambda: base64.b64encode(os.urandom(32)).decode())
    user: str | None = None
    device: int | None = None

    @property
    def spk_signature(self) -> bytes:
        return sign(self.identity.private, b"\x05" + self.signed_pre_key.public)

    def registration_payload(self) -> bytes:
        return build_registration_payload(
            registration_id=self.registration_id,
            identity_pub=self.identity.public,
            signed_pre_key_id=1,
            signed_pre_key_pub=self.signed_pre_key.public,
            signed_pre_key_signature=self.spk_signature,
        )

    def login_payload(self) -> bytes:
        assert self.user is not None
        return build_login_payload(self.user, self.device)


class MiniClient:
    """One websocket connection speaking the client side over wamd's core."""

    def __init__(self, ws: ClientConnection, cipher: TransportCipher, reader: FrameReader):
        self.ws = ws
        self.cipher = cipher
        self.reader = reader
        self.inbox: list[Node] = []
        self._ids = 0

    @classmethod
    async def connect(
        cls, url: str, root_key: bytes, keys: DeviceKeys, payload: bytes
    ) -> MiniClient:
        ws = await connect(url, max_size=None)
        noise = NoiseInitiator()
        await ws.send(noise.client_hello())
        reader = FrameReader()
        frames = reader.feed(await asyncio.wait_for(ws.recv(), 5))  # type: ignore[arg-type]
        finished = noise.process_server_hello(
            frames[0], keys.noise, payload, now=int(time.time()), root_key=root_key
        )
        await ws.send(finished.message)
        return cls(ws, finished.transport, reader)

    async def send(self, node: Node) -> None:
        await self.ws.send(self.cipher.encrypt_frame(encode_node(node)))

    async def recv(self, timeout: float = 5.0) -> Node:
        """The next stanza from the server."""
        while not self.inbox:
            data = await asyncio.wait_for(self.ws.recv(), timeout)
            assert isinstance(data, bytes)
            for frame in self.reader.feed(data):
                self.inbox.append(decode_node(self.cipher.decrypt(frame)))
        return self.inbox.pop(0)

    async def expect(self, tag: str, timeout: float = 5.0) -> Node:
        """Skip stanzas until one with ``tag`` arrives."""
        while True:
            node = await self.recv(timeout)
            if node.tag == tag:
                return node

    async def query(
        self, xmlns: str, kind: str, content: list[Node] | None = None, timeout: float = 5.0
    ) -> Node:
        """Send an iq and return the reply with its id (other stanzas are skipped)."""
        self._ids += 1
        iq_id = f"mini.{self._ids}"
        await self.send(
            Node("iq", {"id": iq_id, "to": S_WA, "type": kind, "xmlns": xmlns}, content)
        )
        while True:
            node = await self.recv(timeout)
            if node.tag == "iq" and node.attrs.get("id") == iq_id:
                return node

    async def closed_by_server(self, timeout: float = 5.0) -> bool:
        """True when the server closes the socket within ``timeout`` (stanzas are kept)."""
        try:
            while True:
                data = await asyncio.wait_for(self.ws.recv(), timeout)
                assert isinstance(data, bytes)
                for frame in self.reader.feed(data):
                    self.inbox.append(decode_node(self.cipher.decrypt(frame)))
        except ConnectionClosed:
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        await self.ws.close()


async def register(url: str, root_key: bytes, keys: DeviceKeys) -> tuple[MiniClient, list[str]]:
    """Connect with a registration payload, ack ``pair-device``; the client and refs."""
    client = await MiniClient.connect(url, root_key, keys, keys.registration_payload())
    iq = await client.expect("iq")
    pair_device = iq.get_child("pair-device")
    assert pair_device is not None
    await client.send(Node("iq", {"to": S_WA, "type": "result", "id": iq.attrs["id"]}))
    refs = [r.content_bytes().decode() for r in pair_device.children("ref")]  # type: ignore[union-attr]
    return client, refs


def qr_for(keys: DeviceKeys, ref: str) -> str:
    return build_qr(ref, keys.noise.public, keys.identity.public, keys.adv_secret, "1")


async def answer_pair_success(client: MiniClient, keys: DeviceKeys) -> Node:
    """Verify pair-success for real and send the pair-device-sign reply; the iq."""
    iq = await client.expect("iq")
    success = iq.get_child("pair-success")
    assert success is not None
    identity = success.get_child("device-identity")
    assert identity is not None and identity.content_bytes() is not None
    verified = verify_pair_success(identity.content_bytes() or b"", keys.adv_secret, keys.identity)
    device = success.get_child("device")
    assert device is not None
    user_part = device.attrs["jid"].partition("@")[0]
    keys.user, _, dev = user_part.partition(":")
    keys.device = int(dev)
    reply = Node(
        "pair-device-sign",
        {},
        [Node("device-identity", {"key-index": str(verified.key_index)}, verified.reply)],
    )
    await client.send(Node("iq", {"to": S_WA, "type": "result", "id": iq.attrs["id"]}, [reply]))
    return iq
