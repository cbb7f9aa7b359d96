"""Group metadata values on the wire: the group node, ``w:gp2`` changes, a bounded cache.

Sans-IO helpers of :mod:`wamd.client.groups`: :func:`parse_group` reads the ``<group>``
node that answers a create or a metadata query (fake-server.md §7.8);
:func:`parse_group_notification` turns a ``<notification type="w:gp2">`` into events;
:func:`apply_event` brings cached metadata up to date with one of them;
:func:`participant_hash` is the hash a server may put on a message ack; :class:`GroupCache`
is the LRU the connection keeps.
"""

from __future__ import annotations

import base64
import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import replace

from wamd.binary import Jid, Node
from wamd.errors import StanzaError, UsageError
from wamd.events import (
    Event,
    GroupMetadata,
    GroupParticipant,
    GroupParticipantsUpdate,
    GroupUpdate,
    GroupUpsert,
)

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "MEMBER_ACTIONS",
    "GroupCache",
    "apply_event",
    "build_metadata_query",
    "parse_group",
    "parse_group_notification",
    "participant_hash",
]

DEFAULT_CACHE_SIZE = 5000
"""How many groups' metadata a connection keeps (least recently used dropped first)."""

MEMBER_ACTIONS = ("add", "remove", "promote", "demote", "leave")
"""The membership changes a ``w:gp2`` notification (or an admin request) can carry."""

_GROUP_SERVER = "g.us"


# -- parsing -------------------------------------------------------------------------------


def _int(value: str | None, default: int = 0) -> int:
    return int(value) if value and value.isascii() and value.isdigit() else default


def _group_jid(group_id: str) -> str:
    return group_id if "@" in group_id else f"{group_id}@{_GROUP_SERVER}"


def _participant(node: Node) -> GroupParticipant:
    jid = node.attrs.get("jid")
    if not jid:
        raise StanzaError("a group <participant> has no jid")
    role = node.attrs.get("type", "")
    return GroupParticipant(
        jid=jid,
        phone_number=node.attrs.get("phone_number") or None,
        admin=role in ("admin", "superadmin"),
        superadmin=role == "superadmin",
    )


def parse_group(node: Node) -> GroupMetadata:
    """The metadata in a ``<group>`` node (a create reply, metadata query or notification)."""
    if node.tag != "group":
        raise StanzaError(f"expected a <group> node, got <{node.tag}>")
    group_id = node.attrs.get("id")
    if not group_id:
        raise StanzaError("a <group> node has no id")
    attrs = node.attrs
    subject_time = attrs.get("s_t")
    return GroupMetadata(
        id=_group_jid(group_id),
        subject=attrs.get("subject", ""),
        creator=attrs.get("creator") or None,
        creation=_int(attrs.get("creation")),
        addressing_mode=attrs.get("addressing_mode") or "pn",
        participants=tuple(_participant(p) for p in node.children("participant")),
        subject_owner=attrs.get("s_o") or None,
        subject_time=_int(subject_time) if subject_time else None,
        creator_pn=attrs.get("creator_pn") or None,
    )


def build_metadata_query(group: str) -> Node:
    """The ``w:g2`` iq that asks for one group's metadata."""
    return Node(
        "iq",
        {"to": group, "type": "get", "xmlns": "w:g2"},
        [Node("query", {"request": "interactive"})],
    )


def parse_group_notification(node: Node) -> list[Event]:
    """The events in a ``<notification type="w:gp2">`` (one per change it carries).

    A change wamd does not model becomes a :class:`GroupUpdate` whose ``kind`` is the
    change's tag, so that the cache entry is dropped and the app still hears of it.
    """
    group = node.attrs.get("from")
    if not group:
        raise StanzaError("a w:gp2 notification has no 'from'")
    author = node.attrs.get("participant") or None
    stamp = _int(node.attrs.get("t"))
    found: list[Event] = []
    for change in node.children():
        tag = change.tag
        if tag == "create":
            inner = change.get_child("group")
            if inner is None:
                raise StanzaError(f"a w:gp2 create notification of {group} has no <group>")
            found.append(GroupUpsert(parse_group(inner), author))
        elif tag in MEMBER_ACTIONS:
            members = tuple(_participant(p) for p in change.children("participant"))
            found.append(GroupParticipantsUpdate(group, tag, members, author, stamp))
        elif tag == "subject":
            subject = change.attrs.get("subject")
            if subject is None:
                subject = (change.content_bytes() or b"").decode("utf-8", "replace")
            found.append(GroupUpdate(group, "subject", author, stamp, subject))
        else:
            found.append(GroupUpdate(group, tag, author, stamp))
    return found


def apply_event(meta: GroupMetadata, event: Event) -> GroupMetadata | None:
    """``meta`` after ``event``, or None when the event cannot be applied (drop the entry)."""
    if isinstance(event, GroupUpsert):
        return event.metadata
    if isinstance(event, GroupUpdate):
        if event.kind == "subject" and event.subject is not None:
            return replace(
                meta,
                subject=event.subject,
                subject_owner=event.author,
                subject_time=event.timestamp or meta.subject_time,
            )
        return None
    if not isinstance(event, GroupParticipantsUpdate):
        return meta
    members = list(meta.participants)

    def find(who: GroupParticipant) -> int | None:
        for index, member in enumerate(members):
            if member.jid == who.jid or (
                who.phone_number is not None and member.phone_number == who.phone_number
            ):
                return index
        return None

    for who in event.participants:
        index = find(who)
        if event.action == "add":
            if index is None:
                members.append(GroupParticipant(who.jid, who.phone_number))
        elif event.action in ("remove", "leave"):
            if index is not None:
                del members[index]
        elif index is None:
            return None  # promoting or demoting someone we do not know: ask again
        else:
            admin = event.action == "promote"
            members[index] = replace(members[index], admin=admin, superadmin=False)
    return replace(meta, participants=tuple(members))


def _ad_string(jid: str) -> str:
    parsed = Jid.parse(jid)
    return f"{parsed.user}.0:{parsed.device}@{parsed.server}"


def participant_hash(devices: Iterable[str]) -> str:
    """The participant-list hash of device JIDs (``2:`` + base64 of 6 bytes of SHA-256).

    The server may put its own in the ack of a group message (``phash``); a different
    one means our member or device list was stale.
    """
    joined = "".join(sorted(_ad_string(d) for d in devices))
    digest = hashlib.sha256(joined.encode()).digest()[:6]
    return "2:" + base64.b64encode(digest).decode().rstrip("=")


# -- the cache -----------------------------------------------------------------------------


class GroupCache:
    """Group metadata by group JID, at most ``max_size`` entries, least recently used out."""

    def __init__(self, max_size: int = DEFAULT_CACHE_SIZE) -> None:
        if max_size < 1:
            raise UsageError(f"the group cache size must be at least 1, got {max_size}")
        self.max_size = max_size
        self._entries: OrderedDict[str, GroupMetadata] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, group: object) -> bool:
        return group in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __repr__(self) -> str:
        return f"<GroupCache {len(self._entries)}/{self.max_size}>"

    def get(self, group: str) -> GroupMetadata | None:
        """The cached metadata of ``group`` (now the most recently used), or None."""
        meta = self._entries.get(group)
        if meta is not None:
            self._entries.move_to_end(group)
        return meta

    def put(self, meta: GroupMetadata) -> None:
        """Store ``meta`` under its group JID, dropping the least recently used if full."""
        self._entries[meta.id] = meta
        self._entries.move_to_end(meta.id)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    def drop(self, group: str) -> bool:
        """Forget ``group``; True if it was cached."""
        return self._entries.pop(group, None) is not None

    def clear(self) -> None:
        """Forget every group."""
        self._entries.clear()
