"""Sender-key group cipher: round trips, ordering, bounds, and refusal of bad input."""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wamd.errors import (
    DuplicateMessageError,
    InvalidMessageError,
    InvalidSignatureError,
    InvalidVersionError,
    NoSessionError,
)
from wamd.signal.group import (
    MAX_FORWARD_JUMPS,
    create_distribution_message,
    group_decrypt,
    group_encrypt,
    process_distribution_message,
)
from wamd.signal.sender_key_message import SenderKeyDistributionMessage, SenderKeyMessage
from wamd.signal.sender_key_record import MAX_MESSAGE_KEYS, SenderKeyRecord


def pair() -> tuple[SenderKeyRecord, SenderKeyRecord]:
    """A sender's own record and a receiver's record that learnt it."""
    sender = SenderKeyRecord()
    skdm = create_distribution_message(sender)
    receiver = SenderKeyRecord()
    assert process_distribution_message(receiver, skdm.serialize())
    return sender, receiver


def test_new_sender_key_is_at_iteration_zero_with_a_signing_pair() -> None:
    record = SenderKeyRecord()
    skdm = create_distribution_message(record)
    state = record.states[0]
    assert skdm.iteration == 0 and state.iteration == 0
    assert 0 <= skdm.key_id < 2**31 - 1
    assert len(skdm.signing_key) == 33 and skdm.signing_key[0] == 5
    assert state.has_private
    # asking again hands out the same key
    assert create_distribution_message(record) == skdm


def test_distribution_message_round_trips_through_bytes() -> None:
    skdm = create_distribution_message(SenderKeyRecord())
    data = skdm.serialize()
    assert data[0] == 0x33
    assert SenderKeyDistributionMessage.parse(data) == skdm


def test_messages_decrypt_in_order_and_use_consecutive_iterations() -> None:
    sender, receiver = pair()
    for i in range(5):
        ct = group_encrypt(sender, f"hello {i}".encode())
        assert SenderKeyMessage.parse(ct).iteration == i
        assert group_decrypt(receiver, ct) == f"hello {i}".encode()
    assert sender.states[0].iteration == receiver.states[0].iteration == 5
    assert sender.states[0].chain_key == receiver.states[0].chain_key
    assert not receiver.states[0].message_keys


def test_distribution_after_some_messages_starts_a_late_receiver_mid_chain() -> None:
    sender, _ = pair()
    for _ in range(3):
        group_encrypt(sender, b"x")
    late = SenderKeyRecord()
    process_distribution_message(late, create_distribution_message(sender))
    ct = group_encrypt(sender, b"late")
    assert group_decrypt(late, ct) == b"late"


@settings(max_examples=40, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(min_value=1, max_value=30))
def test_any_delivery_order_decrypts_every_message_once(rnd: random.Random, n: int) -> None:
    sender, receiver = pair()
    messages = [(i, group_encrypt(sender, os.urandom(i))) for i in range(n)]
    rnd.shuffle(messages)
    for i, ct in messages:
        assert len(group_decrypt(receiver, ct)) == i
    for _, ct in messages:
        with pytest.raises(DuplicateMessageError):
            group_decrypt(receiver, ct)
    assert not receiver.states[0].message_keys


def test_replay_is_a_duplicate_and_leaves_the_record_unchanged() -> None:
    sender, receiver = pair()
    ct = group_encrypt(sender, b"once")
    group_decrypt(receiver, ct)
    before = receiver.serialize()
    with pytest.raises(DuplicateMessageError):
        group_decrypt(receiver, ct)
    assert receiver.serialize() == before


def test_jump_of_exactly_the_limit_is_accepted_and_one_more_is_not() -> None:
    sender, receiver = pair()
    far = sender.copy()
    far.states[0].chain_key, far.states[0].iteration = _advance(far, MAX_FORWARD_JUMPS + 1)
    too_far = group_encrypt(far, b"too far")
    ok_sender = sender.copy()
    ok_sender.states[0].chain_key, ok_sender.states[0].iteration = _advance(
        ok_sender, MAX_FORWARD_JUMPS
    )
    ok = group_encrypt(ok_sender, b"just ok")
    before = receiver.serialize()
    with pytest.raises(InvalidMessageError, match="ahead"):
        group_decrypt(receiver, too_far)
    assert receiver.serialize() == before
    assert group_decrypt(receiver, ok) == b"just ok"
    assert len(receiver.states[0].message_keys) == MAX_FORWARD_JUMPS


def test_stored_skipped_keys_are_capped_dropping_the_oldest() -> None:
    sender, receiver = pair()
    cts = [group_encrypt(sender, bytes([i % 256])) for i in range(2011)]
    assert group_decrypt(receiver, cts[1500]) == bytes([1500 % 256])
    assert group_decrypt(receiver, cts[2010]) == bytes([2010 % 256])
    keys = receiver.states[0].message_keys
    assert len(keys) == MAX_MESSAGE_KEYS  # 1500 + 509 skipped, the 9 oldest dropped
    assert min(keys) == 9
    with pytest.raises(DuplicateMessageError):
        group_decrypt(receiver, cts[8])
    assert group_decrypt(receiver, cts[9]) == bytes([9])


def test_tampered_signature_is_refused_and_record_unchanged() -> None:
    sender, receiver = pair()
    ct = bytearray(group_encrypt(sender, b"signed"))
    ct[-5] ^= 0x01
    before = receiver.serialize()
    with pytest.raises(InvalidSignatureError):
        group_decrypt(receiver, bytes(ct))
    assert receiver.serialize() == before


def test_tampered_body_is_refused_by_the_signature() -> None:
    sender, receiver = pair()
    ct = bytearray(group_encrypt(sender, b"signed body"))
    ct[-70] ^= 0x01  # inside the ciphertext field
    with pytest.raises(InvalidSignatureError):
        group_decrypt(receiver, bytes(ct))


def test_message_signed_by_another_key_is_refused() -> None:
    sender, receiver = pair()
    impostor = sender.copy()
    impostor.states[0].signing_private = os.urandom(32)
    with pytest.raises(InvalidSignatureError):
        group_decrypt(receiver, group_encrypt(impostor, b"forged"))


def test_validly_signed_garbage_ciphertext_is_an_invalid_message() -> None:
    sender, receiver = pair()
    state = sender.states[0]
    assert state.signing_private is not None
    bad = SenderKeyMessage.build(state.key_id, 0, os.urandom(32), state.signing_private)
    before = receiver.serialize()
    with pytest.raises(InvalidMessageError, match="does not decrypt"):
        group_decrypt(receiver, bad.serialize())
    assert receiver.serialize() == before


def test_truncated_messages_are_invalid() -> None:
    sender, receiver = pair()
    ct = group_encrypt(sender, b"whole")
    for cut in (0, 1, 10, 64, 65):
        with pytest.raises(InvalidMessageError):
            group_decrypt(receiver, ct[:cut])


def test_wrong_version_byte_is_refused() -> None:
    sender, receiver = pair()
    ct = group_encrypt(sender, b"v3 only")
    for version in (0x23, 0x43, 0x00):
        with pytest.raises(InvalidVersionError):
            group_decrypt(receiver, bytes([version]) + ct[1:])
    with pytest.raises(InvalidVersionError):
        SenderKeyDistributionMessage.parse(
            b"\x22" + create_distribution_message(sender).serialize()[1:]
        )


def test_unknown_key_id_is_no_session() -> None:
    sender, _ = pair()
    stranger = SenderKeyRecord()
    with pytest.raises(NoSessionError):
        group_decrypt(stranger, group_encrypt(sender, b"who?"))


def test_encrypting_without_own_key_is_no_session() -> None:
    _, receiver = pair()
    with pytest.raises(NoSessionError):
        group_encrypt(receiver, b"not mine")
    with pytest.raises(NoSessionError):
        group_encrypt(SenderKeyRecord(), b"nothing")


def test_bad_distribution_messages_are_refused() -> None:
    good = create_distribution_message(SenderKeyRecord()).serialize()
    with pytest.raises(InvalidMessageError):
        SenderKeyDistributionMessage.parse(b"\x33\xff\xff")
    with pytest.raises(InvalidMessageError):
        SenderKeyDistributionMessage.parse(b"\x33")  # no chain key, no signing key
    with pytest.raises(InvalidMessageError):
        SenderKeyDistributionMessage(1, 0, b"short", b"\x05" + bytes(32))
    with pytest.raises(InvalidMessageError):
        SenderKeyDistributionMessage(1, 0, bytes(32), b"\x07" + bytes(32))
    assert SenderKeyDistributionMessage.parse(good).serialize() == good


def test_old_state_still_decrypts_after_sender_rotates_key() -> None:
    sender, receiver = pair()
    old_ct = group_encrypt(sender, b"old key")
    rotated = SenderKeyRecord()
    process_distribution_message(receiver, create_distribution_message(rotated))
    assert len(receiver.states) == 2
    assert group_decrypt(receiver, group_encrypt(rotated, b"new key")) == b"new key"
    assert group_decrypt(receiver, old_ct) == b"old key"


def _advance(record: SenderKeyRecord, steps: int) -> tuple[bytes, int]:
    import hmac

    state = record.states[0]
    chain = state.chain_key
    for _ in range(steps):
        chain = hmac.digest(chain, b"\x02", "sha256")
    return chain, state.iteration + steps


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_parsers_raise_only_invalid_message_on_random_bytes(data: bytes) -> None:
    for candidate in (data, b"\x33" + data):
        try:
            msg = SenderKeyMessage.parse(candidate)
        except InvalidMessageError:
            pass
        else:
            assert msg.serialize() == candidate
        try:
            skdm = SenderKeyDistributionMessage.parse(candidate)
        except InvalidMessageError:
            pass
        else:
            assert len(skdm.chain_key) == 32
            assert len(skdm.signing_key) == 33


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=300))
def test_random_bytes_never_decrypt_nor_change_the_record(data: bytes) -> None:
    _, receiver = pair()
    before = receiver.serialize()
    with pytest.raises((InvalidMessageError, InvalidSignatureError, NoSessionError)):
        group_decrypt(receiver, b"\x33" + data)
    assert receiver.serialize() == before
