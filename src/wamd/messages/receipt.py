"""Receipts: the ones we send (delivery, read, sender, peer, retry) and the ones we get.

A receipt names one or more message ids: the first in its ``id`` attribute, the rest as
``<list><item id=../></list>`` (protocol.md §6.9). A retry receipt asks the sender of a
message we could not decrypt to send it again, optionally with a fresh pre-key bundle of
ours so the sender can start a new session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wamd.binary import Node
from wamd.crypto import DJB_TYPE
from wamd.errors import InvalidKeyError, StanzaError, UsageError
from wamd.events import Receipt
from wamd.messages.prekeys import pre_key_node, signed_pre_key_node, uint_bytes
from wamd.signal.keys import PreKey, PreKeyBundle

__all__ = [
    "RetryKeys",
    "RetryRequest",
    "build_receipt",
    "build_retry_receipt",
    "parse_receipt",
    "parse_retry_receipt",
]

_USER_SERVERS = ("s.whatsapp.net", "lid", "c.us", "hosted", "hosted.lid")
_RETRY_VERSION = "1"


def build_receipt(
    chat: str,
    ids: Sequence[str],
    *,
    participant: str | None = None,
    type: str | None = None,
    t: int | None = None,
) -> Node:
    """A receipt for the messages ``ids`` of ``chat``.

    ``type`` None means "delivered"; others are ``read``, ``read-self``, ``sender`` (a
    message our other device sent: ``participant`` is its author device),
    ``peer_msg``, ``inactive``, ``hist_sync``, ``played``. ``participant`` is the
    message's author in groups. Read receipts carry the time ``t`` (seconds).
    """
    if not ids:
        raise UsageError("a receipt needs at least one message id")
    attrs: dict[str, str] = {"id": ids[0]}
    if type in ("read", "read-self"):
        if t is None:
            raise UsageError(f"a {type!r} receipt needs its time t")
        attrs["t"] = str(t)
    if type == "sender" and _is_user(chat):
        if not participant:
            raise UsageError("a 'sender' receipt for a 1:1 chat needs the author device")
        attrs["recipient"] = chat
        attrs["to"] = participant
    else:
        attrs["to"] = chat
        if participant:
            attrs["participant"] = participant
    if type:
        attrs["type"] = type
    content: list[Node] | None = None
    if len(ids) > 1:
        content = [Node("list", {}, [Node("item", {"id": i}) for i in ids[1:]])]
    return Node("receipt", attrs, content)


def _is_user(jid: str) -> bool:
    user, at, server = jid.partition("@")
    return bool(user) and bool(at) and server in _USER_SERVERS


@dataclass(frozen=True, slots=True)
class RetryKeys:
    """Our pre-key bundle as a retry receipt carries it (protocol.md §6.9).

    ``identity`` and the keys are 32-byte publics; ``device_identity`` is our serialized
    ``ADVSignedDeviceIdentity`` with the account signature key.
    """

    identity: bytes
    pre_key: PreKey
    signed_pre_key_id: int
    signed_pre_key_public: bytes
    signed_pre_key_signature: bytes
    device_identity: bytes

    def __repr__(self) -> str:
        return f"RetryKeys(pre_key_id={self.pre_key.key_id}, signed={self.signed_pre_key_id})"

    def node(self) -> Node:
        """The ``<keys>`` child of a retry receipt."""
        return Node(
            "keys",
            {},
            [
                Node("type", {}, bytes((DJB_TYPE,))),
                Node("identity", {}, self.identity),
                pre_key_node(self.pre_key.key_id, self.pre_key.key_pair.public),
                signed_pre_key_node(
                    self.signed_pre_key_id,
                    self.signed_pre_key_public,
                    self.signed_pre_key_signature,
                ),
                Node("device-identity", {}, self.device_identity),
            ],
        )


def build_retry_receipt(
    message: Node, *, count: int, registration_id: int, keys: RetryKeys | None = None
) -> Node:
    """A retry receipt asking the sender of ``message`` (a ``<message>`` stanza) to resend.

    ``count`` is the retry number (1 for the first); ``keys`` our bundle, when the sender
    should start a fresh session with us.
    """
    msg_id = message.attrs.get("id")
    sender = message.attrs.get("from")
    if not msg_id or not sender:
        raise StanzaError("cannot ask for a retry of a <message> without id and from")
    attrs = {"id": msg_id, "type": "retry", "to": sender}
    for name in ("recipient", "participant"):
        value = message.attrs.get(name)
        if value:
            attrs[name] = value
    retry_attrs = {"count": str(count), "id": msg_id}
    t = message.attrs.get("t")
    if t:
        retry_attrs["t"] = t
    retry_attrs.update({"v": _RETRY_VERSION, "error": "0"})
    content = [
        Node("retry", retry_attrs),
        Node("registration", {}, uint_bytes(registration_id, 4)),
    ]
    if keys is not None:
        content.append(keys.node())
    return Node("receipt", attrs, content)


@dataclass(frozen=True, slots=True)
class RetryRequest:
    """A peer's retry receipt for one of our messages.

    ``sender`` is the device asking (the receipt's ``from``), ``chat`` the conversation
    (group, or the ``recipient`` when our own device asks), ``bundle`` the pre-key bundle
    it sent along (None if it sent none, or one we cannot use).
    """

    id: str
    count: int
    sender: str
    participant: str | None
    recipient: str | None
    registration_id: int | None
    bundle: PreKeyBundle | None


def parse_retry_receipt(node: Node) -> RetryRequest:
    """Read a ``<receipt type="retry">``; StanzaError if its required parts are missing."""
    if node.tag != "receipt" or node.attrs.get("type") != "retry":
        raise StanzaError(f"not a retry receipt: <{node.tag} type={node.attrs.get('type')!r}>")
    retry = node.get_child("retry")
    sender = node.attrs.get("from")
    if retry is None or not sender:
        missing = "<retry> child" if retry is None else "'from' attribute"
        raise StanzaError(f"retry receipt id={node.attrs.get('id')!r} has no {missing}")
    msg_id = retry.attrs.get("id") or node.attrs.get("id")
    count_text = retry.attrs.get("count", "")
    if not msg_id or not count_text.isdigit():
        raise StanzaError(f"retry receipt with a bad id or count {count_text!r}")
    registration = _child_uint(node, "registration", 4)
    return RetryRequest(
        id=msg_id,
        count=int(count_text),
        sender=sender,
        participant=node.attrs.get("participant"),
        recipient=node.attrs.get("recipient"),
        registration_id=registration,
        bundle=_bundle_of(node, registration),
    )


def _child_bytes(node: Node | None, tag: str) -> bytes | None:
    child = None if node is None else node.get_child(tag)
    return None if child is None else child.content_bytes()


def _child_uint(node: Node | None, tag: str, size: int) -> int | None:
    data = _child_bytes(node, tag)
    if data is None or len(data) != size:
        return None
    return int.from_bytes(data, "big")


def _bundle_of(node: Node, registration: int | None) -> PreKeyBundle | None:
    """The bundle in a retry receipt's ``<keys>``; None if absent or not well formed."""
    keys = node.get_child("keys")
    if keys is None or registration is None:
        return None
    if _child_bytes(keys, "type") != bytes((DJB_TYPE,)):
        return None
    identity = _child_bytes(keys, "identity")
    skey = keys.get_child("skey")
    signed_id = _child_uint(skey, "id", 3)
    signed_pub = _child_bytes(skey, "value")
    signature = _child_bytes(skey, "signature")
    if identity is None or len(identity) != 32 or signed_id is None:
        return None
    if signed_pub is None or len(signed_pub) != 32 or signature is None:
        return None
    pre_key_id: int | None = None
    pre_key_pub: bytes | None = None
    key = keys.get_child("key")
    if key is not None:
        pre_key_id = _child_uint(key, "id", 3)
        pre_key_pub = _child_bytes(key, "value")
        if pre_key_id is None or pre_key_pub is None or len(pre_key_pub) != 32:
            return None
    try:
        return PreKeyBundle(
            registration, identity, signed_id, signed_pub, signature, pre_key_id, pre_key_pub
        )
    except InvalidKeyError:
        return None


def parse_receipt(node: Node) -> Receipt:
    """The :class:`~wamd.events.Receipt` event of an incoming ``<receipt>``.

    ``chat`` is the ``from`` (the group for group receipts), ``sender`` the device that
    sent it (``participant`` in groups), ``type`` ``"delivery"`` when the stanza has none.
    """
    sender = node.attrs.get("from")
    first = node.attrs.get("id")
    if node.tag != "receipt" or not sender or not first:
        raise StanzaError(f"not a receipt with id and from: <{node.tag}>")
    ids = [first]
    listed = node.get_child("list")
    if listed is not None:
        ids.extend(i for item in listed.children("item") if (i := item.attrs.get("id")))
    t = node.attrs.get("t", "")
    return Receipt(
        chat=node.attrs.get("recipient") or sender,
        sender=node.attrs.get("participant") or sender,
        ids=tuple(ids),
        type=node.attrs.get("type") or "delivery",
        timestamp=int(t) if t.isdigit() else 0,
    )
