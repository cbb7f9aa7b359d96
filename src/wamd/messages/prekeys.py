"""Fetching other devices' pre-key bundles to start sessions with them (protocol.md §6.8).

:func:`build_key_fetch` makes the ``encrypt`` iq for device JIDs we have no session with;
:func:`parse_key_fetch_reply` reads the bundles out of the answer (keys come 32 bytes on
the wire and are 0x05-prefixed here). An ``<error>`` for any device raises
:class:`~wamd.errors.PreKeyFetchError`, as WhatsApp Web aborts the send then.
:func:`pre_key_node` and :func:`signed_pre_key_node` write our own keys in the same form
(pre-key upload, retry receipt).
"""

from __future__ import annotations

from collections.abc import Iterable

from wamd.binary import S_WHATSAPP_NET, Node
from wamd.errors import InvalidKeyError, PreKeyFetchError, StanzaError, UsageError
from wamd.signal.keys import PreKeyBundle

__all__ = [
    "build_key_fetch",
    "parse_key_fetch_reply",
    "pre_key_node",
    "signed_pre_key_node",
    "uint_bytes",
]

_KEY_LEN = 32
_SIGNATURE_LEN = 64


def uint_bytes(value: int, size: int) -> bytes:
    """``value`` as ``size`` big-endian bytes (UsageError if it does not fit)."""
    if not 0 <= value < 1 << (8 * size):
        raise UsageError(f"{value} does not fit in {size} bytes")
    return value.to_bytes(size, "big")


def pre_key_node(key_id: int, public: bytes) -> Node:
    """A one-time pre-key on the wire: ``<key><id/><value/></key>`` (3-byte id)."""
    return Node("key", {}, [Node("id", {}, uint_bytes(key_id, 3)), Node("value", {}, public)])


def signed_pre_key_node(key_id: int, public: bytes, signature: bytes) -> Node:
    """A signed pre-key on the wire: ``<skey><id/><value/><signature/></skey>``."""
    return Node(
        "skey",
        {},
        [
            Node("id", {}, uint_bytes(key_id, 3)),
            Node("value", {}, public),
            Node("signature", {}, signature),
        ],
    )


def build_key_fetch(
    jids: Iterable[str], *, identity_refresh: bool = False, iq_id: str | None = None
) -> Node:
    """The iq asking the server for the pre-key bundles of the device JIDs ``jids``.

    ``identity_refresh`` adds ``reason="identity"`` (a forced refresh, used for devices
    whose identity may have changed or that were just mapped to a LID).
    """
    users: list[Node] = []
    for jid in dict.fromkeys(jids):
        attrs = {"jid": jid}
        if identity_refresh:
            attrs["reason"] = "identity"
        users.append(Node("user", attrs))
    if not users:
        raise UsageError("a key fetch needs at least one device JID")
    attrs = {"xmlns": "encrypt", "type": "get", "to": S_WHATSAPP_NET}
    if iq_id is not None:
        attrs["id"] = iq_id
    return Node("iq", attrs, [Node("key", {}, users)])


def parse_key_fetch_reply(reply: Node) -> dict[str, PreKeyBundle]:
    """The bundles in a key-fetch reply, by device JID (as the server echoed it).

    Raises PreKeyFetchError for a user entry (or the whole iq) that is an ``<error>``, and
    StanzaError for a malformed entry (missing child, wrong key or signature length).
    """
    top_error = reply.get_child("error")
    if reply.attrs.get("type") == "error" or top_error is not None:
        code = None if top_error is None else top_error.attrs.get("code")
        text = None if top_error is None else top_error.attrs.get("text")
        raise PreKeyFetchError("(every device)", code, text)
    listed = reply.get_child("list")
    if listed is None:
        raise StanzaError("key-fetch reply has no <list>")
    out: dict[str, PreKeyBundle] = {}
    for i, user in enumerate(listed.children("user")):
        jid = user.attrs.get("jid")
        if not jid:
            raise StanzaError(f"key-fetch reply: <user> number {i + 1} has no jid")
        error = user.get_child("error")
        if error is not None:
            raise PreKeyFetchError(jid, error.attrs.get("code"), error.attrs.get("text"))
        out[jid] = _bundle(user, jid)
    return out


def _bundle(user: Node, jid: str) -> PreKeyBundle:
    # whatsmeow accepts the fields wrapped in a <keys> child too.
    source = user.get_child("keys") or user
    registration = _uint(source, "registration", 4, jid)
    identity = _key(source, "identity", jid)
    skey = _need(source, "skey", jid)
    signature = _bytes(skey, "signature", jid)
    if len(signature) != _SIGNATURE_LEN:
        raise StanzaError(f"key-fetch {jid}: skey signature is {len(signature)} bytes, not 64")
    pre_key_id: int | None = None
    pre_key: bytes | None = None
    key = source.get_child("key")
    if key is not None:
        pre_key_id = _uint(key, "id", 3, jid)
        pre_key = _key(key, "value", jid)
    try:
        return PreKeyBundle(
            registration,
            identity,
            _uint(skey, "id", 3, jid),
            _key(skey, "value", jid),
            signature,
            pre_key_id,
            pre_key,
        )
    except InvalidKeyError as exc:
        raise StanzaError(f"key-fetch {jid}: {exc}") from None


def _need(node: Node, tag: str, jid: str) -> Node:
    child = node.get_child(tag)
    if child is None:
        raise StanzaError(f"key-fetch {jid}: <{node.tag}> has no <{tag}>")
    return child


def _bytes(node: Node, tag: str, jid: str) -> bytes:
    data = _need(node, tag, jid).content_bytes()
    if data is None:
        raise StanzaError(f"key-fetch {jid}: <{tag}> has no bytes")
    return data


def _key(node: Node, tag: str, jid: str) -> bytes:
    data = _bytes(node, tag, jid)
    if len(data) == _KEY_LEN + 1 and data[0] == 5:
        data = data[1:]
    if len(data) != _KEY_LEN:
        raise StanzaError(f"key-fetch {jid}: <{tag}> is {len(data)} bytes, not 32")
    return data


def _uint(node: Node, tag: str, size: int, jid: str) -> int:
    data = _bytes(node, tag, jid)
    if len(data) != size:
        raise StanzaError(f"key-fetch {jid}: <{tag}> is {len(data)} bytes, not {size}")
    return int.from_bytes(data, "big")
