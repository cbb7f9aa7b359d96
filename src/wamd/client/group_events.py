"""The group stanzas a connection handles: ``w:gp2`` notifications and the dirty bit.

Both keep :class:`~wamd.client.groups.Groups` (the connection's cached group metadata) up
to date and announce what changed (fake-server.md §6.5, §7.8).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from wamd.binary import S_WHATSAPP_NET, Node
from wamd.errors import JidError, StanzaError, WamdError
from wamd.events import Event, GroupParticipantsUpdate, GroupUpsert
from wamd.messages import build_ack

if TYPE_CHECKING:
    from wamd.client.connection import Connection

__all__ = ["on_dirty_groups", "on_group_notification"]

_DIRTY_XMLNS = "urn:xmpp:whatsapp:dirty"


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


async def on_dirty_groups(conn: Connection, timestamp: str | None = None) -> None:
    """``<ib><dirty type="groups">``: refresh every group we are in, then report clean.

    Groups whose metadata changed are announced as :class:`~wamd.events.GroupUpsert`,
    groups we are no longer in as a :class:`~wamd.events.GroupParticipantsUpdate`
    removing us (with no author). If the refresh fails the bit is left dirty: the server
    says so again at a later login.
    """
    if conn.state.creds.me is None:
        return
    groups = conn.messaging.groups
    try:
        found = await groups.sync()
    except WamdError as exc:
        conn.log.warning("refreshing the groups after a dirty bit failed: %s", exc)
        return
    stamp = int(timestamp) if timestamp and timestamp.isascii() and timestamp.isdigit() else 0
    stamp = stamp or int(time.time())
    conn.log.info(
        "groups refreshed: %d groups, %d changed, %d left",
        len(found.groups),
        len(found.changed),
        len(found.gone),
    )
    for meta in found.changed:
        await conn.emit(GroupUpsert(meta))
    if found.gone:
        us = (groups.own_participant(),)
        for group in found.gone:
            await conn.emit(GroupParticipantsUpdate(group, "remove", us, None, stamp))
    clean = Node(
        "iq",
        {"to": S_WHATSAPP_NET, "type": "set", "xmlns": _DIRTY_XMLNS},
        [Node("clean", {"type": "groups"})],
    )
    try:
        await conn.query(clean)
    except WamdError as exc:
        conn.log.info("the server did not take the clean groups bit: %s", exc)
