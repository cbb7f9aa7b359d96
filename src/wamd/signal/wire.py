"""The pairwise Signal wire messages: ``msg`` (SignalMessage) and ``pkmsg`` (PreKeySignalMessage).

Formats (protocol.md §6.4), version 3 only:

- ``msg``: ``0x33 || SignalMessage protobuf || mac8``;
- ``pkmsg``: ``0x33 || PreKeySignalMessage protobuf`` whose ``message`` is a whole ``msg``.

Parsing checks the version byte, the length and the fields a message must carry, and
raises :class:`~wamd.errors.InvalidMessageError` saying what is wrong. MACs are checked
by the cipher, which has the keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from google.protobuf.message import DecodeError

from wamd._proto.signal_pb2 import PreKeySignalMessage, SignalMessage
from wamd.errors import InvalidMessageError

__all__ = [
    "MAC_LEN",
    "VERSION_BYTE",
    "ParsedSignalMessage",
    "PreKeyMessage",
    "encode_pre_key_message",
    "encode_signal_message_body",
    "parse_signal_message",
]

VERSION = 3
VERSION_BYTE = (VERSION << 4) | VERSION
"""0x33: current and minimum version 3, the only version WhatsApp speaks."""
MAC_LEN = 8
_KEY_LEN = 33
_VERSION_PREFIX = bytes((VERSION_BYTE,))
_KEY_TAG = bytes((0x0A, _KEY_LEN))


def _check_version(data: bytes, what: str) -> None:
    if not data:
        raise InvalidMessageError(f"{what} is empty")
    if data[0] != VERSION_BYTE:
        raise InvalidMessageError(
            f"{what} has version byte 0x{data[0]:02x}; only 0x{VERSION_BYTE:02x} (v3) is spoken"
        )


def _check_key(key: bytes, field: str, what: str) -> None:
    if len(key) != _KEY_LEN or key[0] != 0x05:
        raise InvalidMessageError(f"{what}: {field} is not a 33-byte 0x05-prefixed public key")


class ParsedSignalMessage(NamedTuple):
    """A parsed ``msg``: its fields, the protobuf bytes the MAC covers, and the MAC.

    A named tuple rather than a frozen dataclass: it is made for every message received,
    and a frozen dataclass costs about 0.5 µs more to construct.
    """

    ratchet_key: bytes
    counter: int
    previous_counter: int
    ciphertext: bytes
    serialized: bytes
    mac: bytes


_TWO_BYTES = 1 << 14
"""Every value below this is a varint of one or two bytes."""


class _VarintValues(dict[bytes, int]):
    """Values of one- and two-byte varints by their bytes, filled as they are met.

    Only canonical one- and two-byte varints are looked up, so it never holds more than
    ``_TWO_BYTES`` entries.
    """

    def __missing__(self, key: bytes) -> int:
        value = self[key] = key[0] if len(key) == 1 else (key[0] & 0x7F) | (key[1] << 7)
        return value


class _VarintBytes(dict[int, bytes]):
    """Varint bytes of values in ``range(_TWO_BYTES)``, filled as they are met."""

    def __missing__(self, key: int) -> bytes:
        value = self[key] = _varint(key)
        return value


_VARINT_VALUES = _VarintValues()
_VARINT_BYTES = _VarintBytes()
_MAX_UINT32 = (1 << 32) - 1

# The shape our encoder, the generated class and libsignal-node's protobufjs all write: the
# four fields in order, once each, a 0x05-prefixed 33-byte key, counters and ciphertext
# length as canonical varints of one or two bytes. Anything else (other field orders,
# repeats, unknown fields, longer varints, damage) goes through the generated class.
_ONE_OR_TWO_BYTE_VARINT = rb"([\x00-\x7f]|[\x80-\xff][\x01-\x7f])"
_COMMON_SIGNAL_MESSAGE = re.compile(
    rb"\x33(\x0a\x21(\x05.{32})\x10"
    + _ONE_OR_TWO_BYTE_VARINT
    + rb"\x18"
    + _ONE_OR_TWO_BYTE_VARINT
    + rb"\x22"
    + _ONE_OR_TWO_BYTE_VARINT
    + rb"(.*))(.{8})",
    re.DOTALL,
).fullmatch
_new_tuple = tuple.__new__


def parse_signal_message(data: bytes) -> ParsedSignalMessage:
    """Parse a whole ``msg`` (version byte, protobuf, MAC)."""
    m = _COMMON_SIGNAL_MESSAGE(data)
    if m is not None:
        body, key, counter, previous, length, ciphertext, mac = m.groups()
        values = _VARINT_VALUES
        if len(ciphertext) == values[length]:
            return _new_tuple(
                ParsedSignalMessage,
                (key, values[counter], values[previous], ciphertext, body, mac),
            )
    return _parse_signal_message_generic(data)


def _parse_signal_message_generic(data: bytes) -> ParsedSignalMessage:
    """:func:`parse_signal_message` through the generated class: any field order, any error."""
    what = "signal message"
    _check_version(data, what)
    if len(data) < 1 + MAC_LEN + 1:
        raise InvalidMessageError(f"{what} is truncated: {len(data)} bytes")
    body = data[1:-MAC_LEN]
    msg = SignalMessage()
    try:
        msg.ParseFromString(body)
    except DecodeError:
        raise InvalidMessageError(f"{what}: {len(body)} protobuf bytes do not parse") from None
    if not (msg.HasField("ratchetKey") and msg.HasField("counter") and msg.HasField("ciphertext")):
        raise InvalidMessageError(f"{what} lacks its ratchet key, counter or ciphertext")
    _check_key(msg.ratchetKey, "ratchet key", what)
    return ParsedSignalMessage(
        msg.ratchetKey, msg.counter, msg.previousCounter, msg.ciphertext, body, data[-MAC_LEN:]
    )


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_signal_message_body(
    ratchet_key: bytes, counter: int, previous_counter: int, ciphertext: bytes
) -> bytes:
    """The protobuf part of a ``msg`` (what goes between the version byte and the MAC).

    Written by hand (it is on every message's path) in the canonical field order the
    generated class and libsignal-node's protobufjs use. A previous counter of -1 (a
    sending chain that was never used) is sent as 0: libsignal-node would send it as
    2^32-1, which receivers then refuse as too far ahead.
    """
    table = _VARINT_BYTES
    if 0 <= counter < _TWO_BYTES:
        counter_bytes = table[counter]
    elif 0 <= counter <= _MAX_UINT32:
        counter_bytes = _varint(counter)
    else:
        raise InvalidMessageError(f"message counter {counter} does not fit the wire format")
    if 0 <= previous_counter < _TWO_BYTES:
        previous_bytes = table[previous_counter]
    else:
        previous_bytes = _varint(min(max(previous_counter, 0), _MAX_UINT32))
    n = len(ciphertext)
    key_len = len(ratchet_key)
    return b"".join(
        (
            _KEY_TAG if key_len == _KEY_LEN else b"\x0a" + _varint(key_len),
            ratchet_key,
            b"\x10",
            counter_bytes,
            b"\x18",
            previous_bytes,
            b"\x22",
            table[n] if n < _TWO_BYTES else _varint(n),
            ciphertext,
        )
    )


@dataclass(frozen=True, slots=True)
class PreKeyMessage:
    """A parsed ``pkmsg``: which of our pre-keys it used, the sender's keys, the inner ``msg``.

    Parse one first to learn which pre-keys to load, then pass it to
    :func:`wamd.signal.session_cipher.decrypt_pre_key_message`.
    """

    pre_key_id: int | None
    signed_pre_key_id: int
    base_key: bytes
    identity_key: bytes
    registration_id: int
    message: bytes

    @classmethod
    def parse(cls, data: bytes) -> PreKeyMessage:
        """Parse a whole ``pkmsg`` (version byte and protobuf)."""
        m = _COMMON_PRE_KEY_MESSAGE(data)
        if m is not None:
            pre_key_id, base_key, identity_key, length, message, registration_id, signed = (
                m.groups()
            )
            if len(message) == _varint_value(length):
                return cls(
                    None if pre_key_id is None else _varint_value(pre_key_id),
                    _varint_value(signed),
                    base_key,
                    identity_key,
                    _varint_value(registration_id),
                    message,
                )
        return _parse_pre_key_message_generic(data)


def _parse_pre_key_message_generic(data: bytes) -> PreKeyMessage:
    """:meth:`PreKeyMessage.parse` through the generated class: any field order, any error."""
    what = "pre-key signal message"
    _check_version(data, what)
    msg = PreKeySignalMessage()
    try:
        msg.ParseFromString(data[1:])
    except DecodeError:
        raise InvalidMessageError(f"{what}: {len(data) - 1} protobuf bytes do not parse") from None
    for field in ("baseKey", "identityKey", "message", "signedPreKeyId"):
        if not msg.HasField(field):
            raise InvalidMessageError(f"{what} lacks field {field}")
    _check_key(msg.baseKey, "base key", what)
    _check_key(msg.identityKey, "identity key", what)
    return PreKeyMessage(
        msg.preKeyId if msg.HasField("preKeyId") else None,
        msg.signedPreKeyId,
        msg.baseKey,
        msg.identityKey,
        msg.registrationId,
        msg.message,
    )


# A canonical varint of a uint32: one to five bytes, the last without its high bit and not
# zero (unless it is the only byte), a fifth byte carrying at most four bits.
_UINT32_VARINT = (
    rb"([\x00-\x7f]|[\x80-\xff][\x01-\x7f]|[\x80-\xff]{2}[\x01-\x7f]"
    rb"|[\x80-\xff]{3}[\x01-\x7f]|[\x80-\xff]{4}[\x01-\x0f])"
)
# The shape the generated class and libsignal-node write: fields in number order, once each,
# the pre-key id optional, the registration id present. The message's declared length is
# checked against what the pattern gave it; any other input goes through the generated class.
_COMMON_PRE_KEY_MESSAGE = re.compile(
    rb"\x33(?:\x08"
    + _UINT32_VARINT
    + rb")?\x12\x21(\x05.{32})\x1a\x21(\x05.{32})\x22"
    + _UINT32_VARINT
    + rb"(.*)\x28"
    + _UINT32_VARINT
    + rb"\x30"
    + _UINT32_VARINT,
    re.DOTALL,
).fullmatch


def _varint_value(data: bytes) -> int:
    """The value of one canonical varint of at most five bytes."""
    if len(data) <= 2:
        return _VARINT_VALUES[data]
    value = 0
    for shift, byte in enumerate(data):
        value |= (byte & 0x7F) << (7 * shift)
    return value


_PRE_KEY_ID_TAG = _VERSION_PREFIX + b"\x08"
_BASE_KEY_TAG = bytes((0x12, _KEY_LEN))
_IDENTITY_KEY_TAG = bytes((0x1A, _KEY_LEN))


def _uint32_varint(n: int) -> bytes:
    return _VARINT_BYTES[n] if n < _TWO_BYTES else _varint(n)


def encode_pre_key_message(
    message: bytes,
    *,
    pre_key_id: int | None,
    signed_pre_key_id: int,
    base_key: bytes,
    identity_key: bytes,
    registration_id: int,
) -> bytes:
    """A whole ``pkmsg``: version byte and protobuf wrapping the ``msg`` bytes."""
    if (
        len(base_key) == _KEY_LEN
        and len(identity_key) == _KEY_LEN
        and 0 <= signed_pre_key_id <= _MAX_UINT32
        and 0 <= registration_id <= _MAX_UINT32
        and (pre_key_id is None or 0 <= pre_key_id <= _MAX_UINT32)
    ):
        return b"".join(
            (
                _VERSION_PREFIX if pre_key_id is None else _PRE_KEY_ID_TAG,
                b"" if pre_key_id is None else _uint32_varint(pre_key_id),
                _BASE_KEY_TAG,
                base_key,
                _IDENTITY_KEY_TAG,
                identity_key,
                b"\x22",
                _uint32_varint(len(message)),
                message,
                b"\x28",
                _uint32_varint(registration_id),
                b"\x30",
                _uint32_varint(signed_pre_key_id),
            )
        )
    # Other key lengths, and the generated class's own errors for out-of-range ids.
    pk = PreKeySignalMessage(
        baseKey=base_key,
        identityKey=identity_key,
        message=message,
        registrationId=registration_id,
        signedPreKeyId=signed_pre_key_id,
    )
    if pre_key_id is not None:
        pk.preKeyId = pre_key_id
    return _VERSION_PREFIX + pk.SerializeToString()
