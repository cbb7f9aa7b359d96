"""The hand-written ``msg`` and ``pkmsg`` readers and writers agree with the generated class.

:func:`parse_signal_message` and :meth:`PreKeyMessage.parse` read the common shape
themselves and hand everything else to the generated class; whatever the input, both
routes must give the same message or the same error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wamd._proto.signal_pb2 import PreKeySignalMessage, SignalMessage
from wamd.errors import WamdError
from wamd.signal.wire import (
    _COMMON_PRE_KEY_MESSAGE,
    _COMMON_SIGNAL_MESSAGE,
    ParsedSignalMessage,
    PreKeyMessage,
    _parse_pre_key_message_generic,
    _parse_signal_message_generic,
    encode_pre_key_message,
    encode_signal_message_body,
    parse_signal_message,
)

Outcome = ParsedSignalMessage | tuple[type[WamdError], str]
PreKeyOutcome = PreKeyMessage | tuple[type[WamdError], str]


def outcome(parse: Callable[[bytes], ParsedSignalMessage], data: bytes) -> Outcome:
    try:
        return parse(data)
    except WamdError as exc:
        return type(exc), str(exc)


def pre_key_outcome(parse: Callable[[bytes], PreKeyMessage], data: bytes) -> PreKeyOutcome:
    try:
        return parse(data)
    except WamdError as exc:
        return type(exc), str(exc)


def assert_same(data: bytes) -> Outcome:
    fast = outcome(parse_signal_message, data)
    assert fast == outcome(_parse_signal_message_generic, data)
    return fast


# Counters across the one-, two- and longer-varint boundaries, and anywhere in uint32.
_uint32 = st.sampled_from([0, 1, 127, 128, 16383, 16384, 2**21, 2**32 - 1]) | st.integers(
    0, 2**32 - 1
)
_small = st.integers(0, 16383)
_key = st.binary(min_size=32, max_size=32).map(lambda b: b"\x05" + b)


@st.composite
def _messages(draw: st.DrawFn) -> bytes:
    """A whole ``msg`` as the generated class writes it, some fields possibly left out."""
    msg = SignalMessage()
    if draw(st.integers(0, 9)):
        msg.ratchetKey = draw(_key | st.binary(max_size=40))
    if draw(st.integers(0, 9)):
        msg.counter = draw(_uint32)
    if draw(st.integers(0, 9)):
        msg.previousCounter = draw(_uint32)
    if draw(st.integers(0, 9)):
        msg.ciphertext = draw(st.binary(max_size=300))
    return b"\x33" + msg.SerializeToString() + draw(st.binary(min_size=8, max_size=8))


@st.composite
def _pre_key_messages(draw: st.DrawFn) -> bytes:
    """A whole ``pkmsg`` as the generated class writes it, some fields possibly left out."""
    msg = PreKeySignalMessage()
    if draw(st.booleans()):
        msg.preKeyId = draw(_uint32)
    if draw(st.integers(0, 9)):
        msg.baseKey = draw(_key | st.binary(max_size=40))
    if draw(st.integers(0, 9)):
        msg.identityKey = draw(_key | st.binary(max_size=40))
    if draw(st.integers(0, 9)):
        msg.message = draw(_messages() | st.binary(max_size=300))
    if draw(st.integers(0, 9)):
        msg.registrationId = draw(_uint32)
    if draw(st.integers(0, 9)):
        msg.signedPreKeyId = draw(_uint32)
    return b"\x33" + msg.SerializeToString()


def _damage(draw: st.DrawFn, data: bytearray) -> bytes:
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del data[pos : pos + draw(st.integers(1, 4))]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=3))
    return bytes(data)


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    return _damage(draw, bytearray(draw(_messages())))


@st.composite
def _mutated_pre_key_messages(draw: st.DrawFn) -> bytes:
    return _damage(draw, bytearray(draw(_pre_key_messages())))


@settings(max_examples=300)
@given(_messages())
def test_generated_messages_read_the_same_both_ways(data: bytes) -> None:
    assert_same(data)


@settings(max_examples=300)
@given(_mutated() | st.binary(max_size=120))
def test_damaged_bytes_give_the_same_message_or_the_same_error(data: bytes) -> None:
    assert_same(data)


@settings(max_examples=100)
@given(_key, _small, _small, st.binary(max_size=20000), st.binary(min_size=8, max_size=8))
def test_common_messages_take_the_hand_reader(
    key: bytes, counter: int, previous: int, ciphertext: bytes, mac: bytes
) -> None:
    body = encode_signal_message_body(key, counter, previous, ciphertext)
    data = b"\x33" + body + mac
    fits = len(ciphertext) < 16384
    assert (_COMMON_SIGNAL_MESSAGE(data) is not None) == fits
    assert assert_same(data) == ParsedSignalMessage(key, counter, previous, ciphertext, body, mac)


@pytest.mark.parametrize(
    "body",
    [
        # a non-canonical (overlong) varint for the counter: protobuf reads it as 5
        b"\x0a\x21\x05" + b"k" * 32 + b"\x10\x85\x00\x18\x01\x22\x01c",
        # fields out of order, a repeated field (the last one wins), an unknown field
        b"\x10\x05\x0a\x21\x05" + b"k" * 32 + b"\x18\x01\x22\x01c",
        b"\x0a\x21\x05" + b"k" * 32 + b"\x10\x05\x10\x06\x18\x01\x22\x01c",
        b"\x0a\x21\x05" + b"k" * 32 + b"\x10\x05\x18\x01\x22\x01c\x28\x01",
        # ciphertext length that disagrees with what is there
        b"\x0a\x21\x05" + b"k" * 32 + b"\x10\x05\x18\x01\x22\x02c",
        b"\x0a\x21\x05" + b"k" * 32 + b"\x10\x05\x18\x01\x22\x00c",
        # a key without its 0x05 prefix
        b"\x0a\x21\x06" + b"k" * 32 + b"\x10\x05\x18\x01\x22\x01c",
    ],
    ids=["overlong", "order", "repeat", "unknown", "long-length", "short-length", "key-type"],
)
def test_uncommon_shapes_read_as_the_generated_class_reads_them(body: bytes) -> None:
    data = b"\x33" + body + b"M" * 8
    expected = outcome(_parse_signal_message_generic, data)
    assert outcome(parse_signal_message, data) == expected


def test_bad_version_byte_is_refused_with_its_value() -> None:
    body = encode_signal_message_body(b"\x05" + b"k" * 32, 1, 0, b"c" * 16)
    for version in (0x22, 0x32, 0x34, 0x43):
        result = assert_same(bytes((version,)) + body + b"M" * 8)
        assert not isinstance(result, ParsedSignalMessage)
        assert f"0x{version:02x}" in result[1]


@pytest.mark.parametrize("n", [0, 127, 128, 16383, 16384, 70000])
def test_encoder_matches_the_generated_class_at_varint_boundaries(n: int) -> None:
    key = b"\x05" + b"k" * 32
    for counter, previous, ciphertext in ((n, 1, b"c"), (1, n, b"c"), (2, 3, b"c" * n)):
        expected = SignalMessage(
            ratchetKey=key, counter=counter, previousCounter=previous, ciphertext=ciphertext
        ).SerializeToString()
        assert encode_signal_message_body(key, counter, previous, ciphertext) == expected


def test_encoder_writes_other_key_lengths_as_the_generated_class_does() -> None:
    for key in (b"", b"\x05" * 20, b"\x05" * 200):
        expected = SignalMessage(
            ratchetKey=key, counter=1, previousCounter=0, ciphertext=b"c"
        ).SerializeToString()
        assert encode_signal_message_body(key, 1, 0, b"c") == expected


@pytest.mark.parametrize("counter", [-1, 2**32])
def test_encoder_refuses_counters_outside_uint32(counter: int) -> None:
    with pytest.raises(WamdError, match="does not fit"):
        encode_signal_message_body(b"\x05" + b"k" * 32, counter, 0, b"c")


# -- pkmsg ------------------------------------------------------------------------------------


def assert_same_pre_key(data: bytes) -> PreKeyOutcome:
    fast = pre_key_outcome(PreKeyMessage.parse, data)
    assert fast == pre_key_outcome(_parse_pre_key_message_generic, data)
    return fast


@settings(max_examples=300)
@given(_pre_key_messages())
def test_generated_pre_key_messages_read_the_same_both_ways(data: bytes) -> None:
    assert_same_pre_key(data)


@settings(max_examples=300)
@given(_mutated_pre_key_messages() | st.binary(max_size=150))
def test_damaged_pre_key_messages_give_the_same_message_or_the_same_error(data: bytes) -> None:
    assert_same_pre_key(data)


_ids = st.sampled_from([0, 1, 127, 128, 16383, 16384, 2**21 - 1, 2**28, 2**32 - 1]) | st.integers(
    0, 2**32 - 1
)


@settings(max_examples=200)
@given(st.tuples(st.none() | _ids, _ids, _key, _key, _ids, st.binary(max_size=400)))
def test_pre_key_messages_match_the_generated_class_and_take_the_hand_reader(
    fields: tuple[int | None, int, bytes, bytes, int, bytes],
) -> None:
    pre_key_id, signed_pre_key_id, base_key, identity_key, registration_id, message = fields
    expected = PreKeySignalMessage(
        baseKey=base_key,
        identityKey=identity_key,
        message=message,
        registrationId=registration_id,
        signedPreKeyId=signed_pre_key_id,
    )
    if pre_key_id is not None:
        expected.preKeyId = pre_key_id
    data = encode_pre_key_message(
        message,
        pre_key_id=pre_key_id,
        signed_pre_key_id=signed_pre_key_id,
        base_key=base_key,
        identity_key=identity_key,
        registration_id=registration_id,
    )
    assert data == b"\x33" + expected.SerializeToString()
    assert _COMMON_PRE_KEY_MESSAGE(data) is not None
    parsed = PreKeyMessage(
        pre_key_id, signed_pre_key_id, base_key, identity_key, registration_id, message
    )
    assert assert_same_pre_key(data) == parsed


@pytest.mark.parametrize(
    "body",
    [
        # a message field whose bytes look like the fields after it
        b"\x12\x21\x05"
        + b"b" * 32
        + b"\x1a\x21\x05"
        + b"i" * 32
        + b"\x22\x02\x28\x01\x28\x01\x30\x02",
        # a message length longer or shorter than what follows
        b"\x12\x21\x05" + b"b" * 32 + b"\x1a\x21\x05" + b"i" * 32 + b"\x22\x05m\x28\x01\x30\x02",
        b"\x12\x21\x05" + b"b" * 32 + b"\x1a\x21\x05" + b"i" * 32 + b"\x22\x00m\x28\x01\x30\x02",
        # an overlong varint, a uint32 varint over 32 bits, no registration id
        b"\x08\x81\x00\x12\x21\x05"
        + b"b" * 32
        + b"\x1a\x21\x05"
        + b"i" * 32
        + b"\x22\x00\x28\x01\x30\x02",
        b"\x08\xff\xff\xff\xff\x7f\x12\x21\x05"
        + b"b" * 32
        + b"\x1a\x21\x05"
        + b"i" * 32
        + b"\x22\x00\x28\x01\x30\x02",
        b"\x12\x21\x05" + b"b" * 32 + b"\x1a\x21\x05" + b"i" * 32 + b"\x22\x00\x30\x02",
        # keys without their 0x05 prefix
        b"\x12\x21\x06" + b"b" * 32 + b"\x1a\x21\x05" + b"i" * 32 + b"\x22\x00\x28\x01\x30\x02",
        b"\x12\x21\x05" + b"b" * 32 + b"\x1a\x21\x06" + b"i" * 32 + b"\x22\x00\x28\x01\x30\x02",
    ],
    ids=[
        "lookalike",
        "long-length",
        "short-length",
        "overlong",
        "over-32-bits",
        "no-registration-id",
        "base-key-type",
        "identity-key-type",
    ],
)
def test_uncommon_pre_key_shapes_read_as_the_generated_class_reads_them(body: bytes) -> None:
    assert_same_pre_key(b"\x33" + body)


def test_lookalike_message_bytes_stay_in_the_message() -> None:
    body = (
        b"\x12\x21\x05"
        + b"b" * 32
        + b"\x1a\x21\x05"
        + b"i" * 32
        + b"\x22\x04\x28\x01\x30\x02\x28\x07\x30\x09"
    )
    parsed = assert_same_pre_key(b"\x33" + body)
    assert parsed == PreKeyMessage(
        None, 9, b"\x05" + b"b" * 32, b"\x05" + b"i" * 32, 7, b"\x28\x01\x30\x02"
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"base_key": b"\x05" * 20},
        {"identity_key": b""},
        {"pre_key_id": -1},
        {"signed_pre_key_id": 2**32},
        {"registration_id": -5},
    ],
    ids=["short-base-key", "empty-identity-key", "negative-pre-key", "big-signed", "negative-reg"],
)
def test_uncommon_pre_key_encodings_go_through_the_generated_class(
    changes: dict[str, Any],
) -> None:
    args: dict[str, Any] = {
        "pre_key_id": 3,
        "signed_pre_key_id": 4,
        "base_key": b"\x05" + b"b" * 32,
        "identity_key": b"\x05" + b"i" * 32,
        "registration_id": 77,
    } | changes

    def generated() -> bytes:
        pk = PreKeySignalMessage(
            baseKey=args["base_key"],
            identityKey=args["identity_key"],
            message=b"m",
            registrationId=args["registration_id"],
            signedPreKeyId=args["signed_pre_key_id"],
            preKeyId=args["pre_key_id"],
        )
        return b"\x33" + pk.SerializeToString()

    def ours() -> bytes:
        return encode_pre_key_message(b"m", **args)

    try:
        expected: bytes | type[Exception] = generated()
    except ValueError as exc:
        expected = type(exc)
    try:
        got: bytes | type[Exception] = ours()
    except ValueError as exc:
        got = type(exc)
    assert got == expected
