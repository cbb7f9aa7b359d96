"""Malformed WABinary input raises NodeDecodeError naming what is wrong, and nothing else."""

from __future__ import annotations

import random
import zlib

import pytest

from wamd.binary import Node, decode_node, encode_node
from wamd.errors import NodeDecodeError, WamdError

# A valid node: <iq id="123.45-6" to="@s.whatsapp.net" type="get" xmlns="w:p"><ping/></iq>
VALID = bytes.fromhex("00f80a1908ff04123b45a611fa000304291657f801f80156")

BAD = [
    ("empty input", b"", "empty input"),
    ("flags only", b"\x00", "no node"),
    ("truncated list", VALID[:-3], "truncated"),
    ("truncated header", bytes.fromhex("00f8"), "truncated"),
    ("list size 0 (LIST_8 0)", bytes.fromhex("00f80019"), "list size 0"),
    ("list size 0 (LIST_EMPTY)", bytes.fromhex("0000"), "list size 0"),
    ("not a list tag", bytes.fromhex("0019"), "not a list tag"),
    ("empty tag (LIST_EMPTY)", bytes.fromhex("00f80100"), "empty tag"),
    ("empty tag (BINARY_8 0)", bytes.fromhex("00f801fc00"), "empty tag"),
    ("bad tag byte 240", bytes.fromhex("00f801f0"), "invalid string tag 240"),
    ("bad tag byte 244", bytes.fromhex("00f8031908f4"), "invalid string tag 244"),
    ("list tag as a string", bytes.fromhex("00f80319f80108"), "invalid string tag 248"),
    ("nibble code 12", bytes.fromhex("00f8031908ff01c0"), "invalid nibble code 12"),
    ("nibble code 13", bytes.fromhex("00f8031908ff01d1"), "invalid nibble code 13"),
    ("nibble code 14 (dropped half)", bytes.fromhex("00f8031908ff811e"), "invalid nibble code 14"),
    ("nibble code 14 in a JID user", bytes.fromhex("00f8031908faff01e003"), "invalid nibble"),
    ("JID pair with empty server", bytes.fromhex("00f8031908fa0300"), "empty server"),
    ("JID pair with empty-string server", bytes.fromhex("00f8031908fa03fc00"), "empty server"),
    ("over-long BINARY_8 content", bytes.fromhex("00f80219fc05414243"), "runs past the end"),
    ("over-long BINARY_20 content", bytes.fromhex("00f80219fd0fffff41"), "runs past the end"),
    ("over-long BINARY_32 content", bytes.fromhex("00f80219feffffffff41"), "runs past the end"),
    ("over-long string", bytes.fromhex("00f8031908fc0a4142"), "runs past the end"),
    ("over-long packed string", bytes.fromhex("00f8031908ff7f12"), "runs past the end"),
    ("bytes left over", VALID + b"\x00", "left over"),
    ("bad zlib", b"\x02not zlib at all", "bad zlib"),
    ("truncated zlib", b"\x02" + zlib.compress(VALID[1:])[:-6], "truncated zlib"),
    ("bytes after zlib stream", b"\x02" + zlib.compress(VALID[1:]) + b"xx", "after the zlib"),
    (
        "children nested too deep",
        b"\x00" + b"\xf8\x02\x19\xf8\x01" * 70 + b"\xf8\x01\x19",
        "deeper",
    ),
    ("JID parts nested too deep", bytes.fromhex("00f8031908") + b"\xfa\x03" * 40, "too deep"),
]


@pytest.mark.parametrize(("name", "data", "message"), BAD, ids=[b[0] for b in BAD])
def test_malformed_input_raises_node_decode_error(name: str, data: bytes, message: str) -> None:
    with pytest.raises(NodeDecodeError, match=message):
        decode_node(data)


def test_invalid_utf8_string_decodes_with_replacement_like_baileys() -> None:
    node = decode_node(bytes.fromhex("00f8031908fc03c32841"))
    assert node.attrs["id"] == "\ufffd(A"


def test_error_names_the_offset() -> None:
    with pytest.raises(NodeDecodeError, match="offset 5"):
        decode_node(bytes.fromhex("00f8031908f4"))


def test_inflation_bomb_is_refused_before_inflating_it_all() -> None:
    bomb = b"\x02" + zlib.compress(b"\x00" * (64 * 1024 * 1024 + 1), 9)
    assert len(bomb) < 100_000
    with pytest.raises(NodeDecodeError, match="inflates beyond"):
        decode_node(bomb)
    with pytest.raises(NodeDecodeError, match="inflates beyond 1000"):
        decode_node(b"\x02" + zlib.compress(b"\xf8\x02\x19\xfd\x00\x10\x00" + b"a" * 4096), 1000)


def test_compressed_node_decodes_within_the_bound() -> None:
    node = Node("iq", {"id": "1"}, b"a" * 5000)
    frame = b"\x02" + zlib.compress(encode_node(node)[1:])
    assert decode_node(frame, max_inflated=5100) == node


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(5)
        if op == 0 and buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op == 1 and buf:
            del buf[rng.randrange(len(buf)) :]
        elif op == 2:
            buf.insert(
                rng.randrange(len(buf) + 1),
                rng.choice([0, 236, 240, 245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255]),
            )
        elif op == 3 and len(buf) > 2:
            start = rng.randrange(1, len(buf))
            del buf[start : start + rng.randrange(1, 8)]
        else:
            pos = rng.randrange(1, len(buf) + 1) if len(buf) > 1 else 1
            buf[pos:pos] = rng.randbytes(rng.randrange(1, 6))
    return bytes(buf)


def test_fuzz_decoder_raises_only_wamd_errors() -> None:
    """20k random and mutated inputs: every failure is a WamdError (bounded CI run)."""
    rng = random.Random(1234)
    seeds = [
        VALID,
        encode_node(
            Node(
                "message",
                {"to": "1555:3@s.whatsapp.net", "id": "3EB0AB"},
                [Node("enc", {"v": "2"}, b"x" * 300)],
            )
        ),
        encode_node(Node("list", {}, [Node("item", {"jid": f"{i}@lid"}) for i in range(300)])),
        bytes.fromhex("00f8061908f5ff0312345f0001000203f8"),
        b"\x02" + zlib.compress(VALID[1:]),
    ]
    decoded = failed = 0
    for i in range(20_000):
        if i % 4 == 0:
            data = b"\x00" + rng.randbytes(rng.randrange(0, 40))
        else:
            data = _mutate(rng, rng.choice(seeds))
        try:
            decode_node(data)
            decoded += 1
        except WamdError:
            failed += 1
    assert decoded + failed == 20_000
    assert failed > 1000 and decoded > 100  # both outcomes were exercised
