"""Test support for wamd._proto: every generated message type, random messages, and the
plain-object form the Baileys oracle speaks (protobufjs ``fromObject``/``toObject``)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from types import ModuleType
from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import strategies as st

from wamd._proto import adv_pb2, client_payload_pb2, handshake_pb2, message_pb2, signal_pb2

MODULES: tuple[ModuleType, ...] = (
    handshake_pb2,
    client_payload_pb2,
    adv_pb2,
    signal_pb2,
    message_pb2,
)

T = FieldDescriptor
_INT_RANGES: dict[int, tuple[int, int]] = {
    T.TYPE_INT32: (-(2**31), 2**31 - 1),
    T.TYPE_SINT32: (-(2**31), 2**31 - 1),
    T.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    T.TYPE_UINT32: (0, 2**32 - 1),
    T.TYPE_FIXED32: (0, 2**32 - 1),
    T.TYPE_INT64: (-(2**63), 2**63 - 1),
    T.TYPE_SINT64: (-(2**63), 2**63 - 1),
    T.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    T.TYPE_UINT64: (0, 2**64 - 1),
    T.TYPE_FIXED64: (0, 2**64 - 1),
}
# 64-bit integers travel as decimal strings to and from protobufjs (no precision loss).
LONG_TYPES = frozenset(
    {T.TYPE_INT64, T.TYPE_SINT64, T.TYPE_SFIXED64, T.TYPE_UINT64, T.TYPE_FIXED64}
)

# Short texts over all of Unicode except lone surrogates (not encodable as UTF-8).
_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)


def _nested_messages(desc: Descriptor) -> Iterator[Descriptor]:
    yield desc
    for sub in desc.nested_types:
        yield from _nested_messages(sub)


def _nested_enums(desc: Descriptor) -> Iterator[EnumDescriptor]:
    yield from desc.enum_types
    for sub in desc.nested_types:
        yield from _nested_enums(sub)


def all_message_descriptors() -> list[Descriptor]:
    """Every message type in every generated module, nested ones included."""
    return [
        d
        for mod in MODULES
        for top in mod.DESCRIPTOR.message_types_by_name.values()
        for d in _nested_messages(top)
    ]


def all_enum_descriptors() -> list[EnumDescriptor]:
    """Every enum type in every generated module, nested ones included."""
    out: list[EnumDescriptor] = []
    for mod in MODULES:
        out.extend(mod.DESCRIPTOR.enum_types_by_name.values())
        for top in mod.DESCRIPTOR.message_types_by_name.values():
            out.extend(_nested_enums(top))
    return out


def wa_name(full_name: str, package: str) -> str:
    """Our ``wamd.<domain>.X.Y`` name as Baileys' dotted WAProto name ``X.Y``."""
    return full_name.removeprefix(package + ".")


def _scalar_strategy(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    if field.type == T.TYPE_BOOL:
        return st.booleans()
    if field.type in _INT_RANGES:
        lo, hi = _INT_RANGES[field.type]
        return st.integers(lo, hi)
    if field.type == T.TYPE_STRING:
        return _TEXT
    if field.type == T.TYPE_BYTES:
        return st.binary(max_size=40)
    if field.type == T.TYPE_ENUM and field.enum_type is not None:
        return st.sampled_from([v.number for v in field.enum_type.values])
    raise AssertionError(f"no strategy for {field.full_name} (type {field.type})")


@cache
def messages(desc: Descriptor, depth: int = 2) -> st.SearchStrategy[Message]:
    """Random messages of type ``desc``: each optional field present or absent, repeated
    fields of 0-3 items, nested messages down to ``depth`` more levels."""
    cls = GetMessageClass(desc)
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in desc.fields:
        if field.message_type is not None:
            if depth == 0:
                continue
            value: st.SearchStrategy[Any] = messages(field.message_type, depth - 1)
        else:
            value = _scalar_strategy(field)
        if field.is_repeated:
            fields[field.name] = st.lists(value, max_size=3)
        else:
            fields[field.name] = st.none() | value

    def build(values: dict[str, Any]) -> Message:
        msg = cls()
        for name, v in values.items():
            field = desc.fields_by_name[name]
            if field.is_repeated:
                getattr(msg, name).extend(v)
            elif v is None:
                continue
            elif field.type == T.TYPE_MESSAGE:
                sub = getattr(msg, name)
                sub.SetInParent()
                sub.MergeFrom(v)
            else:
                setattr(msg, name, v)
        return msg

    return st.fixed_dictionaries(fields).map(build)


def _plain(field: FieldDescriptor, value: Any) -> Any:
    if field.type == T.TYPE_MESSAGE:
        return to_plain(value)
    if field.type in LONG_TYPES:
        return str(value)
    return value


def to_plain(msg: Message, renames: dict[str, str] | None = None) -> dict[str, Any]:
    """``msg`` as the plain object protobufjs' ``toObject`` gives with ``longs: String,
    enums: Number, bytes: Buffer, defaults: false`` (and ``fromObject`` accepts): only set
    fields, 64-bit integers as decimal strings. ``renames`` maps our top-level field names
    to another schema's."""
    out: dict[str, Any] = {}
    for field, value in msg.ListFields():
        name = (renames or {}).get(field.name, field.name)
        if field.is_repeated:
            out[name] = [_plain(field, v) for v in value]
        else:
            out[name] = _plain(field, value)
    return out
