"""Decode WABinary bytes to a :class:`~wamd.binary.node.Node`.

Built for speed in pure Python: one loop inside :func:`decode_node` walks the whole tree
(no recursion, no inner call per node) with the common cases inline -- token strings
through a 256-entry table, packed strings through ``bytes.hex`` (digits-only NIBBLE_8
and all HEX_8; other nibble strings through ``binascii.hexlify`` and a
``bytes.translate`` table), binary content as one slice (a ``memoryview`` of the input
from :data:`VIEW_THRESHOLD` bytes up, as a copy costs more than a view), values and contents read at
fixed offsets from the byte before them -- and decoded JIDs are cached by their wire
bytes, since the same few addresses recur in every stanza. Every malformed shape
raises :class:`~wamd.errors.NodeDecodeError` with the offset where it was found (offsets
count from the start of the node: after the flags byte, and after inflation).
"""

from __future__ import annotations

import zlib
from binascii import hexlify
from typing import NoReturn

from wamd.binary._tokens import DOUBLE_BYTE_TOKENS, SINGLE_BYTE_TOKENS
from wamd.binary._wire import (
    AD_JID,
    BINARY_8,
    BINARY_20,
    BINARY_32,
    DICTIONARY_0,
    DICTIONARY_3,
    FB_JID,
    HEX_8,
    INTEROP_JID,
    JID_PAIR,
    LIST_EMPTY,
    MAX_STRING_DEPTH,
    NIBBLE_8,
    SERVER_OF_DOMAIN,
)
from wamd.binary.encode import MAX_DEPTH
from wamd.binary.node import Node
from wamd.errors import NodeDecodeError

__all__ = ["DEFAULT_MAX_INFLATED", "VIEW_THRESHOLD", "decode_node"]

#: Largest inflated size accepted for a compressed node (a frame is at most 16 MiB).
DEFAULT_MAX_INFLATED = 64 * 1024 * 1024

# LIST_8 size -> something to iterate once per attribute pair (a loop over a tuple costs
# less than counting down).
_PAIRS: tuple[tuple[None, ...], ...] = tuple((None,) * ((size - 1) >> 1) for size in range(256))
# Byte -> token string for single-byte tokens 1..235, None for every other tag byte.
_SINGLE: tuple[str | None, ...] = tuple(
    SINGLE_BYTE_TOKENS[b] if 1 <= b < len(SINGLE_BYTE_TOKENS) else None for b in range(256)
)
# (dictionary << 8 | index) -> token.
_DOUBLE: tuple[str, ...] = tuple(token for tokens in DOUBLE_BYTE_TOKENS for token in tokens)
# Lowercase hex digit -> nibble-packing character, applied to ``hexlify`` output (a C table
# lookup, where str.translate is not). The invalid codes 12..14 become 0xFF, so the ASCII
# decode that follows fails on them at no cost to valid input.
_NIBBLE_FROM_HEX = bytes.maketrans(b"abcdef", b"-.\xff\xff\xff\x00")
# Decoded JIDs by their wire bytes (see decode_node); cleared when it reaches the bound.
_JID_CACHE: dict[bytes, str] = {}
_JID_CACHE_GET = _JID_CACHE.get
_JID_CACHE_SIZE = 4096


class _WireNode(Node):
    """A :class:`Node` as the decoder builds it: created bare, its slots set one by one.

    Only construction differs (no ``__init__`` arguments: creating one and setting its
    three slots takes about 70 ns instead of 90); it is a ``Node`` in every other respect.
    """

    __slots__ = ()
    __init__ = object.__init__


#: Binary contents of at least this many bytes are returned as read-only ``memoryview``
#: slices of the input instead of copies (below it a copy is cheaper than a view).
VIEW_THRESHOLD = 16 * 1024
# The same bound counted from a BINARY_20 tag byte (tag and 3 length bytes come first).
_VIEW_FROM_TAG = VIEW_THRESHOLD + 4


def decode_node(
    data: bytes | bytearray | memoryview, max_inflated: int = DEFAULT_MAX_INFLATED
) -> Node:
    """Parse one serialized node, starting with its flags byte.

    If ``flags & 2`` the rest is zlib-inflated first, refusing more than
    ``max_inflated`` bytes. Raises :class:`~wamd.errors.NodeDecodeError` for any
    malformed, truncated or over-long input, or bytes left over after the node.
    """
    # The tree walk is inline (a call and a tuple per stanza count here). One loop, no
    # recursion: ``stack`` holds the parents' unfinished child lists. Tag bytes are
    # literals (named in comments) because this is the hot loop.
    if type(data) is not bytes:
        data = bytes(data)
    try:
        pos = 1
        if data[0] & 2:
            data = _inflate(data, max_inflated)
            pos = 0
        size_all = len(data)
        if pos >= size_all:
            raise NodeDecodeError(f"no node after the flags byte (offset {pos})")
        single = _SINGLE
        pairs = _PAIRS
        jid_get = _JID_CACHE_GET
        wire_node = _WireNode
        stack: list[tuple[list[Node], int]] = []
        top: list[Node] = []
        kids = top  # the child list being filled
        left = 1  # children still to read into ``kids``
        while True:
            if data[pos] == 248:  # LIST_8, the usual node start; the tag is nearly always a token
                size = data[pos + 1]
                tag = single[data[pos + 2]]
                pos += 3
                if not size or tag is None:
                    tag, pos = _read_tag(data, pos - 1, size)
                attr_slots = pairs[size]
            else:
                size, tag, pos = _read_head(data, pos)
                attr_slots = (None,) * ((size - 1) >> 1)
            attrs: dict[str, str] = {}
            for _ in attr_slots:
                # ``pos`` stays on the key byte: the value's tag byte is at ``pos + 1``.
                key = single[data[pos]]
                if key is None:
                    b = data[pos]
                    if 236 <= b <= 239:  # DICTIONARY_0..3
                        key = _DOUBLE[((b - 236) << 8) | data[pos + 1]]
                        pos += 1
                    else:
                        key, pos = _read_string(data, pos + 1, b, 0)
                        pos -= 1
                b = data[pos + 1]
                text = single[b]
                if text is None:
                    # JIDs repeat a lot: the common shapes (numeric user packed as NIBBLE_8,
                    # token server) are cached by their wire bytes.
                    if b == 250:  # JID_PAIR: user, then one server token byte
                        # Cached spans all start fa ff, so a non-nibble user never hits (and
                        # data[pos + 3] exists in any valid JID_PAIR).
                        end = pos + 5 + (data[pos + 3] & 0x7F)
                        span = data[pos + 1 : end]
                        text = jid_get(span)
                        if text is None:
                            text, pos = _read_jid(data, pos + 2, b, end, span)
                        else:
                            pos = end
                    elif b == 255:  # NIBBLE_8
                        head = data[pos + 2]
                        end = pos + 3 + (head & 0x7F)
                        if end > size_all:
                            raise NodeDecodeError(
                                f"packed string at offset {pos + 1} runs past the end"
                            )
                        text = data[pos + 3 : end].hex()
                        if head & 0x80:  # odd length: usually an F nibble of padding
                            text = text[:-1] if text[-1:] == "f" else "x"
                        # Digits only is the common case; anything else ('-', '.', the
                        # terminator code, other padding, bad codes) takes the table.
                        if not text.isdecimal():
                            text = _unpack_nibbles(data, pos + 3, end, head)
                        pos = end
                    elif b == 247:  # AD_JID: domain type, device, user
                        if data[pos + 4] == 255:
                            end = pos + 6 + (data[pos + 5] & 0x7F)
                            span = data[pos + 1 : end]
                            text = jid_get(span)
                            if text is None:
                                text, pos = _read_jid(data, pos + 2, b, end, span)
                            else:
                                pos = end
                        else:
                            text, pos = _read_string(data, pos + 2, b, 0)
                    elif 236 <= b <= 239:  # DICTIONARY_0..3
                        text = _DOUBLE[((b - 236) << 8) | data[pos + 2]]
                        pos += 3
                    elif b == 251:  # HEX_8
                        head = data[pos + 2]
                        end = pos + 3 + (head & 0x7F)
                        if end > size_all:
                            raise NodeDecodeError(
                                f"packed string at offset {pos + 1} runs past the end"
                            )
                        text = data[pos + 3 : end].hex().upper()
                        if head & 0x80:
                            text = text[:-1]
                        pos = end
                    else:
                        text, pos = _read_string(data, pos + 2, b, 0)
                else:
                    pos += 2
                attrs[key] = text

            node = wire_node()
            node.tag = tag
            node.attrs = attrs
            kids.append(node)
            left -= 1
            if size & 1:
                node.content = None
            else:
                # ``pos`` stays on the content's tag byte until the content is read.
                b = data[pos]
                if b == 248:  # LIST_8: descend into the children
                    count = data[pos + 1]
                    pos += 2
                    children: list[Node] = []
                    node.content = children
                    if count:
                        if len(stack) >= MAX_DEPTH:
                            raise NodeDecodeError(
                                f"nodes nested deeper than {MAX_DEPTH} at offset {pos}"
                            )
                        stack.append((kids, left))
                        kids = children
                        left = count
                        continue
                elif b == 252:  # BINARY_8
                    end = pos + 2 + data[pos + 1]
                    if end > size_all:
                        raise NodeDecodeError(f"BINARY_8 content at offset {pos} runs past the end")
                    node.content = data[pos + 2 : end]
                    pos = end
                elif b == 253:  # BINARY_20
                    end = (
                        pos
                        + 4
                        + (((data[pos + 1] & 0x0F) << 16) | (data[pos + 2] << 8) | data[pos + 3])
                    )
                    if end > size_all:
                        raise NodeDecodeError(
                            f"BINARY_20 content at offset {pos} runs past the end"
                        )
                    if end - pos < _VIEW_FROM_TAG:
                        node.content = data[pos + 4 : end]
                    else:  # large: a view of the input, not a copy
                        node.content = memoryview(data)[pos + 4 : end]
                    pos = end
                elif b == 249:  # LIST_16
                    count = (data[pos + 1] << 8) | data[pos + 2]
                    pos += 3
                    children = []
                    node.content = children
                    if count:
                        if len(stack) >= MAX_DEPTH:
                            raise NodeDecodeError(
                                f"nodes nested deeper than {MAX_DEPTH} at offset {pos}"
                            )
                        stack.append((kids, left))
                        kids = children
                        left = count
                        continue
                elif b == 254:  # BINARY_32
                    node.content, pos = _read_long_binary(data, pos + 1, b)
                elif b == 0:  # LIST_EMPTY: an empty child list
                    node.content = []
                    pos += 1
                else:
                    text = single[b]
                    if text is None:
                        text, pos = _read_string(data, pos + 1, b, 0)
                    else:
                        pos += 1
                    node.content = text

            while not left:
                if stack:
                    kids, left = stack.pop()
                    continue
                if pos != size_all:
                    raise NodeDecodeError(
                        f"{size_all - pos} bytes left over after the node at offset {pos}"
                    )
                return top[0]
    except IndexError:
        if not data:
            raise NodeDecodeError("empty input: no flags byte") from None
        raise NodeDecodeError(f"truncated node: input ends at offset {len(data)}") from None


def _inflate(data: bytes, max_inflated: int) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(memoryview(data)[1:], max(1, max_inflated))
    except zlib.error as exc:
        raise NodeDecodeError(f"bad zlib data after flags byte: {exc}") from None
    if not inflater.eof:
        if inflater.unconsumed_tail or len(out) >= max_inflated:
            raise NodeDecodeError(f"compressed node inflates beyond {max_inflated} bytes")
        raise NodeDecodeError("truncated zlib stream after flags byte")
    if inflater.unused_data:
        raise NodeDecodeError(f"{len(inflater.unused_data)} bytes after the zlib stream")
    return out


def _read_head(data: bytes, pos: int) -> tuple[int, str, int]:
    """The list size and tag of a node that does not start with LIST_8, and the offset after."""
    b = data[pos]
    if b == 249:  # LIST_16
        size = (data[pos + 1] << 8) | data[pos + 2]
        tag, pos = _read_tag(data, pos + 3, size)
        return size, tag, pos
    if b == 0:
        raise NodeDecodeError(f"node with list size 0 (LIST_EMPTY) at offset {pos}")
    raise NodeDecodeError(f"byte {b} at offset {pos} is not a list tag (node start)")


def _read_tag(data: bytes, pos: int, size: int) -> tuple[str, int]:
    """Check the list size and read the tag string at ``pos``."""
    if not size:
        raise NodeDecodeError(f"node with list size 0 at offset {pos - 2}")
    tag, end = _read_string(data, pos + 1, data[pos], 0)
    if not tag:
        raise NodeDecodeError(f"empty tag at offset {pos}")
    return tag, end


def _read_long_binary(data: bytes, pos: int, b: int) -> tuple[bytes | memoryview, int]:
    """BINARY_20 or BINARY_32 content whose length starts at ``pos`` (a view if large)."""
    if b == 253:
        length = ((data[pos] & 0x0F) << 16) | (data[pos + 1] << 8) | data[pos + 2]
        pos += 3
    else:
        if pos + 4 > len(data):
            raise IndexError
        length = int.from_bytes(data[pos : pos + 4], "big")
        pos += 4
    end = pos + length
    if end > len(data):
        raise NodeDecodeError(
            f"binary content of {length} bytes at offset {pos} runs past the end"
            f" ({len(data)} bytes)"
        )
    if length < VIEW_THRESHOLD:
        return data[pos:end], end
    return memoryview(data)[pos:end], end


def _read_jid(data: bytes, pos: int, b: int, end: int, span: bytes) -> tuple[str, int]:
    """Decode a JID missing from the cache; cache it if it had the expected shape."""
    if b == 250 and not data[pos]:  # no user: a bare server such as "@s.whatsapp.net"
        server = _SINGLE[data[pos + 1]]
        if server is not None:
            return "@" + server, pos + 2
    nibble_user = data[pos if b == 250 else pos + 2] == 255
    text, pos = _read_string(data, pos, b, 0)
    if pos == end and nibble_user:  # the span is exactly this JID's bytes
        if len(_JID_CACHE) >= _JID_CACHE_SIZE:
            _JID_CACHE.clear()
        _JID_CACHE[span] = text
    return text, pos


def _unpack_nibbles(data: bytes, start: int, end: int, head: int) -> str:
    """The NIBBLE_8 text in ``data[start:end]`` (``head`` is its length byte)."""
    try:
        text = hexlify(data[start:end]).translate(_NIBBLE_FROM_HEX).decode("ascii")
    except UnicodeDecodeError:
        _bad_nibble(data, start, end)
    return text[:-1] if head & 0x80 else text


def _bad_nibble(data: bytes, start: int, end: int) -> NoReturn:
    for offset in range(start, end):
        for code in (data[offset] >> 4, data[offset] & 0x0F):
            if 12 <= code <= 14:
                raise NodeDecodeError(
                    f"invalid nibble code {code} in packed string at offset {offset}"
                )
    raise AssertionError("unreachable: no invalid nibble found")


def _read_string(data: bytes, pos: int, b: int, depth: int) -> tuple[str, int]:
    """Read a string whose tag byte ``b`` was at ``pos - 1``; return it and the new offset."""
    if 1 <= b < len(SINGLE_BYTE_TOKENS):
        return SINGLE_BYTE_TOKENS[b], pos
    if b == JID_PAIR:
        if depth >= MAX_STRING_DEPTH:
            raise NodeDecodeError(f"JID parts nested too deep at offset {pos - 1}")
        t = data[pos]
        user, pos = _read_string(data, pos + 1, t, depth + 1) if t else ("", pos + 1)
        t = data[pos]
        server, pos = _read_string(data, pos + 1, t, depth + 1)
        if not server:
            raise NodeDecodeError(f"JID pair with an empty server at offset {pos - 1}")
        return f"{user}@{server}", pos
    if b in (NIBBLE_8, HEX_8):
        head = data[pos]
        pos += 1
        end = pos + (head & 0x7F)
        if end > len(data):
            raise NodeDecodeError(f"packed string at offset {pos - 2} runs past the end")
        if b == HEX_8:
            text = data[pos:end].hex().upper()
        else:
            try:
                text = hexlify(data[pos:end]).translate(_NIBBLE_FROM_HEX).decode("ascii")
            except UnicodeDecodeError:
                _bad_nibble(data, pos, end)
        if head & 0x80:
            text = text[:-1]
        return text, end
    if b in (BINARY_8, BINARY_20, BINARY_32):
        start = pos - 1
        if b == BINARY_8:
            length = data[pos]
            pos += 1
        elif b == BINARY_20:
            length = ((data[pos] & 0x0F) << 16) | (data[pos + 1] << 8) | data[pos + 2]
            pos += 3
        else:
            if pos + 4 > len(data):
                raise IndexError
            length = int.from_bytes(data[pos : pos + 4], "big")
            pos += 4
        end = pos + length
        if end > len(data):
            raise NodeDecodeError(
                f"string of {length} bytes at offset {start} runs past the end ({len(data)} bytes)"
            )
        # Invalid UTF-8 becomes U+FFFD, as in Baileys: one odd byte in a push name must
        # not cost the whole stanza.
        return data[pos:end].decode("utf-8", "replace"), end
    if b == AD_JID:
        if depth >= MAX_STRING_DEPTH:
            raise NodeDecodeError(f"JID parts nested too deep at offset {pos - 1}")
        domain = data[pos]
        device = data[pos + 1]
        user, pos = _read_string(data, pos + 3, data[pos + 2], depth + 1)
        server = SERVER_OF_DOMAIN.get(domain, "s.whatsapp.net")
        if device:
            return f"{user}:{device}@{server}", pos
        return f"{user}@{server}", pos
    if DICTIONARY_0 <= b <= DICTIONARY_3:
        return _DOUBLE[((b - DICTIONARY_0) << 8) | data[pos]], pos + 1
    if b == LIST_EMPTY:
        return "", pos
    if b in (FB_JID, INTEROP_JID):
        if depth >= MAX_STRING_DEPTH:
            raise NodeDecodeError(f"JID parts nested too deep at offset {pos - 1}")
        user, pos = _read_string(data, pos + 1, data[pos], depth + 1)
        device = (data[pos] << 8) | data[pos + 1]
        pos += 2
        if b == FB_JID:
            server, pos = _read_string(data, pos + 1, data[pos], depth + 1)
            return f"{user}:{device}@{server}", pos
        integrator = (data[pos] << 8) | data[pos + 1]
        pos += 2
        # The server is optional: Baileys falls back to "interop" when no string follows
        # (end of input, or a list or invalid tag byte next).
        server = "interop"
        if pos < len(data) and not 240 <= data[pos] <= 244 and data[pos] not in (248, 249):
            server, pos = _read_string(data, pos + 1, data[pos], depth + 1)
        return f"{integrator}-{user}:{device}@{server}", pos
    raise NodeDecodeError(f"invalid string tag {b} at offset {pos - 1}")
