"""Groups on the fake server: create, metadata, membership, subject (fake-server.md §7.8).

A group has an id (``1203630…``), a subject, a creator and members with roles; it is
LID-addressed. Creating one answers with the group node and tells every device of every
member, except the creating device, with a ``w:gp2`` create notification; adding,
removing, promoting or demoting members (admins only), leaving and changing the subject
are told the same way. Messages to a group are fanned out by
:class:`~wamd.testing.messaging.MessageRouter`.
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
        leave = request.get_child("leave")
        if leave is not None and request.attrs.get("type") == "set":
            return self._leave(conn, account, request, leave)
        if not to.endswith(f"@{GROUP_SERVER}") or to == f"@{GROUP_SERVER}":
            return None if request.get_child("query") is None else _not_found(request)
        group = self.groups.get(to.partition("@")[0])
        if group is None:
            return _not_found(request)
        if account.phone_number not in group.members:
            return error_reply(request, 403, "forbidden")
        if request.get_child("query") is not None:
            return _reply(request, group.jid, [group.node(self._server)])
        if request.attrs.get("type") == "set":
            return self._change(conn, account, request, group)
        return None

    def _create(self, conn: FakeConnection, creator: Account, request: Node, create: Node) -> Node:
        directory = self._server.directory
        members: list[Account] = []
        for participant in create.children("participant"):
            address = directory.resolve(participant.attrs.get("jid", ""))
            if address is not None:
                members.append(address.account)
        group = self.create(creator, create.attrs.get("subject", ""), members)
        node = group.node(self._server)
        change = Node("create", {"reason": "create", "method": "create"}, [node])
        acting = (creator.phone_number, conn.device_id or 0)
        conn.spawn(self._tell(group, creator, acting, change))
        return _reply(request, f"@{GROUP_SERVER}", [node])

    async def _tell(
        self,
        group: Group,
        actor: Account,
        acting_device: tuple[str, int],
        change: Node,
        also: list[Account] | None = None,
    ) -> None:
        """Send a ``w:gp2`` notification of ``change`` to every device of every member
        (and of ``also``: members just removed), except the acting device."""
        server = self._server
        accounts = group.member_accounts(server)
        accounts += [a for a in also or [] if a not in accounts]
        for member in accounts:
            for device_id in sorted(member.devices):
                if (member.phone_number, device_id) == acting_device:
                    continue
                attrs = {
                    "from": group.jid,
                    "type": "w:gp2",
                    "id": server.next_id(),
                    "t": str(int(time.time())),
                    "participant": actor.lid_jid(),
                    "participant_pn": actor.pn_jid(),
                    "addressing_mode": group.addressing_mode,
                }
                if actor.push_name:
                    attrs["notify"] = actor.push_name
                note = Node("notification", attrs, [change])
                await server.messaging.deliver(member.phone_number, device_id, note)

    # -- changes -----------------------------------------------------------------------

    def _change(
        self, conn: FakeConnection, actor: Account, request: Node, group: Group
    ) -> Node | None:
        acting = (actor.phone_number, conn.device_id or 0)
        subject = request.get_child("subject")
        if subject is not None:
            group.subject = (subject.content_bytes() or b"").decode("utf-8", "replace")
            now = str(int(time.time()))
            attrs = {"subject": group.subject, "s_t": now, "s_o": actor.lid_jid()}
            attrs["s_o_pn"] = actor.pn_jid()
            conn.spawn(self._tell(group, actor, acting, Node("subject", attrs)))
            self._server.notify()
            return _reply(request, group.jid, [])
        for action in _MEMBER_ACTIONS:
            node = request.get_child(action)
            if node is None:
                continue
            if group.members.get(actor.phone_number) not in ("admin", "superadmin"):
                return error_reply(request, 403, "forbidden")
            answered, changed = self._apply(group, action, node)
            if changed:
                change = Node(action, {}, [_participant(a) for a in changed])
                removed = changed if action == "remove" else []
                conn.spawn(self._tell(group, actor, acting, change, removed))
            self._server.notify()
            return _reply(request, group.jid, [Node(action, {}, answered)])
        return None

    def _apply(self, group: Group, action: str, node: Node) -> tuple[list[Node], list[Account]]:
        answered: list[Node] = []
        changed: list[Account] = []
        for participant in node.children("participant"):
            jid = participant.attrs.get("jid", "")
            address = self._server.directory.resolve(jid)
            account = address.account if address is not None else None
            number = account.phone_number if account is not None else ""
            if account is None:
                error = "404"
            elif action == "add":
                error = "409" if number in group.members else ""
            elif number not in group.members:
                error = "404"
            else:
                error = ""
            if error or account is None:
                answered.append(Node("participant", {"jid": jid, "error": error or "404"}))
                continue
            if action == "add":
                group.members[number] = ""
            elif action == "remove":
                del group.members[number]
            else:
                group.members[number] = "admin" if action == "promote" else ""
            answered.append(Node("participant", {"jid": jid}))
            changed.append(account)
        return answered, changed

    def _leave(self, conn: FakeConnection, actor: Account, request: Node, leave: Node) -> Node:
        acting = (actor.phone_number, conn.device_id or 0)
        for item in leave.children("group"):
            group = self.groups.get(item.attrs.get("id", "").partition("@")[0])
            if group is None or actor.phone_number not in group.members:
                continue
            del group.members[actor.phone_number]
            change = Node("remove", {}, [_participant(actor)])
            conn.spawn(self._tell(group, actor, acting, change, [actor]))
        self._server.notify()
        return _reply(request, f"@{GROUP_SERVER}", [])


_MEMBER_ACTIONS = ("add", "remove", "promote", "demote")


def _participant(account: Account) -> Node:
    return Node("participant", {"jid": account.lid_jid(), "phone_number": account.pn_jid()})


def _not_found(request: Node) -> Node:
    return error_reply(request, 404, "item-not-found")


def _reply(request: Node, sender: str, content: list[Node]) -> Node:
    return Node(
        "iq", {"from": sender, "type": "result", "id": request.attrs.get("id", "")}, content
    )
