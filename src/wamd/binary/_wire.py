"""WABinary wire constants shared by the encoder, the decoder and :class:`Jid`.

Tag bytes (the byte in front of every string, list or binary field), the bound on JID
parts nested inside JID parts, and the AD_JID domain-type byte of each server.
"""

from __future__ import annotations

__all__ = [
    "AD_JID",
    "BINARY_8",
    "BINARY_20",
    "BINARY_32",
    "DICTIONARY_0",
    "DICTIONARY_3",
    "DOMAIN_OF_SERVER",
    "FB_JID",
    "HEX_8",
    "INTEROP_JID",
    "JID_PAIR",
    "LIST_8",
    "LIST_16",
    "LIST_EMPTY",
    "MAX_STRING_DEPTH",
    "NIBBLE_8",
    "SERVER_OF_DOMAIN",
]

LIST_EMPTY = 0
DICTIONARY_0 = 236
DICTIONARY_3 = 239
INTEROP_JID = 245
FB_JID = 246
AD_JID = 247
LIST_8 = 248
LIST_16 = 249
JID_PAIR = 250
HEX_8 = 251
BINARY_8 = 252
BINARY_20 = 253
BINARY_32 = 254
NIBBLE_8 = 255

#: Deepest nesting of JID parts inside JID parts (``a@b@c``), written or read.
MAX_STRING_DEPTH = 16

#: The servers an AD_JID's domain-type byte names, and back.
DOMAIN_OF_SERVER: dict[str, int] = {"s.whatsapp.net": 0, "lid": 1, "hosted": 128, "hosted.lid": 129}
SERVER_OF_DOMAIN: dict[int, str] = {domain: server for server, domain in DOMAIN_OF_SERVER.items()}
