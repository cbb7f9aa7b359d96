"""Acks and nacks of incoming stanzas (protocol.md §6.9).

Every ``receipt``, ``notification`` and ``call`` is acked; a ``message`` is acked instead
of receipted only when it cannot be processed (a nack, with an error code) or needs no
receipt (newsletters, duplicates).
"""

from __future__ import annotations

import enum

from wamd.binary import Node
from wamd.errors import StanzaError

__all__ = ["NackReason", "build_ack"]


class NackReason(enum.IntEnum):
    """Error codes a client puts on the ``<ack>`` of a stanza it could not process."""

    SENDER_REACHOUT_TIMELOCKED = 463
    PARSING_ERROR = 487
    """Also sent when a message's keys were used already or never filled."""
    UNRECOGNIZED_STANZA = 488
    UNRECOGNIZED_STANZA_CLASS = 489
    UNRECOGNIZED_STANZA_TYPE = 490
    INVALID_PROTOBUF = 491
    INVALID_HOSTED_COMPANION_STANZA = 493
    MISSING_MESSAGE_SECRET = 495
    """Sent for ``msmsg`` encryption, which is not supported."""
    SIGNAL_ERROR_OLD_COUNTER = 496
    MESSAGE_DELETED_ON_PEER = 499
    UNHANDLED_ERROR = 500
    """Sent after a retry receipt when a message failed to decrypt."""
    UNSUPPORTED_ADMIN_REVOKE = 550
    UNSUPPORTED_LID_GROUP = 551
    DB_OPERATION_FAILED = 552


def build_ack(node: Node, me: str | None = None, *, error: int | None = None) -> Node:
    """The ``<ack>`` for an incoming stanza ``node``; with ``error`` it is a nack.

    ``class`` is the stanza's tag, ``to`` its ``from``; ``participant``, ``recipient`` and
    ``type`` are copied when present; ``from`` is our own JID ``me`` for message acks.
    """
    stanza_id = node.attrs.get("id")
    sender = node.attrs.get("from")
    if not stanza_id:
        raise StanzaError(f"cannot ack a <{node.tag}> without an id")
    if not sender:
        raise StanzaError(f"cannot ack <{node.tag} id={stanza_id!r}>: it has no 'from'")
    attrs = {"id": stanza_id, "to": sender, "class": node.tag}
    if error:
        attrs["error"] = str(int(error))
    for name in ("participant", "recipient", "type"):
        value = node.attrs.get(name)
        if value:
            attrs[name] = value
    if node.tag == "message" and me:
        attrs["from"] = me
    return Node("ack", attrs)
