"""The iqs a logged-in device sends in its first seconds, and the fake server's answers.

fake-server.md §5 and §6.3: pre-key count, upload, digest and rotation; passive; abt
props; blocklist; privacy; dirty bits; logout; and (§7) usync, pre-key bundle fetches
and groups, answered by :mod:`wamd.testing.directory` and :mod:`wamd.testing.groups`.
Handlers are looked up by namespace (``xmlns``); each returns the reply stanza, or
``None`` for "not implemented" (the connection then answers error 501 and records it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from wamd.binary import Node
from wamd.crypto import verify
from wamd.errors import WamdError
from wamd.testing.connection import FakeConnection, error_reply, result
from wamd.testing.state import Device, SignedPreKey

if TYPE_CHECKING:
    from wamd.testing.server import FakeServer

__all__ = ["PRIVACY_DEFAULTS", "BadRequestError", "IqHandlers"]

PRIVACY_DEFAULTS: dict[str, str] = {
    "last": "all",
    "online": "all",
    "profile": "all",
    "status": "all",
    "groupadd": "all",
    "readreceipts": "all",
    "calladd": "all",
    "messages": "all",
    "defense": "off",
    "stickers": "all",
}
"""The privacy settings the fake server reports for every account."""

PROPS_HASH = "fakehash1"
"""The abt props hash the fake server hands out."""


class BadRequestError(WamdError):
    """A logged-in client's iq was malformed; the server answers error 400."""


_Handler = Callable[[FakeConnection, Node, Device], Node | None]


def _child_bytes(node: Node, tag: str, size: int | None = None) -> bytes:
    child = node.get_child(tag)
    raw = child.content_bytes() if child is not None else None
    if raw is None or (size is not None and len(raw) != size):
        got = "nothing" if raw is None else f"{len(raw)} bytes"
        raise BadRequestError(f"<{node.tag}><{tag}> must be {size or 'some'} bytes, got {got}")
    return raw


def _signed_pre_key(node: Node, identity: bytes) -> SignedPreKey:
    public = _child_bytes(node, "value", 32)
    signature = _child_bytes(node, "signature", 64)
    if identity and not verify(identity, b"\x05" + public, signature):
        raise BadRequestError("signed pre-key signature does not verify with the identity key")
    return SignedPreKey(int.from_bytes(_child_bytes(node, "id", 3), "big"), public, signature)


class IqHandlers:
    """Answers the iqs of logged-in devices; one method per namespace."""

    def __init__(self, server: FakeServer) -> None:
        self._server = server
        self._table: dict[str, _Handler] = {
            "encrypt": self._encrypt,
            "passive": self._empty,
            "abt": self._abt,
            "blocklist": self._blocklist,
            "privacy": self._privacy,
            "urn:xmpp:whatsapp:dirty": self._empty,
            "md": self._md,
            "usync": self._usync,
            "w:g2": self._groups,
        }

    def handle(self, conn: FakeConnection, node: Node) -> Node | None:
        """The reply to ``node`` from a logged-in ``conn``; None when not implemented."""
        account, device_id = conn.account, conn.device_id
        if account is None or device_id is None:
            return None
        device = account.devices.get(device_id)
        handler = self._table.get(node.attrs.get("xmlns", ""))
        if device is None or handler is None:
            return None
        try:
            return handler(conn, node, device)
        except BadRequestError:
            return error_reply(node, 400, "bad-request")

    # -- handlers ----------------------------------------------------------------------

    def _empty(self, conn: FakeConnection, node: Node, device: Device) -> Node | None:
        return result(node)

    def _encrypt(self, conn: FakeConnection, node: Node, device: Device) -> Node | None:
        kind = node.attrs.get("type")
        if kind == "get" and node.get_child("count") is not None:
            return result(node, [Node("count", {"value": str(len(device.pre_keys))})])
        if kind == "get" and node.get_child("digest") is not None:
            return result(node, [self._digest(device)])
        if kind == "set" and node.get_child("list") is not None:
            self._upload(node, device)
            return result(node)
        if kind == "get" and node.get_child("key") is not None:
            reply, low = self._server.directory.key_fetch_reply(node)
            for address in low:
                number, device_id = address.key
                conn.spawn(self._server.send_prekey_low(number, device_id))
            return reply
        rotate = node.get_child("rotate")
        skey = rotate.get_child("skey") if rotate is not None else None
        if kind == "set" and skey is not None:
            device.signed_pre_key = _signed_pre_key(skey, device.identity_pub)
            self._server.notify()
            return result(node)
        return None

    def _upload(self, node: Node, device: Device) -> None:
        registration = int.from_bytes(_child_bytes(node, "registration", 4), "big")
        key_type = _child_bytes(node, "type", 1)
        identity = _child_bytes(node, "identity", 32)
        if key_type != b"\x05":
            raise BadRequestError(f"pre-key upload <type> must be 05, got {key_type.hex()}")
        if device.identity_pub and identity != device.identity_pub:
            raise BadRequestError("pre-key upload names another identity key")
        skey = node.get_child("skey")
        if skey is None:
            raise BadRequestError("pre-key upload has no <skey>")
        signed = _signed_pre_key(skey, identity)
        keys: dict[int, bytes] = {}
        key_list = node.get_child("list")
        for key in key_list.children("key") if key_list is not None else []:
            keys[int.from_bytes(_child_bytes(key, "id", 3), "big")] = _child_bytes(key, "value", 32)
        device.registration_id = registration
        device.identity_pub = identity
        device.signed_pre_key = signed
        device.pre_keys.update(keys)
        self._server.notify()

    def _digest(self, device: Device) -> Node:
        spk = device.signed_pre_key
        ids = sorted(device.pre_keys)
        digest = hashlib.sha1(usedforsecurity=False)
        digest.update(device.identity_pub)
        children = [
            Node("registration", {}, device.registration_id.to_bytes(4, "big")),
            Node("type", {}, b"\x05"),
            Node("identity", {}, device.identity_pub),
        ]
        if spk is not None:
            digest.update(spk.public + spk.signature)
            children.append(
                Node(
                    "skey",
                    {},
                    [
                        Node("id", {}, spk.key_id.to_bytes(3, "big")),
                        Node("value", {}, spk.public),
                        Node("signature", {}, spk.signature),
                    ],
                )
            )
        for key_id in ids:
            digest.update(device.pre_keys[key_id])
        children.append(Node("list", {}, [Node("id", {}, i.to_bytes(3, "big")) for i in ids]))
        children.append(Node("hash", {}, digest.digest()))
        return Node("digest", {}, children)

    def _abt(self, conn: FakeConnection, node: Node, device: Device) -> Node | None:
        if node.get_child("props") is None:
            return None
        return result(node, [Node("props", {"protocol": "1", "hash": PROPS_HASH})])

    def _blocklist(self, conn: FakeConnection, node: Node, device: Device) -> Node | None:
        if node.attrs.get("type") != "get":
            return None
        return result(node, [Node("list", {})])

    def _privacy(self, conn: FakeConnection, node: Node, device: Device) -> Node | None:
        if node.attrs.get("type") == "set" and node.get_child("tokens") is not None:
            return result(node)
        if node.attrs.get("type") != "get" or node.get_child("privacy") is None:
            return None
        categories = [
            Node("category", {"name": name, "value": value})
            for name, value in PRIVACY_DEFAULTS.items()
        ]
        return result(node, [Node("privacy", {}, categories)])

    def _usync(self, conn: FakeConnection, node: Node, device: Device) -> Node | None:
        return self._server.directory.usync_reply(node)

    def _groups(self, conn: FakeConnection, node: Node, device: Device) -> Node | None:
        return self._server.groups.handle(conn, node)

    def _md(self, conn: FakeConnection, node: Node, device: Device) -> Node | None:
        remove = node.get_child("remove-companion-device")
        if node.attrs.get("type") != "set" or remove is None or conn.account is None:
            return None
        jid = remove.attrs.get("jid", "")
        user = jid.partition("@")[0]
        _, _, number = user.partition(":")
        target = int(number) if number.isdigit() else device.device_id
        if target == device.device_id:
            conn.account.devices.pop(target, None)
            self._server.notify()
            conn.spawn(self._server.messaging.announce_devices(conn.account, "remove", target))
            return result(node)
        return error_reply(node, 403, "forbidden")
