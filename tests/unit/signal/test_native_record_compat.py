"""Native session records written by earlier wamd code still load, continue and re-save.

``data/native_record_v1.json`` was written by the record code before the lazy decoder:
alice's record with bob (an open session plus an archived one that still holds skipped
message keys), bob's record with alice, and alice's unanswered outgoing session with
carol (pending pre-key). The test loads them with today's code.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from wamd.crypto import KeyPair
from wamd.errors import DuplicateMessageError
from wamd.signal.session_cipher import decrypt_message, decrypt_pre_key_message, encrypt
from wamd.signal.session_record import SessionRecord
from wamd.signal.wire import PreKeyMessage

DATA = Path(__file__).parent / "data" / "native_record_v1.json"


@pytest.fixture(scope="module")
def fixture() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATA.read_text())
    return data


def _b(fixture: dict[str, Any], name: str) -> bytes:
    return base64.b64decode(fixture[name])


@pytest.mark.parametrize("name", ["alice_record_bob", "alice_record_carol"])
def test_old_bytes_load_to_the_same_record(fixture: dict[str, Any], name: str) -> None:
    record = SessionRecord.deserialize(_b(fixture, name))
    assert record.to_libsignal_json() == fixture[name + "_json"]
    # Written back unchanged, byte for byte, and again after a full parse.
    assert record.serialize() == _b(fixture, name)
    assert SessionRecord.from_libsignal_json(fixture[name + "_json"]).serialize() == _b(
        fixture, name
    )


def test_old_record_continues_the_conversation(fixture: dict[str, Any]) -> None:
    alice = KeyPair.from_private(_b(fixture, "alice_identity_private"))
    bob = KeyPair.from_private(_b(fixture, "bob_identity_private"))
    alice_rec = SessionRecord.deserialize(_b(fixture, "alice_record_bob"))
    bob_rec = SessionRecord.deserialize(_b(fixture, "bob_record_alice"))
    # Held messages of the archived session decrypt with its stored keys, once each.
    for i, name in ((0, "held_0"), (2, "held_2")):
        alice_rec = SessionRecord.deserialize(alice_rec.serialize())
        plaintext = decrypt_message(alice_rec, alice, _b(fixture, name), now_ms=1_800_000_000_000)
        assert plaintext == b"late %d" % i
    alice_rec = SessionRecord.deserialize(alice_rec.serialize())
    with pytest.raises(DuplicateMessageError):
        decrypt_message(alice_rec, alice, _b(fixture, "held_0"), now_ms=1_800_000_000_001)
    # Both directions of the open session go on, through bytes every time.
    for i in range(4):
        out = encrypt(bob_rec, bob, fixture["bob_registration_id"], b"bob %d" % i)
        bob_rec = SessionRecord.deserialize(bob_rec.serialize())
        alice_rec = SessionRecord.deserialize(alice_rec.serialize())
        # Bob's session is unanswered until alice's first reply: a pkmsg of a known session.
        assert out.type == ("pkmsg" if i == 0 else "msg")
        if out.type == "pkmsg":
            plaintext = decrypt_pre_key_message(
                alice_rec,
                alice,
                PreKeyMessage.parse(out.body),
                signed_pre_key=None,
                one_time_pre_key=None,
                now_ms=1_800_000_000_010,
            ).plaintext
        else:
            plaintext = decrypt_message(alice_rec, alice, out.body, now_ms=1_800_000_000_010 + i)
        assert plaintext == b"bob %d" % i
        back = encrypt(alice_rec, alice, 1, b"alice %d" % i)
        alice_rec = SessionRecord.deserialize(alice_rec.serialize())
        assert decrypt_message(bob_rec, bob, back.body, now_ms=1_800_000_000_020 + i) == (
            b"alice %d" % i
        )
    assert len(alice_rec.sessions) == 2
