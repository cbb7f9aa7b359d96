"""The decoder's shortcuts give the same nodes as the general paths they stand in for."""

from __future__ import annotations

import pytest

from wamd.binary import Node, decode_node, encode_node
from wamd.binary.decode import VIEW_THRESHOLD

# A node <ack id=VALUE/>: flags, LIST_8 of 3, the tag token, the key token, then VALUE.
_ACK_ID = bytes([0, 0xF8, 3]) + encode_node(Node("ack"))[3:4] + bytes([0x08])


def _ack_id(value: bytes) -> str | None:
    return decode_node(_ACK_ID + value).attrs.get("id")


@pytest.mark.parametrize(
    ("packed", "text"),
    [
        (bytes([0xFF, 0x81, 0x1F]), "1"),  # odd length, F padding (what encoders write)
        (bytes([0xFF, 0x81, 0x15]), "1"),  # odd length, other padding: dropped as well
        (bytes([0xFF, 0x80]), ""),  # odd flag on nothing
        (bytes([0xFF, 0x82, 0x12, 0x3F]), "123"),
        (bytes([0xFF, 0x02, 0x12, 0x34]), "1234"),
        (bytes([0xFF, 0x02, 0xA1, 0xB2]), "-1.2"),
        (bytes([0xFF, 0x01, 0xF1]), "\x001"),  # the terminator code is kept mid-string
    ],
)
def test_nibble_strings(packed: bytes, text: str) -> None:
    assert _ack_id(packed) == text


def test_nibble_code_in_the_padding_half_is_still_refused() -> None:
    from wamd.errors import NodeDecodeError

    with pytest.raises(NodeDecodeError, match="invalid nibble code 13"):
        _ack_id(bytes([0xFF, 0x81, 0x1D]))


def test_jid_with_no_user_then_cached_jids() -> None:
    node = Node(
        "iq",
        {"from": "@s.whatsapp.net", "to": "123456789012@s.whatsapp.net"},
        [Node("a", {"jid": "@s.whatsapp.net"}), Node("b", {"jid": "123456789012@s.whatsapp.net"})],
    )
    data = encode_node(node)
    for _ in range(3):  # the second and third pass go through the JID cache
        assert decode_node(data) == node


def test_large_binary_content_is_a_read_only_view() -> None:
    small = bytes(range(256)) * (VIEW_THRESHOLD // 256 - 1)
    large = bytes(range(256)) * (VIEW_THRESHOLD // 256)
    huge = b"\x07" * (1 << 20)  # BINARY_32
    decoded = decode_node(
        encode_node(
            Node("x", {}, [Node("a", {}, small), Node("b", {}, large), Node("c", {}, huge)])
        )
    )
    a, b, c = decoded.children()
    assert type(a.content) is bytes and a.content == small
    assert isinstance(b.content, memoryview) and b.content == large and b.content.readonly
    assert isinstance(c.content, memoryview) and c.content == huge
    assert b.content_bytes() == large and type(b.content_bytes()) is bytes
    # A node holding a view encodes like one holding bytes.
    assert encode_node(decoded) == encode_node(
        Node("x", {}, [Node("a", {}, small), Node("b", {}, large), Node("c", {}, huge)])
    )


def test_decoded_nodes_are_nodes() -> None:
    node = decode_node(encode_node(Node("message", {"id": "1"}, [Node("enc", {"v": "2"}, b"x")])))
    assert isinstance(node, Node)
    assert repr(node).startswith("Node('message'")
    assert node == Node("message", {"id": "1"}, [Node("enc", {"v": "2"}, b"x")])
