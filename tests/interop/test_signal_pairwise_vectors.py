"""Byte-for-byte: with the same keys, wamd writes exactly the ciphertexts libsignal-node writes.

The oracle's libsignal hands out queued key pairs instead of fresh ones; wamd gets the
same pairs through ``keygen``. Each Baileys party has a wamd twin with its keys, and both
must produce identical ``pkmsg``/``msg`` bytes at every step, ratchet steps included.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from tests.conftest import Oracle
from tests.interop.test_signal_pairwise import NodeParty
from wamd.crypto import KeyPair
from wamd.signal.keys import PreKeyBundle
from wamd.signal.session_builder import init_outgoing
from wamd.signal.session_cipher import decrypt_message, decrypt_pre_key_message, encrypt
from wamd.signal.session_record import SessionRecord
from wamd.signal.wire import PreKeyMessage

pytestmark = pytest.mark.interop

A_JID, B_JID = "1111111111:0@s.whatsapp.net", "2222222222:3@s.whatsapp.net"


def _keygen(pairs: list[KeyPair]) -> Callable[[], KeyPair]:
    it: Iterator[KeyPair] = iter(pairs)
    return lambda: next(it)


def _queue(oracle: Oracle, pairs: list[KeyPair]) -> None:
    """Make the oracle's libsignal hand out exactly these pairs next (and nothing stale)."""
    wire = [{"private": p.private, "public": p.public} for p in pairs]
    oracle.call("queue_key_pairs", pairs=wire, replace=True)


@pytest.mark.parametrize("with_pre_key", [True, False], ids=["one-time-pre-key", "no-pre-key"])
def test_same_keys_give_identical_ciphertexts(oracle: Oracle, with_pre_key: bool) -> None:
    node_a, node_b = NodeParty.new(oracle), NodeParty.new(oracle)
    raw = oracle.call("party_bundle", party=node_b.id, no_prekey=not with_pre_key)
    pk = raw.get("preKey")
    b_bundle = PreKeyBundle(
        raw["registrationId"],
        raw["identityKey"],
        raw["signedPreKey"]["keyId"],
        raw["signedPreKey"]["publicKey"],
        raw["signedPreKey"]["signature"],
        None if pk is None else pk["keyId"],
        None if pk is None else pk["publicKey"],
    )
    a_identity, b_identity = node_a.identity(), node_b.identity()
    a_reg = node_a.info["registrationId"]
    b_spk = node_b.signed_pre_key()
    b_opk = None if pk is None else KeyPair(raw["preKeyPrivate"], pk["publicKey"][1:])

    # A (node) and its twin (wamd) start a session from B's bundle with the same keys.
    setup = [KeyPair.generate(), KeyPair.generate()]  # base key, first ratchet key
    _queue(oracle, setup)
    node_a.inject(B_JID, b_bundle)
    twin_a = SessionRecord()
    init_outgoing(twin_a, a_identity, b_bundle, now_ms=1, keygen=_keygen(setup))

    twin_b = SessionRecord()
    clock = 10
    for turn in range(6):
        clock += 1
        text = b"turn %d: " % turn + bytes(range(turn * 7 % 50))
        if turn % 3 != 2:  # A speaks twice, then B once: ratchet steps both ways
            kind, body = node_a.encrypt(B_JID, text)
            out = encrypt(twin_a, a_identity, a_reg, text)
            assert (out.type, out.body) == (kind, body), f"turn {turn}: A's bytes differ"
            step = [KeyPair.generate()]  # B's ratchet key, if this message makes B step
            _queue(oracle, step)
            assert node_b.decrypt(A_JID, kind, body) == text
            if kind == "pkmsg":
                result = decrypt_pre_key_message(
                    twin_b, b_identity, PreKeyMessage.parse(body),
                    signed_pre_key=b_spk.key_pair, one_time_pre_key=b_opk,
                    now_ms=clock, keygen=_keygen(step),
                )  # fmt: skip
                assert result.plaintext == text
            else:
                plain = decrypt_message(
                    twin_b, b_identity, body, now_ms=clock, keygen=_keygen(step)
                )
                assert plain == text
        else:
            kind, body = node_b.encrypt(A_JID, text)
            out = encrypt(twin_b, b_identity, node_b.info["registrationId"], text)
            assert (out.type, out.body) == (kind, body), f"turn {turn}: B's bytes differ"
            step = [KeyPair.generate()]
            _queue(oracle, step)
            assert node_a.decrypt(B_JID, kind, body) == text
            assert (
                decrypt_message(twin_a, a_identity, body, now_ms=clock, keygen=_keygen(step))
                == text
            )
        _queue(oracle, [])
    # Both records agree with what libsignal-node stored, field for field.
    for node, twin, peer in ((node_a, twin_a, B_JID), (node_b, twin_b, A_JID)):
        stored = node.session_json(peer)
        assert stored is not None
        theirs = SessionRecord.from_libsignal_json(json.loads(stored))
        assert _comparable(theirs) == _comparable(twin)


def _comparable(record: SessionRecord) -> list[tuple[object, ...]]:
    """A record without its timestamps (the two sides' clocks differ)."""
    out: list[tuple[object, ...]] = []
    for s in record.sessions.values():
        chains = [(k, c.chain_type, c.counter, c.key, c.message_keys) for k, c in s.chains.items()]
        out.append(
            (
                s.registration_id, s.ephemeral_public, s.ephemeral_private,
                s.last_remote_ephemeral, s.previous_counter, s.root_key, s.base_key,
                s.base_key_type, s.closed == -1, s.remote_identity_key, chains, s.pending_pre_key,
            )
        )  # fmt: skip
    return out
