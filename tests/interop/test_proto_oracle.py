"""Our protobuf schema against Baileys': the same bytes for the same values, both ways.

For every message type in proto/ (nested ones included), random messages are encoded with
our generated classes and, from the same values, by Baileys' protobufjs build of WAProto
(looked up by its dotted name, e.g. ``CertChain.NoiseCertificate.Details``); the bytes must
be identical, Baileys must decode ours to the same values, and we must decode Baileys'
bytes back to an equal message. SignalMessage and PreKeySignalMessage are also checked
against libsignal's own codec (WhisperMessage, PreKeyWhisperMessage), which is what
actually writes them. A schema test compares field numbers, types, packing and enum
values with WAProto.proto as protobufjs parses it.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, given, settings

from tests.conftest import Oracle
from tests.proto_support import (
    all_enum_descriptors,
    all_message_descriptors,
    messages,
    to_plain,
    wa_name,
)
from wamd._proto import signal_pb2

pytestmark = pytest.mark.interop

EXAMPLES = 100

# Types that deliberately declare only some of WAProto's fields (message.proto is the
# subset wamd uses); every other type must declare all of them.
PARTIAL_TYPES = frozenset(
    {
        "Message",
        "Message.ExtendedTextMessage",
        "Message.ProtocolMessage",
        "ContextInfo",
        "MessageContextInfo",
    }
)

MESSAGE_TYPES = all_message_descriptors()
ENUM_TYPES = all_enum_descriptors()


def _name(desc: Descriptor | EnumDescriptor) -> str:
    return wa_name(desc.full_name, desc.file.package)


def _settings() -> settings:
    return settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        database=None,
    )


def _check_against(
    oracle: Oracle, op: str, type_name: str, msg: Message, renames: dict[str, str] | None = None
) -> None:
    ours = msg.SerializeToString()
    plain = to_plain(msg, renames)
    res = oracle.call(op, type=type_name, object=plain, data=ours)
    assert res["encoded"] == ours, f"{type_name}: Baileys encodes {plain!r} differently"
    assert res["decoded"] == plain, f"{type_name}: Baileys decodes our bytes differently"
    back = type(msg).FromString(res["encoded"])
    assert back == msg
    assert back.SerializeToString() == ours


def test_every_type_in_proto_is_covered() -> None:
    names = {_name(d) for d in MESSAGE_TYPES}
    # A few per file, so a module dropped from MODULES is noticed.
    for expected in (
        "HandshakeMessage.ClientFinish",
        "CertChain.NoiseCertificate.Details",
        "ClientPayload.DevicePairingRegistrationData",
        "DeviceProps.HistorySyncConfig",
        "ADVSignedDeviceIdentityHMAC",
        "SenderKeyDistributionMessage",
        "Message.DeviceSentMessage",
        "Message.AppStateSyncKeyData",
    ):
        assert expected in names
    assert len(names) == len(MESSAGE_TYPES), "two proto files declare the same type name"


@pytest.mark.parametrize("desc", MESSAGE_TYPES, ids=_name)
def test_encoding_matches_baileys_both_ways(oracle: Oracle, desc: Descriptor) -> None:
    type_name = _name(desc)

    @_settings()
    @given(messages(desc))
    def check(msg: Message) -> None:
        _check_against(oracle, "proto_encode_decode", type_name, msg)

    check()


@pytest.mark.parametrize(
    ("ours", "theirs", "renames"),
    [
        (signal_pb2.SignalMessage, "WhisperMessage", {"ratchetKey": "ephemeralKey"}),
        (signal_pb2.PreKeySignalMessage, "PreKeyWhisperMessage", {}),
    ],
    ids=["SignalMessage", "PreKeySignalMessage"],
)
def test_signal_messages_match_libsignals_own_codec(
    oracle: Oracle, ours: type[Message], theirs: str, renames: dict[str, str]
) -> None:
    @_settings()
    @given(messages(ours.DESCRIPTOR))
    def check(msg: Message) -> None:
        _check_against(oracle, "libsignal_proto_encode_decode", theirs, msg, renames)

    check()


def _scalar_type_name(field: FieldDescriptor) -> str:
    names = {
        FieldDescriptor.TYPE_BOOL: "bool",
        FieldDescriptor.TYPE_BYTES: "bytes",
        FieldDescriptor.TYPE_STRING: "string",
        FieldDescriptor.TYPE_INT32: "int32",
        FieldDescriptor.TYPE_INT64: "int64",
        FieldDescriptor.TYPE_UINT32: "uint32",
        FieldDescriptor.TYPE_UINT64: "uint64",
        FieldDescriptor.TYPE_SINT32: "sint32",
        FieldDescriptor.TYPE_SINT64: "sint64",
        FieldDescriptor.TYPE_FIXED32: "fixed32",
        FieldDescriptor.TYPE_FIXED64: "fixed64",
        FieldDescriptor.TYPE_SFIXED32: "sfixed32",
        FieldDescriptor.TYPE_SFIXED64: "sfixed64",
        FieldDescriptor.TYPE_FLOAT: "float",
        FieldDescriptor.TYPE_DOUBLE: "double",
    }
    return names[field.type]


def _our_field(field: FieldDescriptor) -> dict[str, Any]:
    if field.message_type is not None:
        kind, type_name = "message", _name(field.message_type)
    elif field.enum_type is not None:
        kind, type_name = "enum", _name(field.enum_type)
    else:
        kind, type_name = "scalar", _scalar_type_name(field)
    return {
        "id": field.number,
        "type": type_name,
        "kind": kind,
        "repeated": field.is_repeated,
        "packed": field.is_packed,
        "oneof": field.containing_oneof.name if field.containing_oneof else None,
    }


def _packable(field: FieldDescriptor) -> bool:
    return field.is_repeated and field.type not in (
        FieldDescriptor.TYPE_MESSAGE,
        FieldDescriptor.TYPE_STRING,
        FieldDescriptor.TYPE_BYTES,
    )


@pytest.mark.parametrize("desc", MESSAGE_TYPES, ids=_name)
def test_fields_match_waproto_schema(oracle: Oracle, desc: Descriptor) -> None:
    type_name = _name(desc)
    schema = oracle.call("proto_schema", type=type_name)
    assert schema["kind"] == "message"
    theirs: dict[str, Any] = schema["fields"]
    for field in desc.fields:
        assert field.name in theirs, f"{type_name}.{field.name} is not in WAProto"
        expected = dict(theirs[field.name])
        if not _packable(field):
            # Packing means nothing for these; protobufjs may still report a flag.
            expected["packed"] = False
        assert _our_field(field) == expected, f"{type_name}.{field.name}"
    if type_name not in PARTIAL_TYPES:
        assert set(desc.fields_by_name) == set(theirs), f"{type_name} lacks WAProto fields"


@pytest.mark.parametrize("desc", ENUM_TYPES, ids=_name)
def test_enum_values_match_waproto_schema(oracle: Oracle, desc: EnumDescriptor) -> None:
    schema = oracle.call("proto_schema", type=_name(desc))
    assert schema["kind"] == "enum"
    assert {v.name: v.number for v in desc.values} == schema["values"]


def test_message_classes_are_the_generated_ones() -> None:
    # GetMessageClass on our descriptors must give the checked-in classes, so the
    # strategies above build exactly what wamd code builds.
    assert GetMessageClass(signal_pb2.SignalMessage.DESCRIPTOR) is signal_pb2.SignalMessage
