"""Encode a :class:`~wamd.binary.node.Node` to WABinary bytes.

The output is byte-for-byte what Baileys' ``encodeBinaryNode`` writes for every string
that Baileys itself round-trips. A few strings Baileys would mangle (a JID-looking string
whose agent, device or server the wire form cannot carry, such as ``a_1@s.whatsapp.net``
or ``a:300@s.whatsapp.net``) are written here as plain UTF-8 instead, so they decode back
unchanged.
"""

from __future__ import annotations

from wamd.binary._tokens import DOUBLE_BYTE_TOKENS, SINGLE_BYTE_TOKENS
from wamd.binary._wire import (
    AD_JID,
    BINARY_8,
    BINARY_20,
    BINARY_32,
    DICTIONARY_0,
    DOMAIN_OF_SERVER,
    HEX_8,
    JID_PAIR,
    LIST_8,
    LIST_16,
    LIST_EMPTY,
    MAX_STRING_DEPTH,
    NIBBLE_8,
)
from wamd.binary.node import Node
from wamd.errors import NodeEncodeError

__all__ = ["MAX_DEPTH", "encode_node", "encode_string"]

#: Deepest node nesting written or read (real stanzas nest well under 10).
MAX_DEPTH = 64
# Longest string written packed (NIBBLE_8 / HEX_8: 7 bits of length).
_PACKED_MAX = 127

_NIBBLE_CHARS = "0123456789-."
_HEX_CHARS = "0123456789ABCDEF"
_NIBBLE_TO_HEX = str.maketrans({"-": "a", ".": "b"})


def _token_table() -> dict[str, bytes]:
    table: dict[str, bytes] = {}
    for index, token in enumerate(SINGLE_BYTE_TOKENS):
        if index:
            table[token] = bytes((index,))
    for dictionary, tokens in enumerate(DOUBLE_BYTE_TOKENS):
        for index, token in enumerate(tokens):
            table[token] = bytes((DICTIONARY_0 + dictionary, index))
    return table


# Every token's wire bytes, and the empty string (BINARY_8 of length 0).
_TOKENS: dict[str, bytes] = _token_table()
_TOKENS[""] = bytes((BINARY_8, 0))
# Precomputed headers: LIST_8 + size and BINARY_8 + length for 0..255.
_LIST8_HEADER = tuple(bytes((LIST_8, n)) for n in range(256))
_BIN8_HEADER = tuple(bytes((BINARY_8, n)) for n in range(256))


def encode_node(node: Node) -> bytes:
    """Serialize ``node`` with the leading 0x00 (uncompressed) flags byte.

    Raises :class:`~wamd.errors.NodeEncodeError` for an empty tag, a non-string attribute,
    content of an unsupported type, or nesting deeper than :data:`MAX_DEPTH`.
    """
    out = bytearray(b"\x00")
    try:
        _write_node(node, out, 0)
    except (TypeError, AttributeError) as exc:
        raise NodeEncodeError(f"cannot encode node: {exc}") from None
    return bytes(out)


def encode_string(value: str) -> bytes:
    """The wire form of one string (token, packed, JID or UTF-8), as in an attribute."""
    return _TOKENS.get(value) or _string(value, 0)


def _write_node(node: Node, out: bytearray, depth: int) -> None:
    tokens = _TOKENS
    tag = node.tag
    attrs = node.attrs
    content = node.content
    if not tag or type(tag) is not str:
        raise NodeEncodeError(f"invalid node tag {tag!r} (a non-empty string is required)")
    size = 2 * len(attrs) + (1 if content is None else 2)
    if size < 256:
        out += _LIST8_HEADER[size]
    else:
        out += bytes((LIST_16, size >> 8, size & 0xFF))
    out += tokens.get(tag) or _string(tag, 0)
    for key, value in attrs.items():
        out += tokens.get(key) or _string(key, 0)
        out += tokens.get(value) or _string(value, 0)
    if content is None:
        return
    if type(content) is list:
        count = len(content)
        if count == 0:
            out.append(LIST_EMPTY)
        elif count < 256:
            out += _LIST8_HEADER[count]
        elif count < 65536:
            out += bytes((LIST_16, count >> 8, count & 0xFF))
        else:
            raise NodeEncodeError(f"<{tag}> has {count} children (at most 65535 fit)")
        if depth >= MAX_DEPTH:
            raise NodeEncodeError(f"nodes nested deeper than {MAX_DEPTH} levels at <{tag}>")
        depth += 1
        for child in content:
            if type(child) is not Node and not isinstance(child, Node):
                raise NodeEncodeError(f"<{tag}> has a child of type {type(child).__name__}")
            _write_node(child, out, depth)
    elif isinstance(content, bytes | bytearray | memoryview):
        length = content.nbytes if isinstance(content, memoryview) else len(content)
        if length < 256:
            out += _BIN8_HEADER[length]
        else:
            out += _length_header(length)
        out += content
    elif type(content) is str:
        out += tokens.get(content) or _string(content, 0)
    else:
        raise NodeEncodeError(f"<{tag}> has content of type {type(content).__name__}")


def _length_header(length: int) -> bytes:
    if length < 256:
        return _BIN8_HEADER[length]
    if length < 1 << 20:
        return bytes((BINARY_20, (length >> 16) & 0x0F, (length >> 8) & 0xFF, length & 0xFF))
    if length < 1 << 32:
        return bytes((BINARY_32,)) + length.to_bytes(4, "big")
    raise NodeEncodeError(f"{length} bytes are too many for one binary field")


def _string(value: str, depth: int) -> bytes:
    """The wire form of a non-token string."""
    if type(value) is not str:
        if isinstance(value, str):
            value = str.__str__(value)
        else:
            raise NodeEncodeError(f"expected a string, got {type(value).__name__}")
    token = _TOKENS.get(value)
    if token is not None:
        return token
    length = len(value)
    if length <= _PACKED_MAX and value.isascii():
        if not value.strip(_NIBBLE_CHARS):
            return _packed(NIBBLE_8, value.translate(_NIBBLE_TO_HEX), length)
        if not value.strip(_HEX_CHARS):
            return _packed(HEX_8, value, length)
    if "@" in value and depth < MAX_STRING_DEPTH:
        jid = _jid(value, depth)
        if jid is not None:
            return jid
    try:
        raw = value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NodeEncodeError(f"string is not valid Unicode at index {exc.start}") from None
    return _length_header(len(raw)) + raw


def _packed(kind: int, hex_text: str, length: int) -> bytes:
    if length & 1:
        return bytes((kind, ((length + 1) >> 1) | 0x80)) + bytes.fromhex(hex_text + "f")
    return bytes((kind, length >> 1)) + bytes.fromhex(hex_text)


def _jid(value: str, depth: int) -> bytes | None:
    """JID_PAIR or AD_JID bytes for ``value``, or None when the wire form would lose data."""
    user_part, _, server = value.partition("@")
    if "_" in user_part:
        return None  # the agent is not written by either form
    user, colon, device = user_part.partition(":")
    if colon:
        domain = DOMAIN_OF_SERVER.get(server)
        if (
            domain is None
            or not device.isdecimal()
            or not device.isascii()
            or len(device) > 3
            or (device[0] == "0" and len(device) > 1)
            or int(device) > 255
        ):
            return None
        user_bytes = _TOKENS.get(user) or _string(user, depth + 1)
        return bytes((AD_JID, domain, int(device))) + user_bytes
    if not server:
        return None
    user_bytes = (_TOKENS.get(user) or _string(user, depth + 1)) if user else b"\x00"
    return bytes((JID_PAIR,)) + user_bytes + (_TOKENS.get(server) or _string(server, depth + 1))
