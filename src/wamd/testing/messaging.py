"""Message and receipt routing on the fake server (fake-server.md §7.4–§7.9).

A client's ``<message>`` is acked at once and then split per addressed device: each
device gets one stanza with the ``enc`` nodes meant for it, a ``from`` in the address
space the sender used for it, and the sender's push name. Devices without a connection
get it in their offline queue; the phone (device 0) gets it in :attr:`phone_inbox`.
Receipts go back to the device or account they name, in the same way.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from wamd.binary import Jid, Node
from wamd.binary.jid import GROUP_SERVER
from wamd.errors import JidError, UsageError
from wamd.testing.directory import Address, signed_key_index_list

if TYPE_CHECKING:
    from wamd.testing.connection import FakeConnection
    from wamd.testing.groups import Group
    from wamd.testing.server import FakeServer
    from wamd.testing.state import Account

__all__ = ["Delivery", "MessageRouter", "PhoneHandler", "device_hash"]

log = logging.getLogger(__name__)

_COPIED = ("type", "edit", "category")
_RECEIPT_TYPES_DROPPED = frozenset({"inactive"})


@dataclass(frozen=True, slots=True)
class Delivery:
    """One stanza the server routed: to which device, and how.

    ``how`` is ``live`` (sent on the device's connection), ``queued`` (its offline
    queue), ``phone`` (the phone's inbox) or ``dropped`` (no such device).
    """

    phone_number: str
    device: int
    how: str
    node: Node


class PhoneHandler(Protocol):
    """Something that takes the stanzas routed to a phone (device 0)."""

    async def receive(self, node: Node) -> None:
        """Process one stanza sent to the phone."""


class MessageRouter:
    """Routes ``<message>`` and ``<receipt>`` stanzas between devices of the fake server.

    Records for tests: :attr:`deliveries` (every routed stanza) and
    :attr:`phone_inbox` (what was sent to phones, which nobody decrypts); neither is
    kept when the server's ``record_transcripts`` is off (long runs). :attr:`phones`
    maps phone numbers to a :class:`PhoneHandler` that gets what is sent to that phone
    (a test's own messaging peer, which sends with :meth:`fan_out` and
    :meth:`forward_receipt`).
    """

    def __init__(self, server: FakeServer) -> None:
        self._server = server
        self.deliveries: list[Delivery] = []
        self.phone_inbox: list[Delivery] = []
        self._damage: dict[tuple[str, int], int] = {}
        self._reject: dict[tuple[str, int], int] = {}
        self.phones: dict[str, PhoneHandler] = {}

    def reject_next(self, phone_number: str, device: int, error: int = 479) -> None:
        """Refuse the next message a device sends: ``<ack error=N>``, delivered to nobody."""
        self._reject[(phone_number, device)] = error

    def damage_next(self, phone_number: str, device: int, count: int = 1) -> None:
        """Spoil the ciphertexts of the next ``count`` messages to a device (MACs fail).

        The receiving client then asks the sender for a retry (fake-server.md §7.7); with
        ``count=2`` the first resend is spoilt too.
        """
        if count < 1:
            raise UsageError(f"damage_next: count must be at least 1, got {count}")
        key = (phone_number, device)
        self._damage[key] = self._damage.get(key, 0) + count

    # -- delivery ----------------------------------------------------------------------

    async def deliver(self, phone_number: str, device_id: int, node: Node) -> str:
        """Send ``node`` to a device now, or queue it; return how (see :class:`Delivery`)."""
        server = self._server
        left = self._damage.get((phone_number, device_id), 0)
        if node.tag == "message" and left:
            if left == 1:
                del self._damage[(phone_number, device_id)]
            else:
                self._damage[(phone_number, device_id)] = left - 1
            node = _damaged(node)
        account = server.accounts.get(phone_number)
        device = account.devices.get(device_id) if account is not None else None
        conn = server.connection_of(phone_number, device_id) if device is not None else None
        if device_id == 0 and account is not None:
            how = "phone"
        elif device is None:
            how = "dropped"
        else:
            how = "live" if conn is not None else "queued"
        # Recorded before the send, so a test that saw the stanza arrive finds the record.
        index = self._record(Delivery(phone_number, device_id, how, node))
        if how == "live" and conn is not None and not await conn.send(node):
            how = "queued"
            if index is not None:
                self.deliveries[index] = Delivery(phone_number, device_id, how, node)
        if how == "queued" and device is not None:
            device.offline_queue.append(node)
        peer = self.phones.get(phone_number) if how == "phone" else None
        if peer is not None:
            await peer.receive(node)
        server.notify()
        return how

    def _record(self, record: Delivery) -> int | None:
        if not self._server.record_transcripts:
            return None
        self.deliveries.append(record)
        if record.how == "phone":
            self.phone_inbox.append(record)
        return len(self.deliveries) - 1

    async def announce_devices(self, account: Account, change: str, device_id: int) -> int:
        """Tell every connected device that ``account`` gained or lost a device (§7.10).

        ``change`` is ``add`` or ``remove``; returns how many devices were told.
        """
        server = self._server
        now = int(time.time())
        listed_attrs = {"jid": account.pn_jid(device_id), "lid": account.lid_jid(device_id)}
        device = account.devices.get(device_id)
        if device is not None:
            listed_attrs["key-index"] = str(device.key_index)
        listed = Node("device", listed_attrs)
        index_list = Node("key-index-list", {"ts": str(now)}, signed_key_index_list(account, now))
        body = Node(change, {"device_hash": device_hash(account)}, [listed, index_list])
        told = 0
        for conn in list(server.online_connections()):
            if conn.account is account and conn.device_id == device_id:
                continue
            attrs = {
                "from": account.pn_jid(),
                "lid": account.lid_jid(),
                "type": "devices",
                "id": server.next_id(),
                "t": str(now),
            }
            if await conn.send(Node("notification", attrs, [body])):
                told += 1
        return told

    # -- messages ----------------------------------------------------------------------

    async def on_message(self, conn: FakeConnection, node: Node) -> None:
        """A logged-in device sent ``<message>``: ack it, then fan it out."""
        account, device_id = conn.account, conn.device_id
        msg_id, to = node.attrs.get("id"), node.attrs.get("to")
        if account is None or device_id is None or not msg_id or not to:
            log.info("connection %d: message without id/to or login dropped", conn.id)
            return
        now = conn.now()
        ack = {"class": "message", "id": msg_id, "from": to, "t": str(now)}
        error = self._reject.pop((account.phone_number, device_id), None)
        if error is not None:
            await conn.send(Node("ack", {**ack, "error": str(error)}))
            return
        await conn.send(Node("ack", ack))
        await self.fan_out(Address(account, device_id, False), node, now)

    async def fan_out(self, sender: Address, node: Node, now: int) -> None:
        """Deliver a message ``sender`` sent (already acked) to every device it addresses."""
        try:
            target = Jid.parse(node.attrs.get("to", ""))
        except JidError:
            return
        if target.server == GROUP_SERVER:
            group = self._server.groups.get(target.user)
            if group is not None:
                await self._to_group(sender, group, node, now)
            return
        await self._direct(sender, node, now)

    def _pairwise(
        self, sender: Address, node: Node
    ) -> dict[tuple[str, int], tuple[Address, list[Node]]]:
        """The ``<participants><to jid>`` encs per device, the sending device left out."""
        directory = self._server.directory
        out: dict[tuple[str, int], tuple[Address, list[Node]]] = {}
        participants = node.get_child("participants")
        for entry in participants.children("to") if participants is not None else []:
            address = directory.resolve(entry.attrs.get("jid", ""))
            if address is None:
                log.info(
                    "message %s: unknown device %s", node.attrs.get("id"), entry.attrs.get("jid")
                )
                continue
            if address.key == sender.key:
                continue
            _, encs = out.setdefault(address.key, (address, []))
            encs.extend(entry.children("enc"))
        return out

    async def _direct(self, sender: Address, node: Node, now: int) -> None:
        to = node.attrs.get("to", "")
        chat = self._server.directory.resolve(to)
        targets = self._pairwise(sender, node)
        top = node.children("enc")
        if top and chat is not None and chat.key != sender.key:
            _, encs = targets.setdefault(chat.key, (chat, []))
            encs.extend(top)
        identity = node.get_child("device-identity")
        for address, encs in targets.values():
            if not encs:
                continue
            attrs = self._common_attrs(sender, node, now)
            attrs["from"] = (
                sender.account.lid_jid(sender.device)
                if address.lid
                else sender.account.pn_jid(sender.device)
            )
            if address.account is sender.account:
                if chat is not None and chat.account is not sender.account:
                    attrs["recipient"] = chat.user_jid()
                    other = "peer_recipient_pn" if chat.lid else "peer_recipient_lid"
                    attrs[other] = chat.user_jid(lid=not chat.lid)
            elif address.lid:
                attrs["sender_pn"] = sender.account.pn_jid()
            else:
                attrs["sender_lid"] = sender.account.lid_jid()
            await self.deliver(*address.key, _message(attrs, encs, identity))

    async def _to_group(self, sender: Address, group: Group, node: Node, now: int) -> None:
        directory = self._server.directory
        pairwise = self._pairwise(sender, node)
        top = node.children("enc")
        only = node.attrs.get("participant")
        if only is not None:
            target = directory.resolve(only)
            destinations = [target] if target is not None else []
        else:
            destinations = [
                Address(member, device_id, True)
                for member in group.member_accounts(self._server)
                for device_id in directory.device_ids(member)
            ]
        identity = node.get_child("device-identity")
        account = sender.account
        for address in destinations:
            if address.key == sender.key:
                continue
            encs = [*pairwise.get(address.key, (address, []))[1], *top]
            if not encs:
                continue
            attrs = self._common_attrs(sender, node, now)
            attrs["from"] = group.jid
            if group.addressing_mode == "lid":
                attrs["participant"] = account.lid_jid(sender.device)
                attrs["participant_pn"] = account.pn_jid()
            else:
                attrs["participant"] = account.pn_jid(sender.device)
                attrs["participant_lid"] = account.lid_jid()
            attrs["addressing_mode"] = group.addressing_mode
            await self.deliver(*address.key, _message(attrs, encs, identity))

    def _common_attrs(self, sender: Address, node: Node, now: int) -> dict[str, str]:
        attrs = {"id": node.attrs.get("id", ""), "t": str(now)}
        attrs.update({k: node.attrs[k] for k in _COPIED if k in node.attrs})
        if sender.account.push_name:
            attrs["notify"] = sender.account.push_name
        return attrs

    # -- receipts ----------------------------------------------------------------------

    async def on_receipt(self, conn: FakeConnection, node: Node) -> None:
        """A logged-in device sent ``<receipt>``: ack it, then forward it to the sender."""
        account, device_id = conn.account, conn.device_id
        receipt_id, to = node.attrs.get("id"), node.attrs.get("to")
        if account is None or device_id is None or not receipt_id or not to:
            return
        kind = node.attrs.get("type")
        ack = {"class": "receipt", "id": receipt_id, "from": to}
        if kind:
            ack["type"] = kind
        await conn.send(Node("ack", ack))
        await self.forward_receipt(Address(account, device_id, False), node, conn.now())

    async def forward_receipt(self, author: Address, node: Node, now: int) -> None:
        """Forward a receipt ``author`` sent (already acked) to the device(s) it names."""
        account, device_id = author.account, author.device
        receipt_id, to = node.attrs.get("id", ""), node.attrs.get("to", "")
        kind = node.attrs.get("type")
        if kind == "hist_sync":
            return
        directory = self._server.directory
        group = to.endswith("@" + GROUP_SERVER)
        target_jid = node.attrs.get("participant") if group else to
        target = directory.resolve(target_jid or "")
        if kind == "peer_msg":
            target = Address(account, 0, False)
        if target is None:
            log.info("receipt %s: unknown target %s", receipt_id, target_jid)
            return
        try:
            parsed = Jid.parse(target_jid or to)
        except JidError:
            parsed = None
        whole_account = (
            parsed is not None and parsed.device == 0 and not group and kind != "peer_msg"
        )
        devices = directory.device_ids(target.account) if whole_account else [target.device]
        attrs: dict[str, str] = {"id": receipt_id, "t": node.attrs.get("t") or str(now)}
        own_jid = account.lid_jid(device_id) if target.lid else account.pn_jid(device_id)
        if group:
            attrs["from"] = to
            attrs["participant"] = own_jid
        else:
            attrs["from"] = own_jid
        if kind and kind not in _RECEIPT_TYPES_DROPPED:
            attrs["type"] = kind
        if "recipient" in node.attrs:
            attrs["recipient"] = node.attrs["recipient"]
        forwarded = Node("receipt", attrs, list(node.children()) or None)
        for device in devices:
            if (target.account.phone_number, device) == author.key:
                continue
            await self.deliver(target.account.phone_number, device, forwarded)


def device_hash(account: Account) -> str:
    """A hash of the account's device list: ``2:`` + base64 of 6 bytes of SHA-256."""
    jids = sorted(account.pn_jid(d) for d in [0, *account.devices])
    digest = hashlib.sha256("".join(jids).encode()).digest()[:6]
    return "2:" + base64.b64encode(digest).decode().rstrip("=")


def _damaged(node: Node) -> Node:
    children = []
    for child in node.children():
        raw = child.content_bytes() if child.tag == "enc" else None
        flipped = raw[:-1] + bytes([raw[-1] ^ 0xFF]) if raw else None
        children.append(child if flipped is None else Node(child.tag, child.attrs, flipped))
    return Node(node.tag, node.attrs, children)


def _message(attrs: dict[str, str], encs: list[Node], identity: Node | None) -> Node:
    children = list(encs)
    if identity is not None and any(e.attrs.get("type") == "pkmsg" for e in encs):
        children.append(identity)
    return Node("message", attrs, children)
