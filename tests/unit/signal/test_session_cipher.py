"""The pairwise cipher between two wamd parties: flow, ratchet bounds, bad input."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.signal.party import PyParty
from wamd.crypto import KeyPair
from wamd.errors import (
    DuplicateMessageError,
    InvalidMessageError,
    InvalidSignatureError,
    NoSessionError,
    UnknownPreKeyError,
    UntrustedIdentityError,
)
from wamd.signal.keys import PreKeyBundle
from wamd.signal.ratchet import MAX_RECEIVING_CHAINS, MAX_STORED_MESSAGE_KEYS
from wamd.signal.session_builder import init_outgoing
from wamd.signal.session_cipher import decrypt_message, decrypt_pre_key_message, encrypt
from wamd.signal.session_record import MAX_ARCHIVED_SESSIONS, SessionRecord
from wamd.signal.wire import PreKeyMessage

A, B = "alice.0", "bob.0"


def _pair(with_pre_key: bool = True) -> tuple[PyParty, PyParty]:
    alice, bob = PyParty(), PyParty()
    alice.inject(B, bob.bundle(with_pre_key))
    return alice, bob


def _established() -> tuple[PyParty, PyParty]:
    alice, bob = _pair()
    assert bob.decrypt(A, *alice.encrypt(B, b"hi")) == b"hi"
    assert alice.decrypt(B, *bob.encrypt(A, b"hello")) == b"hello"
    return alice, bob


def _refused(party: PyParty, address: str, error: type[Exception], kind: str, body: bytes) -> None:
    """Decrypting ``body`` raises ``error`` and leaves the stored record as it was."""
    before = party.sessions.get(address)
    with pytest.raises(error):
        party.decrypt(address, kind, body)
    assert party.sessions.get(address) == before


# -- normal flow ----------------------------------------------------------------------------


def test_pkmsg_until_the_peer_answers_then_msg() -> None:
    alice, bob = _pair()
    kinds = []
    for i in range(3):
        kind, body = alice.encrypt(B, b"m%d" % i)
        kinds.append(kind)
        assert bob.decrypt(A, kind, body) == b"m%d" % i
    assert kinds == ["pkmsg"] * 3
    assert alice.decrypt(B, *bob.encrypt(A, b"answer")) == b"answer"
    assert alice.encrypt(B, b"next")[0] == "msg"


def test_one_time_pre_key_is_reported_used_once() -> None:
    alice, bob = _pair()
    assert len(bob.pre_keys) == 1
    bob.decrypt(A, *alice.encrypt(B, b"a"))
    assert bob.pre_keys == {}
    # A second pkmsg of the same session needs no pre-key any more.
    assert bob.decrypt(A, *alice.encrypt(B, b"b")) == b"b"


def test_session_without_one_time_pre_key() -> None:
    alice, bob = _pair(with_pre_key=False)
    kind, body = alice.encrypt(B, b"x")
    assert PreKeyMessage.parse(body).pre_key_id is None
    assert bob.decrypt(A, kind, body) == b"x"


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 5), st.randoms()), min_size=1, max_size=12))
def test_random_schedules_with_reordering_decrypt(
    schedule: list[tuple[bool, int, random.Random]],
) -> None:
    alice, bob = _established()
    for alice_sends, n, rng in schedule:
        src, dst, s_addr, d_addr = (alice, bob, B, A) if alice_sends else (bob, alice, A, B)
        sent = [(b"%d" % i, src.encrypt(s_addr, b"%d" % i)) for i in range(n)]
        rng.shuffle(sent)
        for data, (kind, body) in sent:
            assert dst.decrypt(d_addr, kind, body) == data


def test_messages_of_a_previous_chain_decrypt_after_a_ratchet_step() -> None:
    alice, bob = _established()
    late = [alice.encrypt(B, b"late %d" % i) for i in range(3)]
    assert bob.decrypt(A, *alice.encrypt(B, b"on time")) == b"on time"
    assert alice.decrypt(B, *bob.encrypt(A, b"step")) == b"step"
    assert bob.decrypt(A, *alice.encrypt(B, b"new chain")) == b"new chain"
    for i in (2, 0, 1):
        assert bob.decrypt(A, *late[i]) == b"late %d" % i


# -- bounds ---------------------------------------------------------------------------------


def test_up_to_2000_ahead_is_fine_beyond_is_refused() -> None:
    alice, bob = _established()
    sent = [alice.encrypt(B, b"%d" % i) for i in range(2002)]
    _refused(bob, A, InvalidMessageError, *sent[2001])
    assert bob.decrypt(A, *sent[1999]) == b"1999"  # exactly 2000 ahead of a new chain
    record = bob.record(A)
    state = record.open_session()
    assert state is not None
    stored = sum(len(c.message_keys) for c in state.chains.values())
    assert stored == 1999
    assert bob.decrypt(A, *sent[5]) == b"5"


def test_stored_message_keys_are_capped_per_chain() -> None:
    alice, bob = _established()
    batches = []
    for _ in range(3):
        batches.append([alice.encrypt(B, b"%d" % i) for i in range(1500)])
        bob.decrypt(A, *batches[-1][-1])
    state = bob.record(A).open_session()
    assert state is not None
    assert all(len(c.message_keys) <= MAX_STORED_MESSAGE_KEYS for c in state.chains.values())
    assert max(len(c.message_keys) for c in state.chains.values()) >= MAX_STORED_MESSAGE_KEYS - 1
    # The oldest skipped keys went first; recent ones are still there.
    with pytest.raises(DuplicateMessageError):
        bob.decrypt(A, *batches[0][0])
    assert bob.decrypt(A, *batches[2][0]) == b"0"
    assert bob.decrypt(A, *batches[1][1000]) == b"1000"


def test_old_receiving_chains_are_pruned_and_the_record_stays_small() -> None:
    alice, bob = _established()
    for i in range(500):
        bob.decrypt(A, *alice.encrypt(B, b"ping %d" % i))
        alice.decrypt(B, *bob.encrypt(A, b"pong %d" % i))
    for party, peer in ((alice, B), (bob, A)):
        state = party.record(peer).open_session()
        assert state is not None
        receiving = [c for c in state.chains.values() if c.chain_type == 2]
        assert len(receiving) <= MAX_RECEIVING_CHAINS
        text = json.dumps(party.record(peer).to_libsignal_json(), separators=(",", ":"))
        assert len(text) < 3000
        assert len(party.sessions[peer]) < 1200


# -- archived sessions and identities --------------------------------------------------------


def test_new_incoming_session_archives_the_old_one_which_still_decrypts() -> None:
    alice, bob = _established()
    in_flight = alice.encrypt(B, b"sent on the old session")
    # Alice starts over (a reinstall, say) from a fresh bundle of Bob's.
    alice2 = PyParty(identity=alice.identity, registration_id=alice.registration_id)
    alice2.inject(B, bob.bundle())
    assert bob.decrypt(A, *alice2.encrypt(B, b"new session")) == b"new session"
    record = bob.record(A)
    assert len(record.sessions) == 2
    assert sum(s.is_open for s in record.sessions.values()) == 1
    assert bob.decrypt(A, *in_flight) == b"sent on the old session"
    # Bob encrypts on the new (open) session only.
    assert alice2.decrypt(B, *bob.encrypt(A, b"to the new one")) == b"to the new one"


def test_at_most_40_sessions_are_kept() -> None:
    alice, bob = PyParty(), PyParty()
    for _ in range(MAX_ARCHIVED_SESSIONS + 5):
        alice.inject(B, bob.bundle())
    assert len(alice.record(B).sessions) == MAX_ARCHIVED_SESSIONS


def test_changed_identity_replaces_sessions_or_is_refused() -> None:
    _alice, bob = _established()
    impostor = PyParty()
    impostor.inject(B, bob.bundle())
    _kind, body = impostor.encrypt(B, b"new identity")
    message = PreKeyMessage.parse(body)
    assert bob.signed_pre_key is not None
    opk = bob.pre_keys[message.pre_key_id or 0].key_pair
    record = bob.record(A)
    before = record.serialize()
    with pytest.raises(UntrustedIdentityError):
        decrypt_pre_key_message(
            record, bob.identity, message, signed_pre_key=bob.signed_pre_key.key_pair,
            one_time_pre_key=opk, now_ms=5, trust_new_identity=False,
        )  # fmt: skip
    assert record.serialize() == before
    result = decrypt_pre_key_message(
        record, bob.identity, message, signed_pre_key=bob.signed_pre_key.key_pair,
        one_time_pre_key=opk, now_ms=5,
    )  # fmt: skip
    assert result.identity_changed and result.new_session
    assert result.identity_key == impostor.identity.prefixed_public
    assert len(record.sessions) == 1


def test_outgoing_session_with_changed_identity_can_be_refused() -> None:
    alice, _bob = _established()
    record = alice.record(B)
    before = record.serialize()
    stranger = PyParty()
    with pytest.raises(UntrustedIdentityError):
        init_outgoing(record, alice.identity, stranger.bundle(), now_ms=1, trust_new_identity=False)
    assert record.serialize() == before


# -- bad input: a specific error and the record unchanged ------------------------------------


def test_bad_signed_pre_key_signature_is_refused() -> None:
    alice, bob = PyParty(), PyParty()
    good = bob.bundle()
    sig = bytearray(good.signed_pre_key_signature)
    sig[0] ^= 1
    bad = PreKeyBundle(
        good.registration_id, good.identity_key, good.signed_pre_key_id,
        good.signed_pre_key_public, bytes(sig), good.pre_key_id, good.pre_key_public,
    )  # fmt: skip
    record = SessionRecord()
    with pytest.raises(InvalidSignatureError):
        init_outgoing(record, alice.identity, bad, now_ms=1)
    assert record.sessions == {}


def test_tampered_mac_ciphertext_or_counter_is_refused() -> None:
    alice, bob = _established()
    kind, body = alice.encrypt(B, b"secret")
    for pos in (len(body) - 1, len(body) - 12, 40):
        bad = bytearray(body)
        bad[pos] ^= 0x01
        _refused(bob, A, InvalidMessageError, kind, bytes(bad))
    assert bob.decrypt(A, kind, body) == b"secret"


def test_truncated_messages_are_refused() -> None:
    alice, bob = _established()
    kind, body = alice.encrypt(B, b"secret")
    for cut in (0, 1, 5, 9, len(body) - 8, len(body) - 1):
        _refused(bob, A, InvalidMessageError, kind, body[:cut])
    assert bob.decrypt(A, kind, body) == b"secret"


def test_wrong_version_byte_is_refused() -> None:
    alice, bob = _pair()
    kind, body = alice.encrypt(B, b"first")
    for version in (0x22, 0x43, 0x00):
        bad = bytes((version,)) + body[1:]
        with pytest.raises(InvalidMessageError, match="version"):
            PreKeyMessage.parse(bad)
    bob.decrypt(A, kind, body)
    alice.decrypt(B, *bob.encrypt(A, b"ok"))
    kind, body = alice.encrypt(B, b"msg")
    bad = b"\x23" + body[1:]
    _refused(bob, A, InvalidMessageError, kind, bad)


def test_replayed_messages_raise_duplicate() -> None:
    alice, bob = _pair()
    first = alice.encrypt(B, b"pk")
    bob.decrypt(A, *first)
    _refused(bob, A, DuplicateMessageError, *first)
    alice.decrypt(B, *bob.encrypt(A, b"answer"))
    msg = alice.encrypt(B, b"msg")
    bob.decrypt(A, *msg)
    _refused(bob, A, DuplicateMessageError, *msg)


def test_unknown_pre_keys_are_refused() -> None:
    alice, bob = _pair()
    kind, body = alice.encrypt(B, b"x")
    bob.pre_keys.clear()  # as if already used
    with pytest.raises(UnknownPreKeyError, match="pre-key"):
        bob.decrypt(A, kind, body)
    assert A not in bob.sessions
    message = PreKeyMessage.parse(body)
    with pytest.raises(UnknownPreKeyError, match="signed pre-key"):
        decrypt_pre_key_message(
            SessionRecord(), bob.identity, message, signed_pre_key=None,
            one_time_pre_key=None, now_ms=1,
        )  # fmt: skip


def test_wrong_signed_pre_key_fails_the_mac_and_leaves_nothing() -> None:
    alice, bob = _pair()
    _kind, body = alice.encrypt(B, b"x")
    message = PreKeyMessage.parse(body)
    record = SessionRecord()
    with pytest.raises(InvalidMessageError):
        decrypt_pre_key_message(
            record, bob.identity, message, signed_pre_key=KeyPair.generate(),
            one_time_pre_key=bob.pre_keys[message.pre_key_id or 0].key_pair, now_ms=1,
        )  # fmt: skip
    assert record.sessions == {}


def test_no_session_errors() -> None:
    alice, bob = _established()
    with pytest.raises(NoSessionError):
        encrypt(SessionRecord(), alice.identity, 1, b"x")
    _kind, body = alice.encrypt(B, b"x")
    with pytest.raises(NoSessionError):
        decrypt_message(SessionRecord(), bob.identity, body, now_ms=1)


def test_message_for_another_session_is_refused_unchanged() -> None:
    alice, bob = _established()
    carol = PyParty()
    carol.inject(B, bob.bundle())
    bob.decrypt("carol.0", *carol.encrypt(B, b"hi"))
    bob.encrypt("carol.0", b"x")
    _, body = alice.encrypt(B, b"for bob from alice")
    _refused(bob, "carol.0", InvalidMessageError, "msg", body)


def test_pre_key_message_with_a_low_order_base_key_is_refused() -> None:
    alice, bob = _pair()
    _, body = alice.encrypt(B, b"x")
    message = PreKeyMessage.parse(body)
    bad = PreKeyMessage(
        message.pre_key_id, message.signed_pre_key_id, b"\x05" + bytes(32),
        message.identity_key, message.registration_id, message.message,
    )  # fmt: skip
    assert bob.signed_pre_key is not None
    record = SessionRecord()
    with pytest.raises(InvalidMessageError):
        decrypt_pre_key_message(
            record, bob.identity, bad, signed_pre_key=bob.signed_pre_key.key_pair,
            one_time_pre_key=bob.pre_keys[message.pre_key_id or 0].key_pair, now_ms=1,
        )  # fmt: skip
    assert record.sessions == {}


@settings(max_examples=20, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(1, 4), st.booleans()), min_size=1, max_size=15)
)
def test_records_survive_the_json_form_mid_conversation(
    schedule: list[tuple[bool, int, bool]],
) -> None:
    alice, bob = _established()
    for alice_sends, n, through_json in schedule:
        src, dst, s_addr, d_addr = (alice, bob, B, A) if alice_sends else (bob, alice, A, B)
        for i in range(n):
            assert dst.decrypt(d_addr, *src.encrypt(s_addr, b"%d" % i)) == b"%d" % i
        if through_json:
            for party, peer in ((alice, B), (bob, A)):
                text = json.dumps(party.record(peer).to_libsignal_json(), separators=(",", ":"))
                back = SessionRecord.from_libsignal_json(json.loads(text))
                party.sessions[peer] = back.serialize()


def test_loaded_key_cache_is_bounded_and_forgets_replaced_ratchet_keys() -> None:
    from wamd.signal import ratchet

    pair = KeyPair.generate()
    first = ratchet.load_private_key(pair.private)
    assert ratchet.load_private_key(pair.private) is first
    ratchet.forget_private_key(pair.private)
    assert pair.private not in ratchet._LOADED_KEYS
    for _ in range(ratchet._LOADED_KEYS_MAX + 10):
        ratchet.load_private_key(KeyPair.generate().private)
    assert len(ratchet._LOADED_KEYS) <= ratchet._LOADED_KEYS_MAX
    # A ratchet step forgets the key it replaces.
    alice, bob = _established()
    old = bob.record(A).open_session()
    assert old is not None
    bob.decrypt(A, *alice.encrypt(B, b"x"))
    alice.decrypt(B, *bob.encrypt(A, b"y"))
    bob.decrypt(A, *alice.encrypt(B, b"step"))
    assert old.ephemeral_private not in ratchet._LOADED_KEYS
