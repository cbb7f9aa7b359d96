"""Groups on the fake server: create, metadata, participating (fake-server.md §7.8).

A group has an id (``1203630…``), a subject, a creator and members with roles; it is
LID-addressed. Creating one answers with the group node and tells every device of every
member, except the creating device, with a ``w:gp2`` create notification. Messages to
a group are fanned out by :class:`~wamd.testing.messaging.MessageRouter`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wamd.binary import Node
from wamd.binary.jid import GROUP_SERVER
from wamd.testing.connection import error_reply

if TYPE_CHECKING:
    from wamd.testing.connection import FakeConnection
    from wamd.testing.server import FakeServer
    from wamd.testing.state import Account

__all__ = ["Group", "GroupRegistry"]

_GROUP_ID_PREFIX = "1203630"


@dataclass(slots=True)
class Group:
    """One group: ``members`` maps phone numbers to a role (``superadmin``, ``admin``, ``""``)."""

    id: str
    subject: str
    creator: str
    creation: int
    members: dict[str, str] = field(default_factory=dict)
    addressing_mode: str = "lid"

    @property
    def jid(self) -> str:
        """The group JID (``id@g.us``)."""
        return f"{self.id}@{GROUP_SERVER}"

    def member_accounts(self, server: FakeServer) -> list[Account]:
        """The members' accounts, in the order they joined."""
        return [server.accounts[n] for n in self.members if n in server.accounts]

    def node(self, server: FakeServer) -> Node:
        """The ``<group>`` node that answers create and metadata queries."""
        creator = server.accounts[self.creator]
        participants = []
        for account in self.member_accounts(server):
            attrs = {"jid": account.lid_jid(), "phone_number": account.pn_jid()}
            if self.members[account.phone_number]:
                attrs["type"] = self.members[account.phone_number]
            participants.append(Node("participant", attrs))
        attrs = {
            "id": self.id,
            "subject": self.subject,
            "creation": str(self.creation),
            "creator": creator.lid_jid(),
            "creator_pn": creator.pn_jid(),
            "s_t": str(self.creation),
            "s_o": creator.lid_jid(),
            "s_o_pn": creator.pn_jid(),
            "addressing_mode": self.addressing_mode,
            "size": str(len(participants)),
        }
        return Node("group", attrs, participants)


class GroupRegistry:
    """The fake server's groups, and its answers to ``xmlns="w:g2"`` iqs."""

    def __init__(self, server: FakeServer) -> None:
        self._server = server
        self.groups: dict[str, Group] = {}

    def get(self, group_id: str) -> Group | None:
        """The group with id ``group_id`` (the user part of its JID), or None."""
        return self.groups.get(group_id)

    def create(self, creator: Account, subject: str, members: list[Account]) -> Group:
        """Make a group of ``creator`` (superadmin) and ``members``."""
        while True:
            group_id = _GROUP_ID_PREFIX + str(int.from_bytes(os.urandom(6), "big")).zfill(11)[:11]
            if group_id not in self.groups:
                break
        group = Group(group_id, subject, creator.phone_number, int(time.time()))
        group.members[creator.phone_number] = "superadmin"
        for member in members:
            group.members.setdefault(member.phone_number, "")
        self.groups[group_id] = group
        self._server.notify()
        return group

    def handle(self, conn: FakeConnection, request: Node) -> Node | None:
        """The reply to a ``w:g2`` iq from a logged-in ``conn``; None if not implemented."""
        account = conn.account
        if account is None:
            return None
        to = request.attrs.get("to", "")
        create = request.get_child("create")
        if create is not None and request.attrs.get("type") == "set":
            return self._create(conn, account, request, create)
        if request.get_child("participating") is not None:
            mine = [g for g in self.groups.values() if account.phone_number in g.members]
            groups = Node("groups", {}, [g.node(self._server) for g in mine])
            return _reply(request, f"@{GROUP_SERVER}", [groups])
        if request.get_child("query") is not None:
            group = self.groups.get(to.partition("@")[0])
            if group is None:
                return error_reply(request, 404, "item-not-found")
            if account.phone_number not in group.members:
                return error_reply(request, 403, "forbidden")
            return _reply(request, group.jid, [group.node(self._server)])
        return None

    def _create(self, conn: FakeConnection, creator: Account, request: Node, create: Node) -> Node:
        directory = self._server.directory
        members: list[Account] = []
        for participant in create.children("participant"):
            address = directory.resolve(participant.attrs.get("jid", ""))
            if address is not None:
                members.append(address.account)
        group = self.create(creator, create.attrs.get("subject", ""), members)
        conn.spawn(self._announce(group, (creator.phone_number, conn.device_id or 0)))
        return _reply(request, f"@{GROUP_SERVER}", [group.node(self._server)])

    async def _announce(self, group: Group, creating: tuple[str, int]) -> None:
        server = self._server
        creator = server.accounts[group.creator]
        for member in group.member_accounts(server):
            for device_id in sorted(member.devices):
                if (member.phone_number, device_id) == creating:
                    continue
                attrs = {
                    "from": group.jid,
                    "type": "w:gp2",
                    "id": server.next_id(),
                    "t": str(group.creation),
                    "participant": creator.lid_jid(),
                    "participant_pn": creator.pn_jid(),
                    "addressing_mode": group.addressing_mode,
                }
                if creator.push_name:
                    attrs["notify"] = creator.push_name
                create = Node(
                    "create", {"reason": "create", "method": "create"}, [group.node(server)]
                )
                await server.messaging.deliver(
                    member.phone_number, device_id, Node("notification", attrs, [create])
                )


def _reply(request: Node, sender: str, content: list[Node]) -> Node:
    return Node(
        "iq", {"from": sender, "type": "result", "id": request.attrs.get("id", "")}, content
    )
