"""The node handler table, and the stanzas that end or steer a connection.

:func:`find_handler` picks a handler by (tag, type attribute, first child tag), falling
back to (tag, type) and then the tag alone. Linking stanzas live in
:mod:`wamd.client.linking`, login in :mod:`wamd.client.login`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import fields
from typing import TYPE_CHECKING

from wamd.auth import KeyCategory
from wamd.auth.creds import AuthCreds, init_auth_creds
from wamd.binary import S_WHATSAPP_NET, Jid, Node
from wamd.client import group_events, linking, login, messaging
from wamd.client.linking import LinkingState
from wamd.errors import JidError, WamdError
from wamd.events import AuthFailure, failure_status, stream_error_status

if TYPE_CHECKING:
    from wamd.client.connection import Connection

__all__ = [
    "LinkingState",
    "clear_auth_state",
    "find_handler",
    "forget_unconfirmed_link",
    "is_linked",
    "user_and_device",
]

Handler = Callable[["Connection", Node], Awaitable[None]]


def is_linked(creds: AuthCreds) -> bool:
    """True when the creds belong to a device that finished linking (log in, not register).

    Both ``me`` and the signed ``account`` identity are needed: a device whose linking
    was interrupted (Baileys sets ``me`` when it asks for a pairing code) registers again.
    """
    return creds.me is not None and creds.account is not None


def user_and_device(jid: str) -> tuple[str, int]:
    """The user and device number of our own JID ``user:device@s.whatsapp.net``."""
    try:
        parsed = Jid.parse(jid)
    except JidError as exc:
        raise WamdError(f"creds.me.id is not a JID: {exc}") from None
    return parsed.user, parsed.device


async def _stream_error(conn: Connection, node: Node) -> None:
    children = node.children()
    first = children[0].tag if children else None
    status = stream_error_status(node.attrs.get("code"), first)
    conn.log.info("stream error %d (%s)", status, first or "no child")
    conn.end_socket(status, f"stream error {status}", immediate=status == 515)


async def _failure(conn: Connection, node: Node) -> None:
    status = failure_status(node.attrs.get("reason"))
    conn.log.info("login failed with %d", status)
    conn.end_socket(status, f"login failure {status}")


async def _xmlstreamend(conn: Connection, node: Node) -> None:
    conn.end_socket(428, "the server ended the stream")


async def _ib(conn: Connection, node: Node) -> None:
    for child in node.children():
        if child.tag == "edge_routing":
            info = child.get_child("routing_info")
            data = info.content_bytes() if info is not None else None
            if data and data != conn.state.creds.routing_info:
                conn.state.creds.routing_info = data
                await conn.creds_changed("routing_info")
        elif child.tag == "offline_preview":
            await conn.send_node(Node("ib", {}, [Node("offline_batch", {"count": "100"})]))
        elif child.tag == "dirty":
            stamp = child.attrs.get("timestamp", "")
            kind = child.attrs.get("type")
            if kind == "account_sync" and stamp.isdigit():
                conn.state.creds.last_account_sync_timestamp = int(stamp)
                await conn.creds_changed("last_account_sync_timestamp")
            elif kind == "groups":
                # In a task of its own: the participating query may be large, and the
                # stanzas behind this one (messages, w:gp2 notifications) go on meanwhile.
                conn.spawn(group_events.on_dirty_groups(conn, stamp))
        elif child.tag == "downgrade_webclient":
            conn.end_socket(411, "the server downgraded this web client")


async def _notification(conn: Connection, node: Node) -> None:
    attrs = {"id": node.attrs.get("id", ""), "to": node.attrs.get("from", S_WHATSAPP_NET)}
    attrs["class"] = "notification"
    if "type" in node.attrs:
        attrs["type"] = node.attrs["type"]
    if "participant" in node.attrs:
        attrs["participant"] = node.attrs["participant"]
    await conn.send_node(Node("ack", attrs))


async def _server_ping(conn: Connection, node: Node) -> None:
    reply = {"to": node.attrs.get("from", S_WHATSAPP_NET), "type": "result"}
    reply["id"] = node.attrs.get("id", "")
    await conn.send_node(Node("iq", reply))


async def _ignore(conn: Connection, node: Node) -> None:
    return None


_TABLE: dict[tuple[str, str | None, str | None], Handler] = {
    ("iq", "set", "pair-device"): linking.on_pair_device,
    ("iq", "set", "pair-success"): linking.on_pair_success,
    ("iq", "result", "pair-success"): linking.on_pair_success,
    ("iq", "get", "ping"): _server_ping,
    ("iq", "result", None): _ignore,
    ("success", None, None): login.on_success,
    ("failure", None, None): _failure,
    ("stream:error", None, None): _stream_error,
    ("xmlstreamend", None, None): _xmlstreamend,
    ("ib", None, None): _ib,
    ("notification", "link_code_companion_reg", None): linking.on_link_code_notification,
    ("notification", "encrypt", None): login.on_encrypt_notification,
    ("notification", "devices", None): messaging.on_devices_notification,
    ("notification", "w:gp2", None): group_events.on_group_notification,
    ("message", None, None): messaging.on_message,
    ("receipt", None, None): messaging.on_receipt,
    ("notification", None, None): _notification,
}


def find_handler(node: Node) -> Handler | None:
    """The handler for ``node``: most specific key first, then by type, then by tag."""
    kind = node.attrs.get("type")
    children = node.children()
    first = children[0].tag if children else None
    return (
        _TABLE.get((node.tag, kind, first))
        or _TABLE.get((node.tag, kind, None))
        or _TABLE.get((node.tag, None, None))
    )


async def forget_unconfirmed_link(conn: Connection) -> None:
    """Undo a link the server never confirmed, so the next socket registers again."""
    creds = conn.state.creds
    creds.me = None
    creds.account = None
    creds.platform = None
    creds.registered = False
    if creds.signal_identities:
        creds.signal_identities = creds.signal_identities[:-1] or None
    conn.log.warning("the server refused the device it just linked; linking again")
    await conn.creds_changed("me", "account", "platform", "registered", "signal_identities")
    await conn.emit(AuthFailure("the server did not confirm the link; linking again"))


async def clear_auth_state(conn: Connection) -> None:
    """Replace the creds with fresh ones and delete every stored key of the account."""
    keys = conn.state.keys
    backend = keys.backend
    async with keys.transaction("clear"):
        changes: dict[str, dict[str, bytes | None]] = {}
        for category in KeyCategory:
            ids = await backend.list_ids(category.value)
            if ids:
                changes[category.value] = dict.fromkeys(ids)
        if changes:
            await keys.set(changes)
    fresh = init_auth_creds()
    conn.state.creds = fresh
    names = [f.name for f in fields(AuthCreds) if f.name not in ("extra", "key_order")]
    await conn.creds_changed(*names)
