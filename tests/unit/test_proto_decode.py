"""decode_proto: valid bytes give equal messages, bad bytes give ProtoDecodeError."""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.proto_support import all_message_descriptors, messages
from wamd._proto import decode_proto
from wamd._proto.adv_pb2 import ADVSignedDeviceIdentityHMAC
from wamd._proto.handshake_pb2 import CertChain, HandshakeMessage
from wamd._proto.message_pb2 import ContextInfo
from wamd._proto.message_pb2 import Message as WAMessage
from wamd.errors import ProtoDecodeError, WamdError

MESSAGE_TYPES = all_message_descriptors()


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _ld(field: int, body: bytes) -> bytes:
    """A length-delimited field: tag, length, body."""
    return _varint(field << 3 | 2) + _varint(len(body)) + body


@pytest.mark.parametrize("desc", MESSAGE_TYPES, ids=lambda d: d.full_name)
def test_decode_proto_gives_back_the_encoded_message(desc: Descriptor) -> None:
    cls = GetMessageClass(desc)

    @settings(max_examples=30, deadline=None, database=None)
    @given(messages(desc))
    def check(msg: Message) -> None:
        back = decode_proto(cls, msg.SerializeToString(), "test bytes")
        assert type(back) is cls
        assert back == msg
        assert back.SerializeToString() == msg.SerializeToString()

    check()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x12\x05\x00", id="length past the end"),
        pytest.param(b"\x00", id="field number zero"),
        pytest.param(b"\x0f", id="wire type 7"),
        pytest.param(b"\x0c", id="end group without start"),
        pytest.param(b"\x08", id="tag without value"),
        pytest.param(b"\x08\x80", id="truncated varint"),
        pytest.param(b"\x08" + b"\xff" * 10 + b"\x01", id="varint over 10 bytes"),
        pytest.param(_ld(2, b"\x0a\xff"), id="nested message truncated"),
        pytest.param(b"\x15\x00\x00", id="truncated fixed32"),
    ],
)
def test_bad_bytes_raise_proto_decode_error_naming_what_and_type(data: bytes) -> None:
    with pytest.raises(ProtoDecodeError) as info:
        decode_proto(HandshakeMessage, data, "server hello frame")
    text = str(info.value)
    assert text.startswith("server hello frame: ")
    assert "wamd.handshake.HandshakeMessage" in text
    assert isinstance(info.value, WamdError)


def test_any_bytes_like_input_is_accepted() -> None:
    data = HandshakeMessage(
        clientHello=HandshakeMessage.ClientHello(ephemeral=b"e")
    ).SerializeToString()
    for form in (data, bytearray(data), memoryview(data)):
        assert decode_proto(HandshakeMessage, form, "hello").clientHello.ephemeral == b"e"
    with pytest.raises(ProtoDecodeError, match="hello: 1 bytes"):
        decode_proto(HandshakeMessage, memoryview(b"\x0f"), "hello")


def test_empty_bytes_are_an_empty_message() -> None:
    msg = decode_proto(CertChain, b"", "cert chain")
    assert msg == CertChain()
    assert not msg.HasField("leaf")


def test_unknown_fields_survive_a_decode_and_re_encode() -> None:
    known = ADVSignedDeviceIdentityHMAC(details=b"d", hmac=b"h")
    data = known.SerializeToString() + _ld(99, b"from a newer peer")
    msg = decode_proto(ADVSignedDeviceIdentityHMAC, data, "device identity")
    assert msg.details == b"d"
    assert msg.SerializeToString() == data


def test_string_that_is_not_utf8_is_refused_with_its_path() -> None:
    good = WAMessage(
        extendedTextMessage=WAMessage.ExtendedTextMessage(
            text="hi", contextInfo=ContextInfo(mentionedJid=["a@s.whatsapp.net", "XY"])
        )
    ).SerializeToString()
    bad = good.replace(b"XY", b"\xff\xfe")
    assert decode_proto(WAMessage, good, "message").extendedTextMessage.text == "hi"
    with pytest.raises(ProtoDecodeError, match=r"extendedTextMessage\.contextInfo\.mentionedJid"):
        decode_proto(WAMessage, bad, "message")
    with pytest.raises(ProtoDecodeError, match=r"Message\.conversation .* not valid UTF-8"):
        decode_proto(WAMessage, _ld(1, b"\xc3"), "message")


def test_string_in_repeated_nested_message_is_checked() -> None:
    inner = WAMessage(conversation="ok").SerializeToString()
    quoted = _ld(3, _ld(1, b"\x80"))  # ContextInfo.quotedMessage.conversation
    data = _ld(6, _ld(17, quoted))  # Message.extendedTextMessage.contextInfo
    assert decode_proto(WAMessage, inner, "m").conversation == "ok"
    with pytest.raises(ProtoDecodeError, match=r"quotedMessage\.conversation"):
        decode_proto(WAMessage, data, "m")


def test_nesting_beyond_the_depth_limit_is_refused() -> None:
    data = _ld(1, b"x")
    for _ in range(200):  # Message.deviceSentMessage (31) -> DeviceSentMessage.message (2)
        data = _ld(31, _ld(2, data))
    with pytest.raises(ProtoDecodeError, match="deep message"):
        decode_proto(WAMessage, data, "deep message")


@settings(max_examples=300, deadline=None, database=None)
@given(st.binary(max_size=64), st.sampled_from(MESSAGE_TYPES))
def test_random_bytes_either_parse_or_raise_proto_decode_error(
    data: bytes, desc: Descriptor
) -> None:
    cls = GetMessageClass(desc)
    try:
        msg = decode_proto(cls, data, "fuzz")
    except ProtoDecodeError:
        return
    assert isinstance(msg, cls)
    # Whatever parsed re-encodes and parses again to the same message.
    assert decode_proto(cls, msg.SerializeToString(), "again") == msg
