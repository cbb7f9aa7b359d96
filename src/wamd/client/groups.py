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
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from wamd.binary import Jid, Node
from wamd.client.group_metadata import (
    DEFAULT_CACHE_SIZE,
    MEMBER_ACTIONS,
    GroupCache,
    apply_event,
    build_metadata_query,
    parse_group,
    parse_group_notification,
    participant_hash,
)
from wamd.errors import JidError, StanzaError, UsageError
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

_GROUPS_JID = "@g.us"


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
        mine = {u for u in (_user(me.pn), _user(me.lid)) if u is not None}
        return any(_user(jid) in mine for jid in (who.jid, who.phone_number) if jid)


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
    """A ``w:gp2`` notification: update the group cache, ack, announce the changes.

    One that cannot be read drops the group's entry and is acked all the same (it would
    come back unchanged); a store failure (replacing our sender key) leaves it unacked,
    so the server delivers it again.
    """
    found: list[Event] = []
    if conn.state.creds.me is not None:
        groups = conn.messaging.groups
        try:
            found = await groups.apply_notification(node)
        except (StanzaError, JidError) as exc:
            conn.log.info("group notification %s not understood: %s", node.attrs.get("id"), exc)
            group = node.attrs.get("from")
            if group:
                groups.invalidate(group)
    try:
        ack = build_ack(node)
    except StanzaError as exc:
        conn.log.info("group notification not acked: %s", exc)
    else:
        await conn.send_node(ack)
    for event in found:
        await conn.emit(event)
