"""Who is who on the fake server: JIDs to devices, usync answers, pre-key bundles.

fake-server.md §7.1–§7.3. Every account has a phone (device 0) and its linked
companions; a JID names one of them in the phone-number space (``…@s.whatsapp.net``) or
the LID space (``…@lid``). The phone gets a real Signal bundle the first time anyone
asks for it (its identity is the account key, as a real phone's is), so senders encrypt
to it like to any device; the server hands what they send it to the phone's inbox.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wamd._proto.adv_pb2 import ADVKeyIndexList, ADVSignedKeyIndexList
from wamd.binary import Jid, Node
from wamd.binary.jid import DEFAULT_USER_SERVER, LID_SERVER
from wamd.crypto import generate_key_pair, sign
from wamd.errors import JidError
from wamd.testing.connection import result
from wamd.testing.state import Account, Device, SignedPreKey

if TYPE_CHECKING:
    from wamd.testing.server import FakeServer

__all__ = [
    "PHONE_PRE_KEYS",
    "PRE_KEY_LOW",
    "Address",
    "Directory",
    "signed_key_index_list",
]

PHONE_PRE_KEYS = 20
"""How many one-time pre-keys a phone's bundle starts with."""

PRE_KEY_LOW = 5
"""Below this many one-time pre-keys the server tells a connected device to upload more."""

USYNC_REFRESH = "604800"
"""The ``refresh`` (seconds) the server puts on each usync protocol it answered."""

_KEY_INDEX_PREFIX = b"\x06\x02"


@dataclass(frozen=True, slots=True)
class Address:
    """One device as a JID named it: the account, the device id and the address space.

    ``lid`` is True when the JID was in the LID space; replies and forwarded stanzas
    answer in the same space.
    """

    account: Account
    device: int
    lid: bool

    @property
    def key(self) -> tuple[str, int]:
        """``(phone number, device)``: the device's identity on the server."""
        return (self.account.phone_number, self.device)

    @property
    def jid(self) -> str:
        """The device JID in the space it was named in."""
        if self.lid:
            return self.account.lid_jid(self.device)
        return self.account.pn_jid(self.device)

    def user_jid(self, *, lid: bool | None = None) -> str:
        """The account's user JID (in this address's space unless ``lid`` says)."""
        in_lid = self.lid if lid is None else lid
        return self.account.lid_jid() if in_lid else self.account.pn_jid()


def signed_key_index_list(account: Account, timestamp: int) -> bytes:
    """The account-signed list of valid key indexes of the account's companions."""
    indexes = sorted(d.key_index for d in account.devices.values())
    details = ADVKeyIndexList(
        rawId=account.raw_id,
        timestamp=timestamp,
        currentIndex=max(indexes, default=0),
        validIndexes=indexes,
    ).SerializeToString()
    signature = sign(account.key.private, _KEY_INDEX_PREFIX + details)
    return ADVSignedKeyIndexList(details=details, accountSignature=signature).SerializeToString()


class Directory:
    """The server's address book: resolves JIDs and answers usync and key fetches."""

    def __init__(self, server: FakeServer) -> None:
        self._server = server
        self._by_lid: dict[str, Account] = {}

    # -- lookups -----------------------------------------------------------------------

    def account_of_lid(self, lid_user: str) -> Account | None:
        """The account whose LID user is ``lid_user``, or None."""
        account = self._by_lid.get(lid_user)
        if account is None or account.lid != lid_user:
            self._by_lid = {a.lid: a for a in self._server.accounts.values()}
            account = self._by_lid.get(lid_user)
        return account

    def resolve(self, jid: str) -> Address | None:
        """The device ``jid`` names (a user JID names device 0), or None if unknown."""
        try:
            parsed = Jid.parse(jid)
        except JidError:
            return None
        if parsed.server == DEFAULT_USER_SERVER:
            account = self._server.accounts.get(parsed.user)
        elif parsed.server == LID_SERVER:
            account = self.account_of_lid(parsed.user)
        else:
            return None
        if account is None:
            return None
        return Address(account, parsed.device, parsed.server == LID_SERVER)

    def device(self, address: Address) -> Device | None:
        """The keys of the device at ``address`` (the phone's are made on first use)."""
        if address.device == 0:
            return self.phone_device(address.account)
        return address.account.devices.get(address.device)

    def device_ids(self, account: Account) -> list[int]:
        """The account's devices: the phone (0), then the companions in order."""
        return [0, *sorted(account.devices)]

    def phone_device(self, account: Account) -> Device:
        """The phone's Signal keys: identity = the account key; made on first use."""
        phone = account.phone_device
        if phone is None:
            spk = generate_key_pair()
            spk_sig = sign(account.key.private, b"\x05" + spk.public)
            pre_keys = {i: generate_key_pair().public for i in range(1, PHONE_PRE_KEYS + 1)}
            phone = Device(
                device_id=0,
                noise_pub=b"",
                identity_pub=account.key.public,
                registration_id=int.from_bytes(os.urandom(2), "big") % 16380 + 1,
                signed_pre_key=SignedPreKey(1, spk.public, spk_sig),
                key_index=0,
                pre_keys=pre_keys,
            )
            account.phone_device = phone
        return phone

    # -- usync -------------------------------------------------------------------------

    def usync_reply(self, request: Node) -> Node | None:
        """The answer to a usync iq (devices, lid and contact protocols); None if malformed."""
        usync = request.get_child("usync")
        query = usync.get_child("query") if usync is not None else None
        listed = usync.get_child("list") if usync is not None else None
        if usync is None or query is None or listed is None:
            return None
        protocols = [child.tag for child in query.children()]
        now = int(time.time())
        users = [self._usync_user(user, protocols, now) for user in listed.children("user")]
        answered = [Node(p, {"refresh": USYNC_REFRESH}) for p in protocols if p in _ANSWERED]
        attrs = {k: v for k, v in usync.attrs.items() if k in _ECHOED}
        body = Node("usync", attrs, [Node("result", {}, answered), Node("list", {}, users)])
        return result(request, [body])

    def _usync_user(self, user: Node, protocols: list[str], now: int) -> Node:
        jid = user.attrs.get("jid")
        contact = user.get_child("contact")
        if jid is None and contact is not None:
            raw = contact.content_bytes() or b""
            number = raw.decode("utf-8", "replace").lstrip("+").strip()
            known = number in self._server.accounts
            jid = f"{number}@{DEFAULT_USER_SERVER}"
            return Node("user", {"jid": jid}, [Node("contact", {"type": "in" if known else "out"})])
        address = self.resolve(jid) if jid else None
        children: list[Node] = []
        for protocol in protocols:
            if protocol == "devices":
                children.append(self._devices_node(address, now))
            elif protocol == "lid":
                lid = {"val": address.user_jid(lid=True)} if address is not None else {}
                children.append(Node("lid", lid))
            elif protocol == "contact":
                kind = "in" if address is not None else "out"
                children.append(Node("contact", {"type": kind}))
        return Node("user", {"jid": jid or ""}, children)

    def _devices_node(self, address: Address | None, now: int) -> Node:
        if address is None:
            return Node("devices", {}, [Node("device-list", {})])
        account = address.account
        devices = [Node("device", {"id": "0"})]
        for device_id in sorted(account.devices):
            key_index = str(account.devices[device_id].key_index)
            devices.append(Node("device", {"id": str(device_id), "key-index": key_index}))
        index_list = Node("key-index-list", {"ts": str(now)}, signed_key_index_list(account, now))
        return Node("devices", {}, [Node("device-list", {}, devices), index_list])

    # -- pre-key bundles ---------------------------------------------------------------

    def key_fetch_reply(self, request: Node) -> tuple[Node, list[Address]]:
        """The bundles a key-fetch iq asks for, and the devices now short of one-time keys.

        Each one-time pre-key is handed out once and then deleted.
        """
        key = request.get_child("key")
        users: list[Node] = []
        low: list[Address] = []
        for user in key.children("user") if key is not None else []:
            jid = user.attrs.get("jid", "")
            address = self.resolve(jid)
            device = self.device(address) if address is not None else None
            if address is None or device is None or device.signed_pre_key is None:
                error = Node("error", {"code": "404", "text": "item-not-found"})
                users.append(Node("user", {"jid": jid}, [error]))
                continue
            users.append(Node("user", {"jid": jid}, self._bundle(device)))
            if address.device != 0 and len(device.pre_keys) < PRE_KEY_LOW:
                low.append(address)
        reply = result(request, [Node("list", {}, users)])
        self._server.notify()
        return reply, low

    def _bundle(self, device: Device) -> list[Node]:
        spk = device.signed_pre_key
        assert spk is not None
        children = [
            Node("registration", {}, device.registration_id.to_bytes(4, "big")),
            Node("type", {}, b"\x05"),
            Node("identity", {}, device.identity_pub),
            Node(
                "skey",
                {},
                [
                    Node("id", {}, spk.key_id.to_bytes(3, "big")),
                    Node("value", {}, spk.public),
                    Node("signature", {}, spk.signature),
                ],
            ),
        ]
        if device.pre_keys:
            key_id = next(iter(device.pre_keys))
            public = device.pre_keys.pop(key_id)
            children.append(
                Node(
                    "key",
                    {},
                    [Node("id", {}, key_id.to_bytes(3, "big")), Node("value", {}, public)],
                )
            )
        return children


_ANSWERED = frozenset({"devices", "lid", "contact"})
_ECHOED = ("sid", "index", "last", "mode", "context")
