"""WABinary: binary nodes, JIDs and the fast node codec (sans-IO).

``encode_node`` and ``decode_node`` convert between :class:`Node` trees and the bytes a
WhatsApp frame carries (flags byte first); :class:`Jid` parses and prints addresses.
"""

from wamd.binary.decode import DEFAULT_MAX_INFLATED, decode_node
from wamd.binary.encode import MAX_DEPTH, encode_node, encode_string
from wamd.binary.jid import S_WHATSAPP_NET, STATUS_BROADCAST, Jid
from wamd.binary.node import Content, Node

__all__ = [
    "DEFAULT_MAX_INFLATED",
    "MAX_DEPTH",
    "STATUS_BROADCAST",
    "S_WHATSAPP_NET",
    "Content",
    "Jid",
    "Node",
    "decode_node",
    "encode_node",
    "encode_string",
]
