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

When the server says our group list is dirty (``<ib><dirty type="groups">``), the client
asks for every group it is in (``participating``), refreshes the cache from the answer,
forgets the groups it is no longer in, and then tells the server it is clean. An
application cache (``group_metadata_cache``, :mod:`wamd.client.group_cache`) is consulted
before the server and kept up to date with every change the connection learns.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from wamd.binary import Jid, Node
from wamd.client.group_cache import GroupMetadataSource, SharedGroupCache
from wamd.client.group_metadata import (
    DEFAULT_CACHE_SIZE,
    GroupCache,
    apply_event,
    build_metadata_query,
    parse_group,
    parse_group_notification,
)
from wamd.errors import InvalidRecordError, JidError, QueryError, StanzaError, UsageError
from wamd.events import (
    Event,
    GroupMetadata,
    GroupParticipant,
    GroupParticipantsUpdate,
    GroupUpdate,
    GroupUpsert,
)
from wamd.messages import Me, generate_message_id, parse_sender_key_memory
from wamd.signal.address import SenderKeyName
from wamd.signal.store import KeyCategory, KeyStore

__all__ = ["GroupSync", "Groups", "build_participating_query"]

log = logging.getLogger(__name__)

Query = Callable[[Node], Awaitable[Node]]

_GROUPS_JID = "@g.us"
_GONE_CODES = (403, 404)  # not a member any more / no such group


def build_participating_query() -> Node:
    """The ``w:g2`` iq that asks for every group we are in, with members and descriptions."""
    return Node(
        "iq",
        {"to": _GROUPS_JID, "type": "get", "xmlns": "w:g2"},
        [Node("participating", {}, [Node("participants"), Node("description")])],
    )


@dataclass(frozen=True, slots=True)
class GroupSync:
    """What a ``participating`` refresh found: every group we are in, and what changed.

    ``changed`` holds the groups whose metadata differs from what was cached (or that
    were not cached); ``gone`` the cached groups we are no longer in (now forgotten).
    """

    groups: tuple[GroupMetadata, ...]
    changed: tuple[GroupMetadata, ...]
    gone: tuple[str, ...]


# -- the connection's groups ---------------------------------------------------------------


class Groups:
    """The groups of one linked device: metadata (cached) and the admin requests.

    ``query`` sends an iq and returns the answer (``Connection.query``); ``store`` is the
    account's key store and ``me`` gives our current identity (for replacing our sender
    key). ``shared`` is the application's cache (``group_metadata_cache``), consulted
    after our own and before the server. ``queries`` counts the metadata queries sent.
    """

    def __init__(
        self,
        query: Query,
        store: KeyStore,
        me: Callable[[], Me],
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
        shared: GroupMetadataSource | None = None,
    ) -> None:
        self._query = query
        self._store = store
        self._me = me
        self.cache = GroupCache(cache_size)
        self.shared = SharedGroupCache(shared) if shared is not None else None
        self.queries = 0
        self._inflight: dict[str, asyncio.Future[GroupMetadata]] = {}
        self._changed_in_flight: set[str] = set()
        self._stale: set[str] = set()  # dropped as stale: ask the server, not `shared`
        self._sync_lock = asyncio.Lock()
        self._touched: set[str] | None = None  # groups changed while a sync is asked for

    def __repr__(self) -> str:
        return f"<Groups {self.cache!r}>"

    async def metadata(self, group: str, *, refresh: bool = False) -> GroupMetadata:
        """The metadata of ``group``: cached, or asked for (once, however many callers wait).

        Our own cache first, then the application's (``shared``), then the server.
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
            meta = None if refresh else await self._from_shared(jid)
            from_server = meta is None
            if meta is None:
                meta = await self._ask(jid)
            if jid in self._changed_in_flight:
                log.info("%s changed while its metadata was asked for; not cached", jid)
            else:
                self.cache.put(meta)
                if from_server:
                    self._stale.discard(jid)
                    await self._share(jid, meta)
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

    async def _ask(self, jid: str) -> GroupMetadata:
        self.queries += 1
        try:
            reply = await self._query(build_metadata_query(jid))
        except QueryError as exc:
            if exc.code in _GONE_CODES:
                await self._share(jid, None)
            raise
        node = reply.get_child("group")
        if node is None:
            raise StanzaError(f"the metadata of {jid} came without a <group>")
        meta = parse_group(node)
        if meta.id != jid:
            raise StanzaError(f"asked for the metadata of {jid}, got {meta.id}")
        return meta

    async def _from_shared(self, jid: str) -> GroupMetadata | None:
        if self.shared is None or jid in self._stale:
            return None
        return await self.shared.get(jid)

    async def _share(self, jid: str, meta: GroupMetadata | None) -> None:
        if self.shared is not None:
            await self.shared.set(jid, meta)

    def invalidate(self, group: str) -> None:
        """Forget the metadata of ``group``; the next send asks the server for it again.

        The application's cache is not asked for it until the server answered (its
        entry is replaced then).
        """
        self.cache.drop(group)
        if self.shared is not None:
            self._stale.add(group)
        if group in self._inflight:
            self._changed_in_flight.add(group)
        if self._touched is not None:
            self._touched.add(group)

    async def forget(self, group: str) -> None:
        """Forget ``group`` here and in the application's cache (we left it, it is gone)."""
        self.invalidate(group)
        self._stale.discard(group)
        await self._share(group, None)

    async def participating(self) -> list[GroupMetadata]:
        """Every group we are in (one query); each is cached, the other groups forgotten."""
        return list((await self.sync()).groups)

    async def sync(self) -> GroupSync:
        """Refresh the cache with every group we are in (the ``participating`` query).

        Each group in the answer is cached (and given to the application's cache); a
        cached group missing from it is forgotten. A group changed by a notification
        while the answer was on its way is dropped instead (the answer may be older).
        Where someone who holds our sender key is no longer a member, the key is
        replaced. One sync runs at a time.
        """
        async with self._sync_lock:
            touched: set[str] = set()
            self._touched = touched  # kept until the answer is applied: applying awaits
            try:
                return await self._sync(touched)
            finally:
                self._touched = None

    async def _sync(self, touched: set[str]) -> GroupSync:
        reply = await self._query(build_participating_query())
        holder = reply.get_child("groups")
        found = [parse_group(g) for g in holder.children("group")] if holder else []
        listed = {meta.id for meta in found}
        changed: list[GroupMetadata] = []
        kept: list[GroupMetadata] = []
        for meta in found:
            if meta.id in touched:
                await self.forget(meta.id)
                continue
            before = self.cache.get(meta.id)
            self._put_unless_in_flight(meta)
            self._stale.discard(meta.id)
            kept.append(meta)
            if before != meta:
                changed.append(meta)
            await self._share(meta.id, meta)
        gone = [g for g in self.cache if g not in listed and g not in touched]
        for group in gone:
            await self.forget(group)
        await self._replace_keys_held_by_others(kept)
        return GroupSync(tuple(found), tuple(changed), tuple(gone))

    async def _replace_keys_held_by_others(self, groups: Sequence[GroupMetadata]) -> None:
        """Replace our sender key in each group where a device that has it is not a member."""
        if not groups:
            return
        memories = await self._store.get(
            KeyCategory.SENDER_KEY_MEMORY.value, [meta.id for meta in groups]
        )
        for meta in groups:
            raw = memories.get(meta.id)
            if raw is None:
                continue
            try:
                holders = parse_sender_key_memory(meta.id, raw)
            except InvalidRecordError:
                log.info("sender-key-memory of %s is unreadable; replacing the key", meta.id)
                await self.rotate_sender_key(meta.id)
                continue
            members = {
                u
                for p in meta.participants
                for u in (_user(p.jid), _user(p.phone_number))
                if u is not None
            }
            me = self._me()
            outsiders = [
                device
                for device in holders
                if _user(device) not in members and not _is_own(me, device)
            ]
            if outsiders:
                log.info(
                    "%s: %d devices with our sender key left; replacing it", meta.id, len(outsiders)
                )
                await self.rotate_sender_key(meta.id)

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
        await self._share(meta.id, meta)
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
        await self.forget(jid)
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
            updated = replace(cached, subject=subject, subject_owner=self._me().lid)
            self.cache.put(updated)
            await self._share(jid, updated)
        else:
            await self._share(jid, None)

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
        await self.forget(jid)

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
            if self._touched is not None:
                self._touched.add(event.metadata.id)
            self._put_unless_in_flight(event.metadata)
            self._stale.discard(event.metadata.id)
            await self._share(event.metadata.id, event.metadata)
            return
        if not isinstance(event, GroupParticipantsUpdate | GroupUpdate):
            return
        group = event.group
        cached = self.cache.get(group)
        if group in self._inflight:
            self._changed_in_flight.add(group)
        if self._touched is not None:
            self._touched.add(group)
        if isinstance(event, GroupParticipantsUpdate) and event.action in ("remove", "leave"):
            if any(self._is_me(p) for p in event.participants):
                await self.forget(group)  # we are out: nothing to send to any more
                return
            await self.rotate_sender_key(group)
        updated = None if cached is None else apply_event(cached, event)
        if updated is None:
            # Not cached here (the application's entry, if any, is now out of date) or
            # not applicable: ask the server at the next send.
            await self.forget(group)
        else:
            self.cache.put(updated)
            await self._share(group, updated)

    def _put_unless_in_flight(self, meta: GroupMetadata) -> None:
        if meta.id in self._inflight:
            self._changed_in_flight.add(meta.id)
        self.cache.put(meta)

    def own_participant(self) -> GroupParticipant:
        """Us as a group member (our LID user JID when known, with our PN user JID)."""
        me = self._me()
        pn = _user(me.pn) or me.pn
        lid = _user(me.lid)
        return GroupParticipant(lid or pn, pn)

    def _is_me(self, who: GroupParticipant) -> bool:
        me = self._me()
        mine = {u for u in (_user(me.pn), _user(me.lid)) if u is not None}
        return any(_user(jid) in mine for jid in (who.jid, who.phone_number) if jid)


def _is_own(me: Me, jid: str) -> bool:
    try:
        return me.is_own_user(jid)
    except JidError:
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
