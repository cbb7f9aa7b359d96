"""After ``<success>``: clock offset, own LID, pre-keys, passive, digest, Connected (§5.1)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import TYPE_CHECKING

from wamd.auth import KeyCategory
from wamd.binary import S_WHATSAPP_NET, Jid, Node
from wamd.client.prekeys import (
    MIN_PRE_KEY_COUNT,
    newest_pre_key_missing,
    pre_key_upload_node,
    prepare_upload,
    upload_target,
)
from wamd.errors import JidError, TimeoutError_, WamdError
from wamd.events import Connected

if TYPE_CHECKING:
    from wamd.client.connection import Connection

__all__ = ["on_encrypt_notification", "on_success", "upload_pre_keys"]

_WEEK_MS = 7 * 24 * 3600 * 1000
_THREE_DAYS_MS = 3 * 24 * 3600 * 1000


async def on_success(conn: Connection, node: Node) -> None:
    """Logged in: finish the first-seconds work, then announce :class:`Connected`."""
    if "t" in node.attrs and node.attrs["t"].isdigit():
        conn.server_time_offset = int(node.attrs["t"]) - conn.clock()
    conn.link_unconfirmed = False
    creds = conn.state.creds
    lid = node.attrs.get("lid")
    if lid and creds.me is not None and creds.me.lid != lid:
        creds.me = replace(creds.me, lid=lid)
        await conn.creds_changed("me")
    try:
        count_reply = await conn.query(
            Node(
                "iq",
                {"to": S_WHATSAPP_NET, "type": "get", "xmlns": "encrypt"},
                [Node("count")],
            )
        )
        count_node = count_reply.get_child("count")
        count = int(count_node.attrs.get("value", "0")) if count_node is not None else 0
        target = upload_target(count)
        if count <= target or await newest_pre_key_missing(conn.state):
            await upload_pre_keys(conn, target)
        await conn.query(
            Node("iq", {"to": S_WHATSAPP_NET, "type": "set", "xmlns": "passive"}, [Node("active")])
        )
        digest = await conn.query(
            Node("iq", {"to": S_WHATSAPP_NET, "type": "get", "xmlns": "encrypt"}, [Node("digest")])
        )
        if digest.get_child("digest") is None:
            await upload_pre_keys(conn, MIN_PRE_KEY_COUNT)
    except TimeoutError_ as exc:
        conn.log.warning("a login request went unanswered: %s", exc)
    if lid and creds.me is not None:
        await _store_own_lid(conn, creds.me.id, lid)
    conn.set_connected()
    await conn.emit(Connected())
    await _unified_session(conn)


async def upload_pre_keys(conn: Connection, target: int) -> None:
    """Generate and store what is needed, announce the counters, then upload ``target`` keys."""
    keys, changed = await prepare_upload(conn.state, target)
    if changed:
        await conn.creds_changed("next_pre_key_id", "first_unuploaded_pre_key_id")
    conn.log.info("uploading %d pre-keys (ids %d..%d)", len(keys), keys[0][0], keys[-1][0])
    await conn.query(pre_key_upload_node(conn.state, keys), timeout=30)


async def on_encrypt_notification(conn: Connection, node: Node) -> None:
    """``<notification type="encrypt"><count value=N/>``: refill when the server runs low."""
    try:
        count = node.get_child("count")
        if count is not None and int(count.attrs.get("value", "0")) < MIN_PRE_KEY_COUNT:
            await upload_pre_keys(conn, MIN_PRE_KEY_COUNT)
    except (WamdError, ValueError) as exc:
        conn.log.warning("pre-key refill failed: %s", exc)
    finally:
        attrs = {"id": node.attrs.get("id", ""), "to": node.attrs.get("from", S_WHATSAPP_NET)}
        attrs.update({"class": "notification", "type": "encrypt"})
        await conn.send_node(Node("ack", attrs))


async def _store_own_lid(conn: Connection, pn: str, lid: str) -> None:
    try:
        pn_jid, lid_jid = Jid.parse(pn), Jid.parse(lid)
    except JidError as exc:
        conn.log.warning("own JIDs unusable for the LID mapping: %s", exc)
        return
    keys = conn.state.keys
    async with keys.transaction("own-lid"):
        await keys.set(
            {
                KeyCategory.LID_MAPPING.value: {
                    pn_jid.user: lid_jid.user.encode(),
                    lid_jid.user + "_reverse": pn_jid.user.encode(),
                },
                KeyCategory.DEVICE_LIST.value: {
                    pn_jid.user: json.dumps([str(pn_jid.device)]).encode(),
                },
            }
        )


async def _unified_session(conn: Connection) -> None:
    now_ms = int((time.time() + conn.server_time_offset) * 1000)
    session_id = (now_ms + _THREE_DAYS_MS) % _WEEK_MS
    try:
        await conn.send_node(Node("ib", {}, [Node("unified_session", {"id": str(session_id)})]))
    except WamdError as exc:
        conn.log.debug("unified_session not sent: %s", exc)
