"""Keys and bundles, WhatsApp padding, and the wire parsers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wamd._proto.signal_pb2 import SignalMessage
from wamd.crypto import KeyPair, verify
from wamd.errors import InvalidKeyError, InvalidMessageError, InvalidSignatureError
from wamd.signal.keys import (
    MAX_REGISTRATION_ID,
    PreKeyBundle,
    SignedPreKey,
    generate_pre_keys,
    generate_registration_id,
    generate_signed_pre_key,
)
from wamd.signal.padding import pad, unpad
from wamd.signal.wire import (
    PreKeyMessage,
    encode_pre_key_message,
    encode_signal_message_body,
    parse_signal_message,
)

# -- keys -----------------------------------------------------------------------------------


def test_signed_pre_key_signs_the_prefixed_public_key() -> None:
    identity = KeyPair.generate()
    spk = generate_signed_pre_key(identity, 7)
    assert spk.key_id == 7
    assert verify(identity.public, b"\x05" + spk.key_pair.public, spk.signature)
    assert not verify(identity.public, spk.key_pair.public, spk.signature)
    spk.verify(identity.public)
    with pytest.raises(InvalidSignatureError, match="signed pre-key 7"):
        spk.verify(KeyPair.generate().public)


def test_tampered_signed_pre_key_fails_verification() -> None:
    identity = KeyPair.generate()
    spk = generate_signed_pre_key(identity, 1)
    bad = SignedPreKey(1, spk.key_pair, spk.signature[:-1] + bytes((spk.signature[-1] ^ 1,)))
    with pytest.raises(InvalidSignatureError):
        bad.verify(identity.public)


def test_pre_keys_have_consecutive_ids_and_distinct_keys() -> None:
    keys = generate_pre_keys(10, 5)
    assert [k.key_id for k in keys] == [10, 11, 12, 13, 14]
    assert len({k.key_pair.public for k in keys}) == 5
    with pytest.raises(InvalidKeyError):
        generate_pre_keys(2**24, 1)


@given(st.binary(min_size=2, max_size=2))
def test_registration_ids_are_in_range(raw: bytes) -> None:
    rid = generate_registration_id(raw)
    assert 1 <= rid <= MAX_REGISTRATION_ID


def test_registration_id_needs_two_bytes() -> None:
    with pytest.raises(InvalidKeyError):
        generate_registration_id(b"\x01")


def test_bundle_prefixes_keys_and_checks_pairing_of_pre_key_fields() -> None:
    identity = KeyPair.generate()
    spk = generate_signed_pre_key(identity, 1)
    (pk,) = generate_pre_keys(1, 1)
    bundle = PreKeyBundle.of(5, identity, spk, pk)
    assert bundle.identity_key == identity.prefixed_public
    assert bundle.signed_pre_key_public == spk.key_pair.prefixed_public
    assert bundle.pre_key_public == pk.key_pair.prefixed_public
    bundle.verify()
    with pytest.raises(InvalidKeyError):
        PreKeyBundle(5, identity.public, 1, spk.key_pair.public, spk.signature, 3, None)
    with pytest.raises(InvalidKeyError):
        PreKeyBundle(5, b"\x06" + identity.public, 1, spk.key_pair.public, spk.signature)


# -- padding --------------------------------------------------------------------------------


@settings(max_examples=200)
@given(st.binary(max_size=300), st.integers(0, 255))
def test_pad_then_unpad_is_identity(data: bytes, r: int) -> None:
    padded = pad(data, r)
    assert len(padded) - len(data) == (r & 0x0F) + 1
    assert unpad(padded) == data


def test_random_padding_is_1_to_16_bytes() -> None:
    lengths = {len(pad(b"x")) - 1 for _ in range(400)}
    assert lengths <= set(range(1, 17))
    assert len(lengths) > 8


@pytest.mark.parametrize(
    ("data", "why"),
    [(b"", "empty"), (b"abc\x00", "0"), (b"\x05\x05\x05", "longer")],
    ids=["empty", "zero-pad-byte", "longer-than-buffer"],
)
def test_bad_padding_is_refused(data: bytes, why: str) -> None:
    with pytest.raises(InvalidMessageError, match=why):
        unpad(data)


def test_pad_as_long_as_the_buffer_leaves_nothing() -> None:
    assert unpad(b"\x03\x03\x03") == b""


# -- wire ---------------------------------------------------------------------------------


KEY = b"\x05" + bytes(range(32))


@settings(max_examples=100)
@given(
    st.binary(min_size=33, max_size=33),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.binary(max_size=300),
)
def test_hand_written_signal_message_matches_the_generated_class(
    key: bytes, counter: int, previous: int, ciphertext: bytes
) -> None:
    expected = SignalMessage(
        ratchetKey=key, counter=counter, previousCounter=previous, ciphertext=ciphertext
    ).SerializeToString()
    assert encode_signal_message_body(key, counter, previous, ciphertext) == expected


def test_unused_sending_chain_counter_goes_out_as_zero() -> None:
    parsed = parse_signal_message(b"\x33" + encode_signal_message_body(KEY, 0, -1, b"c") + b"m" * 8)
    assert parsed.previous_counter == 0


def test_signal_message_parses_what_it_encodes() -> None:
    body = encode_signal_message_body(KEY, 7, 3, b"c" * 32)
    parsed = parse_signal_message(b"\x33" + body + b"M" * 8)
    assert (parsed.ratchet_key, parsed.counter, parsed.previous_counter) == (KEY, 7, 3)
    assert parsed.ciphertext == b"c" * 32 and parsed.serialized == body and parsed.mac == b"M" * 8


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x33",
        b"\x33" + b"\x00" * 8,
        b"\x33\xff\xff\xff" + b"\x00" * 8,
        b"\x33" + encode_signal_message_body(KEY[:20], 1, 0, b"c" * 16) + b"m" * 8,
        b"\x33\x10\x01" + b"m" * 8,
    ],
    ids=["empty", "version-only", "no-body", "garbage", "short-key", "missing-fields"],
)
def test_malformed_signal_messages_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidMessageError):
        parse_signal_message(data)


def test_pre_key_message_round_trip_and_optional_pre_key_id() -> None:
    inner = b"\x33inner"
    for pre_key_id in (None, 9):
        data = encode_pre_key_message(
            inner,
            pre_key_id=pre_key_id,
            signed_pre_key_id=2,
            base_key=KEY,
            identity_key=KEY,
            registration_id=77,
        )
        parsed = PreKeyMessage.parse(data)
        assert parsed == PreKeyMessage(pre_key_id, 2, KEY, KEY, 77, inner)


def test_pre_key_message_without_base_key_is_refused() -> None:
    data = encode_pre_key_message(
        b"x", pre_key_id=1, signed_pre_key_id=1, base_key=b"", identity_key=KEY, registration_id=1
    )
    with pytest.raises(InvalidMessageError, match="base key"):
        PreKeyMessage.parse(data)
