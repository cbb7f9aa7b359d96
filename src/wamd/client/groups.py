"""Group metadata of one connection: asked once, cached, kept fresh by ``w:gp2`` notifications.

A group send needs the group's members and addressing mode (fake-server.md §7.8). WhatsApp
Web asks the server once and then follows the group's ``w:gp2`` notifications; asking
before every send (as Baileys does without ``cachedGroupMetadata``) costs a round trip per
message and risks WhatsApp's rate limits for a bot in busy groups.

:class:`Groups` keeps a bounded LRU :class:`GroupCache` of :class:`~wamd.events.GroupMetadata`.
The first send to a group queries it; later sends reuse it. A notification that changes
the members or the subject updates the entry (one it does not understand drops it); a send
the server refuses, or acks with a participant hash other than ours, drops it too, so the
next send asks again. When a member is removed or leaves, our sender key for the group is
replaced, so the one who left cannot read what we send next. Changes are announced as
:class:`~wamd.events.GroupUpsert`, :class:`~wamd.events.GroupParticipantsUpdate` and
:class:`~wamd.events.GroupUpdate`; every notification is acked, understood or not.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from wamd.binary import Jid, Node
from wamd.errors import JidError, StanzaError, UsageError, WamdError
from wamd.events import (
    Event,
    GroupMetadata,
    GroupParticipant,
    GroupParticipantsUpdate,
    GroupUpdate,
    GroupUpsert,
)
from wamd.messages import Me, build_ack, generate_message_id
from wamd.signal.address import SenderKeyName
from wamd.signal.store import KeyCategory, KeyStore

if TYPE_CHECKING:
    from wamd.client.connection import Connection

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "MEMBER_ACTIONS",
    "GroupCache",
    "Groups",
    "apply_event",
    "build_metadata_query",
    "on_group_notification",
    "parse_group",
    "parse_group_notification",
    "participant_hash",
]

log = logging.getLogger(__name__)

Query = Callable[[Node], Awaitable[Node]]

DEFAULT_CACHE_SIZE = 5000
"""How many groups' metadata a connection keeps (least recently used dropped first)."""

MEMBER_ACTIONS = ("add", "remove", "promote", "demote", "leave")
"""The membership changes a ``w:gp2`` notification (or an admin request) can carry."""

_GROUP_SERVER = "g.us"
_GROUPS_JID = "@g.us"


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


# -- the connection's groups ---------------------------------------------------------------


class Groups:
    """The groups of one linked device: metadata (cached) and the admin requests.

    ``query`` sends an iq and returns the answer (``Connection.query``); ``store`` is the
    account's key store and ``me`` gives our current identity (for replacing our sender
    key). ``queries`` counts the metadata queries sent.
    """

    def __init__(
        self,
        query: Query,
        store: KeyStore,
        me: Callable[[], Me],
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self._query = query
        self._store = store
        self._me = me
        self.cache = GroupCache(cache_size)
        self.queries = 0
        self._inflight: dict[str, asyncio.Future[GroupMetadata]] = {}
        self._changed_in_flight: set[str] = set()

    def __repr__(self) -> str:
        return f"<Groups {self.cache!r}>"

    async def metadata(self, group: str, *, refresh: bool = False) -> GroupMetadata:
        """The metadata of ``group``: cached, or asked for (once, however many callers wait).

        ``refresh`` asks the server even if it is cached. An unknown group, or one we
        are not in, raises :class:`~wamd.errors.QueryError` (404, 403).
        """
        jid = _checked_group(group)
        if not refresh:
            cached = self.cache.get(jid)
            if cached is not None:
                return cached
        while (pending := self._inflight.get(jid)) is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this caller was cancelled, not the query it joined
        future: asyncio.Future[GroupMetadata] = asyncio.get_running_loop().create_future()
        self._inflight[jid] = future
        self._changed_in_flight.discard(jid)
        try:
            self.queries += 1
            reply = await self._query(build_metadata_query(jid))
            node = reply.get_child("group")
            if node is None:
                raise StanzaError(f"the metadata of {jid} came without a <group>")
            meta = parse_group(node)
            if meta.id != jid:
                raise StanzaError(f"asked for the metadata of {jid}, got {meta.id}")
            if jid in self._changed_in_flight:
                log.info("%s changed while its metadata was asked for; not cached", jid)
            else:
                self.cache.put(meta)
            future.set_result(meta)
            return meta
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: callers that joined re-raise it themselves
            raise
        finally:
            del self._inflight[jid]
            self._changed_in_flight.discard(jid)

    def invalidate(self, group: str) -> None:
        """Forget the metadata of ``group``; the next send asks for it again."""
        self.cache.drop(group)
        if group in self._inflight:
            self._changed_in_flight.add(group)

    async def participating(self) -> list[GroupMetadata]:
        """Every group we are in (one query); each is cached."""
        reply = await self._query(
            Node(
                "iq",
                {"to": _GROUPS_JID, "type": "get", "xmlns": "w:g2"},
                [Node("participating", {}, [Node("participants"), Node("description")])],
            )
        )
        holder = reply.get_child("groups")
        found = [parse_group(g) for g in holder.children("group")] if holder else []
        for meta in found:
            self._put_unless_in_flight(meta)
        return found

    async def create(self, subject: str, participants: Sequence[str]) -> GroupMetadata:
        """Make a group with us (superadmin) and ``participants`` (user JIDs); its metadata."""
        if not subject:
            raise UsageError("a group needs a subject")
        members = [Node("participant", {"jid": _checked_user(p)}) for p in participants]
        key = generate_message_id(self._me().pn, now_s=int(time.time()))
        reply = await self._query(
            Node(
                "iq",
                {"to": _GROUPS_JID, "type": "set", "xmlns": "w:g2"},
                [Node("create", {"subject": subject, "key": key}, members)],
            )
        )
        node = reply.get_child("group")
        if node is None:
            raise StanzaError("the create reply has no <group>")
        meta = parse_group(node)
        self.cache.put(meta)
        return meta

    async def update_participants(
        self, group: str, participants: Sequence[str], action: str
    ) -> dict[str, str]:
        """Add, remove, promote or demote members (we must be an admin).

        Returns each requested JID with the server's error code for it ("" when done).
        The cached entry is dropped (the server tells the other members, not us); after
        a removal our sender key is replaced.
        """
        if action not in ("add", "remove", "promote", "demote"):
            raise UsageError(f"unknown participant action {action!r}")
        jid = _checked_group(group)
        members = [Node("participant", {"jid": _checked_user(p)}) for p in participants]
        reply = await self._query(
            Node("iq", {"to": jid, "type": "set", "xmlns": "w:g2"}, [Node(action, {}, members)])
        )
        self.invalidate(jid)
        answer = reply.get_child(action)
        result = {
            p.attrs.get("jid", ""): p.attrs.get("error", "")
            for p in (answer.children("participant") if answer is not None else [])
        }
        if action == "remove" and any(code == "" for code in result.values()):
            await self.rotate_sender_key(jid)
        return result

    async def set_subject(self, group: str, subject: str) -> None:
        """Change the subject of ``group``."""
        jid = _checked_group(group)
        await self._query(
            Node(
                "iq",
                {"to": jid, "type": "set", "xmlns": "w:g2"},
                [Node("subject", {}, subject.encode())],
            )
        )
        cached = self.cache.get(jid)
        if cached is not None:
            self.cache.put(replace(cached, subject=subject, subject_owner=self._me().lid))

    async def leave(self, group: str) -> None:
        """Leave ``group``; its metadata is forgotten."""
        jid = _checked_group(group)
        await self._query(
            Node(
                "iq",
                {"to": _GROUPS_JID, "type": "set", "xmlns": "w:g2"},
                [Node("leave", {}, [Node("group", {"id": jid})])],
            )
        )
        self.invalidate(jid)

    async def rotate_sender_key(self, group: str) -> None:
        """Replace our sender key for ``group``: the next send makes and shares a new one."""
        me = self._me()
        names = [
            str(SenderKeyName.from_jids(group, sender))
            for sender in (me.lid_device, me.pn)
            if sender
        ]
        async with self._store.transaction(f"group:{group}"):
            await self._store.set(
                {
                    KeyCategory.SENDER_KEY.value: dict.fromkeys(names),
                    KeyCategory.SENDER_KEY_MEMORY.value: {group: None},
                }
            )

    async def apply_notification(self, node: Node) -> list[Event]:
        """Bring the cache up to date with a ``w:gp2`` notification; the events in it."""
        found = parse_group_notification(node)
        for event in found:
            await self._apply(event)
        return found

    async def _apply(self, event: Event) -> None:
        if isinstance(event, GroupUpsert):
            self._put_unless_in_flight(event.metadata)
            return
        if not isinstance(event, GroupParticipantsUpdate | GroupUpdate):
            return
        group = event.group
        cached = self.cache.get(group)
        if group in self._inflight:
            self._changed_in_flight.add(group)
        if isinstance(event, GroupParticipantsUpdate) and event.action in ("remove", "leave"):
            if any(self._is_me(p) for p in event.participants):
                self.cache.drop(group)  # we are out: nothing to send to any more
                return
            await self.rotate_sender_key(group)
        if cached is None:
            return
        updated = apply_event(cached, event)
        if updated is None:
            self.cache.drop(group)
        else:
            self.cache.put(updated)

    def _put_unless_in_flight(self, meta: GroupMetadata) -> None:
        if meta.id in self._inflight:
            self._changed_in_flight.add(meta.id)
        self.cache.put(meta)

    def _is_me(self, who: GroupParticipant) -> bool:
        me = self._me()
        for jid in (who.jid, who.phone_number):
            if jid is not None and _user(jid) in (_user(me.pn), _user(me.lid)):
                return True
        return False


def _user(jid: str | None) -> str | None:
    if jid is None:
        return None
    try:
        return str(Jid.parse(jid).to_non_ad())
    except JidError:
        return None


def _checked_group(group: str) -> str:
    try:
        parsed = Jid.parse(group)
    except JidError as exc:
        raise UsageError(f"{group!r} is not a group JID: {exc}") from None
    if not parsed.is_group:
        raise UsageError(f"{group!r} is not a group JID (…@g.us)")
    return str(parsed)


def _checked_user(user: str) -> str:
    try:
        parsed = Jid.parse(user)
    except JidError as exc:
        raise UsageError(f"{user!r} is not a user JID: {exc}") from None
    if not parsed.is_user:
        raise UsageError(f"{user!r} is not a user JID")
    return str(parsed.to_non_ad())


async def on_group_notification(conn: Connection, node: Node) -> None:
    """A ``w:gp2`` notification: ack it, update the group cache, announce the changes."""
    found: list[Event] = []
    try:
        if conn.state.creds.me is not None:
            found = await conn.messaging.groups.apply_notification(node)
    except WamdError as exc:
        conn.log.info("group notification %s not understood: %s", node.attrs.get("id"), exc)
        group = node.attrs.get("from")
        if group and conn.state.creds.me is not None:
            conn.messaging.groups.invalidate(group)
    finally:
        await conn.send_node(build_ack(node))
    for event in found:
        await conn.emit(event)
