"""Logged-in devices for FakeServer messaging tests, built from wamd's core (no Baileys).

The account and device records are put straight into the server's state (linking has
its own tests); the device then logs in over a real Noise connection.
"""

from __future__ import annotations

from tests.unit.testing.mini_client import DeviceKeys, MiniClient
from wamd.binary import Node
from wamd.crypto import generate_key_pair, sign
from wamd.testing import Device, FakeServer, SignedPreKey
from wamd.testing.state import Account

PRE_KEYS = 8


def add_device(
    server: FakeServer, number: str, device_id: int = 1, push_name: str = ""
) -> DeviceKeys:
    """Create ``number``:``device_id`` on the server with a bundle of PRE_KEYS one-time keys."""
    account: Account = server.phone(number, push_name=push_name or f"User {number[-4:]}").account
    keys = DeviceKeys(user=number, device=device_id)
    signature = sign(keys.identity.private, b"\x05" + keys.signed_pre_key.public)
    account.devices[device_id] = Device(
        device_id=device_id,
        noise_pub=keys.noise.public,
        identity_pub=keys.identity.public,
        registration_id=keys.registration_id,
        signed_pre_key=SignedPreKey(1, keys.signed_pre_key.public, signature),
        key_index=device_id,
        pre_keys={i: generate_key_pair().public for i in range(1, PRE_KEYS + 1)},
    )
    account.next_device_id = max(account.next_device_id, device_id + 1)
    account.next_key_index = max(account.next_key_index, device_id + 1)
    return keys


async def login(server: FakeServer, keys: DeviceKeys) -> MiniClient:
    """Log ``keys`` in; return the client right after ``<success>``."""
    client = await MiniClient.connect(
        server.url, server.root_public_key, keys, keys.login_payload()
    )
    assert (await client.recv()).tag == "success"
    return client


async def online(server: FakeServer, keys: DeviceKeys) -> MiniClient:
    """Log ``keys`` in; return the client after ``<success>`` and an empty offline queue."""
    client = await login(server, keys)
    assert await offline_end(client) == []
    return client


async def offline_end(client: MiniClient) -> list[Node]:
    """The stanzas before ``<ib><offline>`` (the offline queue; nothing is acked)."""
    got: list[Node] = []
    while True:
        node = await client.recv()
        ib = node.get_child("offline") if node.tag == "ib" else None
        if ib is not None:
            return got
        got.append(node)


def enc(kind: str, payload: bytes) -> Node:
    """An ``<enc v="2" type=kind>`` node."""
    return Node("enc", {"v": "2", "type": kind}, payload)


def to(jid: str, *encs: Node) -> Node:
    """A ``<participants>`` entry."""
    return Node("to", {"jid": jid}, list(encs))
