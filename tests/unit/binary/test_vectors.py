"""wamd.binary against the vectors written by real Baileys and protocol.md's goldens."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from wamd.binary import Node, decode_node, encode_node


def node_from_json(obj: dict[str, Any], *, text_as_bytes: bool = False) -> Node:
    """A Node from the fixture JSON (bytes as BufferJSON)."""
    content = obj.get("content")
    if isinstance(content, dict):
        content = base64.b64decode(content["data"])
    elif isinstance(content, list):
        content = [node_from_json(child, text_as_bytes=text_as_bytes) for child in content]
    elif isinstance(content, str) and text_as_bytes:
        content = content.encode()
    return Node(obj["tag"], dict(obj["attrs"]), content)


def _vectors(shared_fixtures: Path) -> list[dict[str, Any]]:
    data = json.loads((shared_fixtures / "binary-node-vectors.json").read_text())
    vectors: list[dict[str, Any]] = data["vectors"]
    return vectors


def test_every_fixture_vector_encodes_byte_for_byte(shared_fixtures: Path) -> None:
    checked = 0
    for vector in _vectors(shared_fixtures):
        if "node" not in vector:
            continue  # the compressed frame is decode-only
        node = node_from_json(vector["node"])
        assert encode_node(node).hex() == vector["encoded_hex"], vector["name"]
        checked += 1
    assert checked >= 17


def test_every_fixture_vector_decodes_to_baileys_node(shared_fixtures: Path) -> None:
    vectors = _vectors(shared_fixtures)
    for vector in vectors:
        decoded = decode_node(bytes.fromhex(vector["encoded_hex"]))
        assert decoded == node_from_json(vector["decoded"]), vector["name"]
    assert any(v["encoded_hex"].startswith("02") for v in vectors)  # the zlib frame ran


def test_every_fixture_vector_round_trips(shared_fixtures: Path) -> None:
    for vector in _vectors(shared_fixtures):
        data = bytes.fromhex(vector["encoded_hex"])
        decoded = decode_node(data)
        if data[0] == 0:
            assert encode_node(decoded) == data, vector["name"]
        else:  # compressed: our re-encoding is the uncompressed form of the same node
            assert decode_node(encode_node(decoded)) == decoded


GOLDENS = [
    (
        "00f80a1908ff04123b45a611fa000304291657f801f80156",
        Node(
            "iq",
            {"id": "123.45-6", "to": "@s.whatsapp.net", "type": "get", "xmlns": "w:p"},
            [Node("ping")],
        ),
    ),
    ("00f803110cf7000cff8615551234567f", Node("to", {"jid": "15551234567:12@s.whatsapp.net"})),
    ("00f803110cfaff85987654321f76", Node("to", {"jid": "987654321@lid"})),
    ("00f803110cf70103ff85987654321f", Node("to", {"jid": "987654321:3@lid"})),
    ("00f8031311faff091203630000000000001c", Node("message", {"to": "120363000000000000@g.us"})),
    ("00f8061d51450453fc03010203", Node("enc", {"v": "2", "type": "pkmsg"}, b"\x01\x02\x03")),
    ("00f803fc017808fb053eb0abcdef", Node("x", {"id": "3EB0ABCDEF"})),
    ("00f803fc017808fc0b68656c6c6f20776f726c64", Node("x", {"id": "hello world"})),
    ("00f803fc017811fa0003", Node("x", {"to": "@s.whatsapp.net"})),
    ("00f8051908550429", Node("iq", {"id": "1", "type": "get"})),
]


@pytest.mark.parametrize(("hex_", "node"), GOLDENS, ids=[g[0][:24] for g in GOLDENS])
def test_protocol_golden_vectors(hex_: str, node: Node) -> None:
    assert encode_node(node).hex() == hex_
    assert decode_node(bytes.fromhex(hex_)) == node
