"""The session Baileys wrote (shared fixtures) loads, continues, and goes back to Baileys."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Oracle
from tests.interop.test_signal_pairwise import NodeParty
from wamd.crypto import KeyPair
from wamd.signal.session_cipher import decrypt_message, encrypt
from wamd.signal.session_record import SessionRecord

pytestmark = pytest.mark.interop

SIDES = {
    "A": {"jid": "1111111111:0@s.whatsapp.net", "addr": "1111111111.0"},
    "B": {"jid": "2222222222:3@s.whatsapp.net", "addr": "2222222222.3"},
}


def _folder(shared: Path, side: str) -> Path:
    return shared / "baileys-auth-sample" / "two-party-session" / side


def _bytes(value: dict[str, str]) -> bytes:
    assert value["type"] == "Buffer"
    return base64.b64decode(value["data"])


class PySide:
    """One side of the fixture conversation, run by wamd from the Baileys files."""

    def __init__(self, shared: Path, side: str, peer: str) -> None:
        folder = _folder(shared, side)
        creds = json.loads((folder / "creds.json").read_text())
        key = creds["signedIdentityKey"]
        self.identity = KeyPair(_bytes(key["private"]), _bytes(key["public"]))
        self.registration_id: int = creds["registrationId"]
        text = (folder / f"session-{SIDES[peer]['addr']}.json").read_text()
        self.original_json = text
        self.record = SessionRecord.from_libsignal_json(json.loads(text))
        self.clock = 1_800_000_000_000

    def encrypt(self, data: bytes) -> tuple[str, bytes]:
        out = encrypt(self.record, self.identity, self.registration_id, data)
        self.record = SessionRecord.deserialize(self.record.serialize())
        return out.type, out.body

    def decrypt(self, kind: str, body: bytes) -> bytes:
        assert kind == "msg"
        self.clock += 1
        return decrypt_message(self.record, self.identity, body, now_ms=self.clock)

    def json_text(self) -> str:
        return json.dumps(self.record.to_libsignal_json(), separators=(",", ":"))


def _node_side(oracle: Oracle, shared: Path, side: str, peer: str) -> NodeParty:
    folder = _folder(shared, side)
    party = NodeParty.new(oracle, (folder / "creds.json").read_text())
    extra: dict[str, Any] = {}
    for f in folder.glob("*.json"):
        for category in ("identity-key", "pre-key"):
            if f.name.startswith(category + "-"):
                extra.setdefault(category, {})[f.stem[len(category) + 1 :]] = json.loads(
                    f.read_text()
                )
    oracle.call("party_set_keys", party=party.id, data_json=json.dumps(extra))
    session_text = (folder / f"session-{SIDES[peer]['addr']}.json").read_text()
    party.set_session_json(SIDES[peer]["jid"], session_text)
    return party


@pytest.mark.parametrize(("py_side", "node_side"), [("A", "B"), ("B", "A")])
def test_baileys_session_continues_in_python_and_goes_back_to_baileys(
    oracle: Oracle, shared_fixtures: Path, py_side: str, node_side: str
) -> None:
    py = PySide(shared_fixtures, py_side, node_side)
    node = _node_side(oracle, shared_fixtures, node_side, py_side)
    py_jid = SIDES[py_side]["jid"]
    node_jid = SIDES[node_side]["jid"]
    # The loaded record writes back exactly as Baileys wrote it.
    assert py.json_text() == py.original_json

    for i in range(4):
        kind, body = py.encrypt(f"python {i}".encode())
        assert kind == "msg"
        assert node.decrypt(py_jid, kind, body) == f"python {i}".encode()
        kind, body = node.encrypt(py_jid, f"baileys {i}".encode())
        assert kind == "msg"
        assert py.decrypt(kind, body) == f"baileys {i}".encode()
    for i in range(3):  # a one-sided run
        assert node.decrypt(py_jid, *py.encrypt(b"run %d" % i)) == b"run %d" % i

    # Python's record, as JSON, goes to Baileys with the same credentials and carries on.
    twin = _node_side(oracle, shared_fixtures, py_side, node_side)
    twin.set_session_json(node_jid, py.json_text())
    assert node.decrypt(py_jid, *twin.encrypt(node_jid, b"twin says")) == b"twin says"
    assert twin.decrypt(node_jid, *node.encrypt(py_jid, b"peer says")) == b"peer says"
