"""Device lists: the usync query for users' devices and LIDs, and its reply (protocol.md §6.8).

Before encrypting a message we need every device of the recipient and of ourselves.
:func:`build_device_query` asks for them; :func:`parse_device_reply` reads the answer;
:func:`device_jids` turns it into the device JIDs to encrypt for (device 0 always, other
devices only with a key index, never our own exact device).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wamd.binary import S_WHATSAPP_NET, Jid, Node
from wamd.errors import JidError, StanzaError, UsageError

__all__ = [
    "DeviceInfo",
    "UserDevices",
    "build_device_query",
    "device_jids",
    "device_list_records",
    "lid_mappings",
    "parse_device_reply",
]


def build_device_query(users: Iterable[str], *, sid: str, iq_id: str | None = None) -> Node:
    """The usync iq asking for the devices and LIDs of ``users`` (user JIDs, PN or LID).

    Devices of the JIDs are dropped (the query is per user); ``sid`` is the query's
    session id (an iq tag); ``iq_id`` the iq's own id, if the caller sets it here.
    """
    seen: dict[str, None] = {}
    for user in users:
        seen[str(Jid.parse(user).to_non_ad())] = None
    if not seen:
        raise UsageError("a device query needs at least one user")
    attrs = {"to": S_WHATSAPP_NET, "type": "get", "xmlns": "usync"}
    if iq_id is not None:
        attrs["id"] = iq_id
    usync = Node(
        "usync",
        {"context": "message", "mode": "query", "sid": sid, "last": "true", "index": "0"},
        [
            Node("query", {}, [Node("devices", {"version": "2"}), Node("lid", {})]),
            Node("list", {}, [Node("user", {"jid": jid}) for jid in seen]),
        ],
    )
    return Node("iq", attrs, [usync])


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One device in a usync device list: its id, key index (None if absent), hosted flag."""

    id: int
    key_index: int | None
    hosted: bool = False


@dataclass(frozen=True, slots=True)
class UserDevices:
    """One user of a usync reply: the JID as asked, its devices, and its LID if given."""

    jid: str
    devices: tuple[DeviceInfo, ...]
    lid: str | None


def parse_device_reply(reply: Node) -> list[UserDevices]:
    """The users of a usync device reply (``<iq type="result"><usync><list><user>``).

    Raises StanzaError if the iq is not a result or a device entry is malformed; users
    without a ``devices`` child come back with no devices.
    """
    if reply.tag != "iq" or reply.attrs.get("type") != "result":
        error = reply.get_child("error")
        detail = "" if error is None else f" (error {error.attrs.get('code')})"
        raise StanzaError(
            f"usync reply is not an iq result: type={reply.attrs.get('type')!r}{detail}"
        )
    usync = reply.get_child("usync")
    listed = None if usync is None else usync.get_child("list")
    if listed is None:
        raise StanzaError("usync reply has no <usync><list>")
    out: list[UserDevices] = []
    for user in listed.children("user"):
        jid = user.attrs.get("jid")
        if not jid:
            continue
        devices_node = user.get_child("devices")
        devices: list[DeviceInfo] = []
        if devices_node is not None:
            if devices_node.get_child("error") is not None:
                raise StanzaError(f"usync: the devices of {jid} came back as an error")
            device_list = devices_node.get_child("device-list")
            for device in [] if device_list is None else device_list.children("device"):
                devices.append(_device(device, jid))
        lid_node = user.get_child("lid")
        lid = None if lid_node is None else lid_node.attrs.get("val") or None
        out.append(UserDevices(jid, tuple(devices), lid))
    return out


def _device(node: Node, user: str) -> DeviceInfo:
    id_text = node.attrs.get("id", "")
    if not id_text.isdigit():
        raise StanzaError(f"usync: device of {user} has a bad id {id_text!r}")
    key_index = node.attrs.get("key-index")
    if key_index is not None and not key_index.isdigit():
        raise StanzaError(f"usync: device {id_text} of {user} has a bad key-index {key_index!r}")
    return DeviceInfo(
        int(id_text),
        None if key_index is None else int(key_index),
        node.attrs.get("is_hosted") == "true",
    )


def device_jids(users: Sequence[UserDevices], me: str, me_lid: str | None = None) -> list[str]:
    """The device JIDs to encrypt for: device 0 of each user, other devices with a key index.

    Our own exact device (``me`` in PN form, ``me_lid`` in LID form) is left out (Baileys
    leaves out only the PN form; the server drops the other). A JID keeps the address
    space it was asked in; hosted devices move to the hosted servers.
    """
    own = _device_key(me)
    mine = {own}
    if me_lid:
        # Our LID may be stored without a device: our device number is the PN one's.
        lid_user, lid_server, _ = _device_key(me_lid)
        mine.add((lid_user, lid_server, own[2]))
    out: list[str] = []
    for user in users:
        base = Jid.parse(user.jid).to_non_ad()
        for device in user.devices:
            if device.id != 0 and not device.key_index:
                continue
            server = base.server
            if device.hosted:
                server = "hosted.lid" if base.server == "lid" else "hosted"
            jid = Jid(base.user, server, device.id)
            if (jid.user, jid.server, jid.device) in mine:
                continue
            out.append(str(jid))
    return out


def _device_key(jid: str) -> tuple[str, str, int]:
    try:
        parsed = Jid.parse(jid)
    except JidError as exc:
        raise UsageError(f"our own JID {jid!r} is not valid: {exc}") from None
    server = "s.whatsapp.net" if parsed.server == "c.us" else parsed.server
    return parsed.user, server, parsed.device


def lid_mappings(users: Sequence[UserDevices]) -> list[tuple[str, str]]:
    """``(lid, pn)`` user JID pairs learnt from a reply (users asked by PN that have a LID)."""
    out: list[tuple[str, str]] = []
    for user in users:
        if user.lid is None:
            continue
        asked = Jid.parse(user.jid).to_non_ad()
        lid = Jid.parse(user.lid).to_non_ad()
        if asked.is_pn_user and lid.is_lid:
            out.append((str(lid), str(asked)))
    return out


def device_list_records(users: Sequence[UserDevices], jids: Sequence[str]) -> dict[str, bytes]:
    """The ``device-list`` store values (user → JSON list of device ids) for ``jids``.

    ``jids`` are the device JIDs :func:`device_jids` kept; users with none are left out.
    """
    per_user: dict[str, list[str]] = {}
    for jid in jids:
        parsed = Jid.parse(jid)
        per_user.setdefault(parsed.user, []).append(str(parsed.device))
    known = {Jid.parse(u.jid).user for u in users}
    return {
        user: json.dumps(ids, separators=(",", ":")).encode()
        for user, ids in per_user.items()
        if user in known
    }
