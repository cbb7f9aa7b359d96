"""Presence and chat states on the fake server (fake-server.md §7.10, the optional part).

``<presence type="available|unavailable">`` sets an account's online flag (and push
name, in the connection); ``<presence type="subscribe" to=jid>`` answers with that
account's current presence and sends later changes too. ``<chatstate>`` (typing,
recording, paused) is forwarded to the connected devices of the peer, or of every other
group member. Nothing here is queued for devices that are offline: it is ephemeral.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from wamd.binary import Node
from wamd.binary.jid import GROUP_SERVER

if TYPE_CHECKING:
    from wamd.testing.connection import FakeConnection
    from wamd.testing.directory import Address
    from wamd.testing.server import FakeServer
    from wamd.testing.state import Account

__all__ = ["PresenceHub"]


class PresenceHub:
    """Who is online, who watches whom, and the forwarding of chat states.

    :attr:`available` maps phone numbers to their last announced state;
    :attr:`subscribers` maps a watched phone number to the devices watching it
    (``(phone number, device)`` with the address space they asked in).
    """

    def __init__(self, server: FakeServer) -> None:
        self._server = server
        self.available: dict[str, bool] = {}
        self.last_seen: dict[str, int] = {}
        self.subscribers: dict[str, dict[tuple[str, int], bool]] = {}

    async def on_presence(self, conn: FakeConnection, node: Node) -> None:
        """A logged-in device sent ``<presence>``."""
        account, device_id = conn.account, conn.device_id
        if account is None or device_id is None:
            return
        kind = node.attrs.get("type")
        if kind == "subscribe":
            target = self._server.directory.resolve(node.attrs.get("to", ""))
            if target is None:
                return
            watchers = self.subscribers.setdefault(target.account.phone_number, {})
            watchers[(account.phone_number, device_id)] = target.lid
            await conn.send(self._presence_of(target.account, target.lid))
        elif kind in ("available", "unavailable"):
            self.available[account.phone_number] = kind == "available"
            if kind == "unavailable":
                self.last_seen[account.phone_number] = int(time.time())
            await self._tell_watchers(account)
        self._server.notify()

    def _presence_of(self, account: Account, lid: bool) -> Node:
        attrs = {"from": account.lid_jid() if lid else account.pn_jid()}
        if self.available.get(account.phone_number):
            attrs["type"] = "available"
        else:
            attrs["type"] = "unavailable"
            attrs["last"] = str(self.last_seen.get(account.phone_number, "deny"))
        return Node("presence", attrs)

    async def _tell_watchers(self, account: Account) -> None:
        for (number, device), lid in self.subscribers.get(account.phone_number, {}).items():
            conn = self._server.connection_of(number, device)
            if conn is not None:
                await conn.send(self._presence_of(account, lid))

    async def on_chatstate(self, conn: FakeConnection, node: Node) -> None:
        """A logged-in device sent ``<chatstate to=…>``: forward it to the peer's devices."""
        account, device_id = conn.account, conn.device_id
        to = node.attrs.get("to", "")
        if account is None or device_id is None or not node.children():
            return
        server = self._server
        if to.endswith("@" + GROUP_SERVER):
            group = server.groups.get(to.partition("@")[0])
            if group is None or account.phone_number not in group.members:
                return
            attrs = {"from": group.jid, "participant": account.lid_jid()}
            targets = [m for m in group.member_accounts(server) if m is not account]
        else:
            target: Address | None = server.directory.resolve(to)
            if target is None:
                return
            attrs = {"from": account.lid_jid() if target.lid else account.pn_jid()}
            targets = [target.account]
        forwarded = Node("chatstate", attrs, node.children())
        for member in targets:
            for other in sorted(member.devices):
                peer = server.connection_of(member.phone_number, other)
                if peer is not None:
                    await peer.send(forwarded)
