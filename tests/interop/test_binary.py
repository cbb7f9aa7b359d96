"""wamd.binary against Baileys' own codec (encodeBinaryNode / decodeBinaryNode).

Content mapping (interop.md §3): Baileys' decoder returns binary content (BINARY_8/20/32)
as bytes and token, packed and JID content as strings -- and so does wamd's. A ``str``
content that is not a token, packable or a JID goes on the wire as UTF-8 binary, so it
comes back as ``bytes`` on both sides (``expected_decode`` spells this out).

The encoders agree byte for byte wherever Baileys' own round trip is lossless. Where
Baileys loses data (JID-looking strings whose agent, device or server the wire form
cannot carry, such as ``a_1@s.whatsapp.net``; Object.prototype names such as
``constructor``, which Baileys' token map writes as byte 0), wamd writes plain UTF-8
instead and must round-trip exactly. Attributes are compared in JavaScript property order
(integer-like keys first, ascending), which is the order Baileys sees them in.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Oracle
from tests.unit.binary.strategies import JS_PROTOTYPE_NAMES, jids, nodes, strings, wide_nodes
from tests.unit.binary.test_codec import expected_decode
from wamd.binary import Node, decode_node, encode_node
from wamd.errors import NodeDecodeError

pytestmark = pytest.mark.interop

_SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _js_index(key: str) -> int | None:
    if key.isascii() and key.isdigit() and (key == "0" or key[0] != "0") and int(key) < 2**32 - 1:
        return int(key)
    return None


def js_order(node: Node) -> Node:
    """``node`` with attributes in JS property order, as Baileys receives them."""
    numeric = sorted((i, k) for k in node.attrs if (i := _js_index(k)) is not None)
    keys = [k for _, k in numeric] + [k for k in node.attrs if _js_index(k) is None]
    content = node.content
    if isinstance(content, list):
        content = [js_order(c) for c in content]
    return Node(node.tag, {k: node.attrs[k] for k in keys}, content)


def from_oracle(obj: dict[str, Any]) -> Node:
    """A Node from the oracle's decoded JSON (bytes already revived)."""
    content = obj.get("content")
    if isinstance(content, list):
        content = [from_oracle(c) for c in content]
    return Node(obj["tag"], dict(obj.get("attrs") or {}), content)


def to_oracle(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"tag": node.tag, "attrs": node.attrs}
    content = node.content
    if isinstance(content, list):
        out["content"] = [to_oracle(c) for c in content]
    elif content is not None:
        out["content"] = content
    return out


def _baileys_may_lose(node: Node) -> bool:
    """Whether ``node`` holds a string of a kind Baileys does not round-trip."""
    texts = [node.tag, *node.attrs.keys(), *node.attrs.values()]
    if isinstance(node.content, str):
        texts.append(node.content)
    if any("@" in t or t in JS_PROTOTYPE_NAMES for t in texts):
        return True
    return isinstance(node.content, list) and any(map(_baileys_may_lose, node.content))


def check_against_baileys(oracle: Oracle, batch: list[Node]) -> tuple[int, int]:
    """Compare encode and decode with Baileys for every node; return (same, lossy) counts."""
    results = oracle.call("binary_roundtrip_batch", nodes=[to_oracle(n) for n in batch])
    same = lossy = 0
    for node, result in zip(map(js_order, batch), results, strict=True):
        ours = encode_node(node)
        theirs: bytes = result["data"]
        wanted = expected_decode(node)
        baileys_ok = result["error"] is None and from_oracle(result["decoded"]) == wanted
        if baileys_ok:
            assert ours == theirs, f"encoding differs for {node!r}"
            same += 1
        else:
            assert _baileys_may_lose(node), f"Baileys failed on a plain node {node!r}"
            lossy += 1
        # Our decoder reads Baileys' bytes exactly as Baileys does (or refuses when it does).
        if result["error"] is None:
            assert decode_node(theirs) == from_oracle(result["decoded"])
        else:
            with pytest.raises(NodeDecodeError):
                decode_node(theirs)
        # And wamd's own bytes always come back as the node that was meant.
        assert decode_node(ours) == wanted
    return same, lossy


@settings(_SETTINGS, max_examples=90)
@given(st.lists(nodes(), min_size=1, max_size=20))
def test_random_nodes_match_baileys(oracle: Oracle, batch: list[Node]) -> None:
    same, lossy = check_against_baileys(oracle, batch)
    assert same + lossy == len(batch)


@settings(_SETTINGS, max_examples=60)
@given(st.lists(st.tuples(strings, strings), min_size=20, max_size=60))
def test_random_attribute_strings_match_baileys(
    oracle: Oracle, pairs: list[tuple[str, str]]
) -> None:
    batch = [Node("x", {k: v}, v) for k, v in pairs]
    same, lossy = check_against_baileys(oracle, batch)
    assert same + lossy == len(batch)


@settings(_SETTINGS, max_examples=40)
@given(st.lists(jids(), min_size=20, max_size=40))
def test_every_jid_kind_matches_baileys(oracle: Oracle, batch: list[str]) -> None:
    check_against_baileys(oracle, [Node("message", {"to": j, "participant": j}) for j in batch])


@settings(_SETTINGS, max_examples=6)
@given(wide_nodes())
def test_wide_nodes_match_baileys(oracle: Oracle, node: Node) -> None:
    check_against_baileys(oracle, [node])


def test_most_generated_nodes_are_byte_identical(oracle: Oracle) -> None:
    """Guard against a generator that only produces Baileys-lossy cases."""
    rng = random.Random(7)
    batch = [
        Node(
            "message",
            {
                "id": f"3EB0{rng.getrandbits(64):016X}",
                "to": f"{rng.randrange(10**11)}@s.whatsapp.net",
                "t": str(rng.randrange(10**10)),
            },
            [Node("enc", {"v": "2", "type": "msg"}, rng.randbytes(rng.randrange(1, 400)))],
        )
        for _ in range(200)
    ]
    same, lossy = check_against_baileys(oracle, batch)
    assert same == 200 and lossy == 0


@pytest.mark.parametrize("size", [(1 << 20), (1 << 20) + 12345, 3 * (1 << 20) // 2])
def test_binary_32_contents_match_baileys(oracle: Oracle, size: int) -> None:
    blob = random.Random(size).randbytes(size)
    node = Node("enc", {"v": "2", "type": "msg"}, blob)
    theirs = oracle.call("binary_encode", node=to_oracle(node))
    assert encode_node(node) == theirs
    assert decode_node(theirs) == node
    back = oracle.call("binary_decode", data=encode_node(node))
    assert from_oracle(back) == node


def test_fb_and_interop_jids_decode_like_baileys(oracle: Oracle) -> None:
    frames = [
        bytes.fromhex("00f8031908f6fc03616263000203"),  # FB_JID abc:2@s.whatsapp.net
        bytes.fromhex("00f8031908f6ff815f002afc046d736772"),  # FB_JID 5:42@msgr
        bytes.fromhex("00f8031908f5ff815f00010007fc07696e7465726f70"),  # INTEROP_JID
        bytes.fromhex("00f8031908f5ff815f00010007"),  # INTEROP_JID, default server
        bytes.fromhex("00f8041908f5ff815f00010007f801f80119"),  # no server, then children
    ]
    for data in frames:
        ours = decode_node(data)
        theirs = from_oracle(oracle.call("binary_decode", data=data))
        assert ours == theirs, data.hex()


# Where wamd is stricter than Baileys on purpose (decode_node's documented checks).
_STRICTER = ("left over", "nested", "after the zlib", "truncated zlib")


def test_decoder_agrees_with_baileys_on_mutated_input(oracle: Oracle) -> None:
    rng = random.Random(99)
    seeds = [
        encode_node(n)
        for n in (
            Node("iq", {"id": "123.45-6", "to": "@s.whatsapp.net", "type": "get"}, [Node("ping")]),
            Node(
                "message",
                {"to": "1555:3@s.whatsapp.net", "id": "3EB0AB"},
                [Node("enc", {"v": "2"}, b"xyz")],
            ),
            Node(
                "receipt",
                {"from": "12@lid", "t": "1700000000"},
                [Node("list", {}, [Node("item", {"id": "A1"})] * 3)],
            ),
            Node("x", {"name": "Zoë 🌻", "k": "read-self"}, "hello"),
            Node("presence", {"name": "Jürgen 王芳 😀", "from": "1@lid"}),
        )
    ]
    datas = []
    for _ in range(1500):
        buf = bytearray(rng.choice(seeds))
        for _ in range(rng.randrange(1, 3)):
            pos = rng.randrange(1, len(buf))
            if rng.random() < 0.7:
                buf[pos] = rng.randrange(256)
            else:
                del buf[pos:]
                if len(buf) < 2:
                    buf.append(rng.randrange(256))
        datas.append(bytes(buf))
    results = oracle.call("binary_decode_batch", datas=datas)
    agree = 0
    for data, result in zip(datas, results, strict=True):
        try:
            ours = decode_node(data)
        except NodeDecodeError as exc:
            if result["error"] is None:
                assert any(s in str(exc) for s in _STRICTER), (data.hex(), str(exc))
            else:
                agree += 1
            continue
        assert result["error"] is None, (data.hex(), result["error"])
        assert ours == from_oracle(result["node"]), data.hex()
        agree += 1
    assert agree > 1000
