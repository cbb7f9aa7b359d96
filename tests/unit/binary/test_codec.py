"""Encode/decode behaviour of wamd.binary: every tag, the string rules, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from tests.unit.binary.strategies import nodes, strings, wide_nodes
from wamd.binary import MAX_DEPTH, Node, decode_node, encode_node, encode_string
from wamd.errors import NodeEncodeError

_AD_SERVERS = ("s.whatsapp.net", "lid", "hosted", "hosted.lid")


def wire_text(text: str, depth: int = 0) -> str:
    """What ``text`` decodes back to: the wire drops a ``:0`` device, nothing else."""
    if "@" not in text or depth >= 16:
        return text
    user_part, _, server = text.partition("@")
    if "_" in user_part:
        return text
    user, colon, device = user_part.partition(":")
    if colon:
        if server in _AD_SERVERS and device == "0":
            return f"{user}@{server}"
        return text
    return f"{user}@{wire_text(server, depth + 1)}" if server else text


def expected_decode(node: Node) -> Node:
    """The node as decode gives it back: ``:0`` dropped, UTF-8 string content as bytes."""
    content = node.content
    if isinstance(content, list):
        content = [expected_decode(c) for c in content]
    elif isinstance(content, str):
        text = wire_text(content)
        content = text.encode() if encode_string(text)[0] in (252, 253, 254) else text
    attrs = {wire_text(k): wire_text(v) for k, v in node.attrs.items()}
    return Node(node.tag, attrs, content)


@settings(max_examples=120, deadline=None)
@given(nodes())
def test_any_node_round_trips(node: Node) -> None:
    assert decode_node(encode_node(node)) == expected_decode(node)


@settings(max_examples=8, deadline=None)
@given(wide_nodes())
def test_wide_nodes_round_trip(node: Node) -> None:
    data = encode_node(node)
    assert decode_node(data) == expected_decode(node)
    assert data[1] in (0xF8, 0xF9)


@settings(max_examples=300, deadline=None)
@given(strings)
def test_any_string_round_trips_as_an_attribute(text: str) -> None:
    node = decode_node(encode_node(Node("x", {"v": text})))
    assert node.attrs["v"] == expected_decode(Node("x", {"v": text})).attrs["v"]


@pytest.mark.parametrize(
    ("text", "wire"),
    [
        ("", "fc00"),
        ("iq", "19"),
        ("read-self", "ec00"),
        ("1961", "efff"),
        ("123", "ff82123f"),
        ("1.2-3", "ff831b2a3f"),
        ("ABC", "fb82abcf"),
        ("abc", "fc03616263"),
        ("9" * 127, "ffc0" + "99" * 63 + "9f"),
        ("9" * 128, "fc80" + "39" * 128),
        ("@s.whatsapp.net", "fa0003"),
        ("123@g.us", "faff82123f1c"),
        ("1@g.us", "fa551c"),
        ("a_1@s.whatsapp.net", "fc1261" + "5f31" + "40732e77686174736170702e6e6574"),
        ("a:256@s.whatsapp.net", "fc14" + b"a:256@s.whatsapp.net".hex()),
        ("u@", "fc02" + b"u@".hex()),
        ("987:0@lid", "f70100ff82987f"),
    ],
)
def test_string_wire_forms(text: str, wire: str) -> None:
    assert encode_string(text).hex() == wire


def test_binary_length_forms() -> None:
    for size, head in (
        (255, "fcff"),
        (256, "fd000100"),
        ((1 << 20) - 1, "fd0fffff"),
        (1 << 20, "fe00100000"),
    ):
        data = encode_node(Node("x", {}, b"\x07" * size))
        assert data[6 : 6 + len(head) // 2].hex() == head
        assert decode_node(data).content == b"\x07" * size


def test_large_binary_32_content_round_trips() -> None:
    blob = bytes(range(256)) * 6000  # 1.5 MiB
    node = Node("enc", {"v": "2", "type": "msg"}, blob)
    data = encode_node(node)
    assert data[8] == 0xFE
    assert decode_node(data) == node


def test_list_16_children_and_attrs() -> None:
    node = Node("list", {f"k{i}": str(i) for i in range(130)}, [Node("item")] * 300)
    data = encode_node(node)
    assert data[1] == 0xF9
    assert decode_node(data) == node


def test_content_forms_decode_to_documented_types() -> None:
    assert decode_node(encode_node(Node("x", {}, "text"))).content == "text"  # token
    assert decode_node(encode_node(Node("x", {}, "123"))).content == "123"  # packed
    assert decode_node(encode_node(Node("x", {}, "1@lid"))).content == "1@lid"  # jid
    assert decode_node(encode_node(Node("x", {}, "héllo"))).content == "héllo".encode()
    assert decode_node(encode_node(Node("x", {}, []))).content == []
    buffer_like = Node("x", {}, bytearray(b"ab"))  # type: ignore[arg-type]
    assert decode_node(encode_node(buffer_like)).content == b"ab"
    view = Node("x", {}, memoryview(b"cd"))
    assert decode_node(encode_node(view)).content == b"cd"


def test_fb_and_interop_jids_decode() -> None:
    # FB_JID: user "abc", device 2, server "msgr"; INTEROP_JID: user 5, device 1, integrator 7.
    fb = bytes.fromhex("00f80319") + b"\x08\xf6\xfc\x03abc\x00\x02" + bytes([0xFC, 4]) + b"msgr"
    assert decode_node(fb).attrs["id"] == "abc:2@msgr"
    interop = bytes.fromhex("00f8031908f5ff815f00010007") + bytes([0xFC, 7]) + b"interop"
    assert decode_node(interop).attrs["id"] == "7-5:1@interop"
    tail = bytes.fromhex("00f8031908f5ff815f00010007")
    assert decode_node(tail).attrs["id"] == "7-5:1@interop"


def test_ad_jid_domain_types_decode_to_servers() -> None:
    for domain, server in ((0, "s.whatsapp.net"), (1, "lid"), (128, "hosted"), (129, "hosted.lid")):
        data = bytes.fromhex("00f8031908f7") + bytes([domain, 7]) + bytes.fromhex("ff82987f")
        assert decode_node(data).attrs["id"] == f"987:7@{server}"
        assert encode_node(Node("iq", {"id": f"987:7@{server}"})) == data


def test_jid_cache_tells_servers_and_forms_apart() -> None:
    jids = [
        "123@s.whatsapp.net",
        "123@lid",
        "123@g.us",
        "123:1@lid",
        "123:1@s.whatsapp.net",
        "123:1@hosted",
        "123@broadcast",
        "1234@lid",
        "123:2@lid",
    ]
    for _ in range(2):
        for jid in jids:
            assert decode_node(encode_node(Node("to", {"jid": jid}))).attrs["jid"] == jid


def test_jid_cache_gives_fresh_correct_results() -> None:
    for _ in range(3):
        for i in range(50):
            jid = f"{1000 + i}:{i % 5 + 1}@lid"
            assert decode_node(encode_node(Node("to", {"jid": jid}))).attrs["jid"] == jid


@pytest.mark.parametrize(
    "node",
    [
        Node("", {}),
        Node("x", {"a": 1}),  # type: ignore[dict-item]
        Node("x", {}, 12),  # type: ignore[arg-type]
        Node("x", {}, ["not a node"]),  # type: ignore[list-item]
        Node("x", {"a": "\ud800"}),
    ],
    ids=["empty tag", "int attr", "int content", "str child", "lone surrogate"],
)
def test_unencodable_nodes_raise_node_encode_error(node: Node) -> None:
    with pytest.raises(NodeEncodeError):
        encode_node(node)


def test_encoder_bounds_nesting() -> None:
    node = Node("leaf")
    for _ in range(MAX_DEPTH + 1):
        node = Node("x", {}, [node])
    with pytest.raises(NodeEncodeError, match="deeper"):
        encode_node(node)
    cyclic = Node("x", {}, [])
    assert isinstance(cyclic.content, list)
    cyclic.content.append(cyclic)
    with pytest.raises(NodeEncodeError):
        encode_node(cyclic)


def test_max_depth_nodes_round_trip() -> None:
    node = Node("leaf")
    for _ in range(MAX_DEPTH):
        node = Node("x", {}, [node])
    assert decode_node(encode_node(node)) == node
