"""Parsing protobuf bytes with errors that say what was being parsed (hand-written)."""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message

from wamd.errors import ProtoDecodeError

__all__ = ["decode_proto"]

M = TypeVar("M", bound=Message)

_STRING = FieldDescriptor.TYPE_STRING
_MESSAGE = FieldDescriptor.TYPE_MESSAGE


def decode_proto(cls: type[M], data: bytes | bytearray | memoryview, what: str) -> M:
    """Parse ``data`` as a ``cls`` message; ``what`` names the bytes for the error message.

    Raises :class:`~wamd.errors.ProtoDecodeError` if ``data`` is not a valid encoding of
    ``cls``: truncated, a bad tag or wire type, a nested message that does not parse,
    nesting deeper than protobuf's limit, or a string field that is not UTF-8. Unknown
    fields are kept, as protobuf does, so messages from newer peers stay readable.
    """
    msg = cls()
    try:
        msg.ParseFromString(bytes(data))  # bytes(b) is b itself: no copy for bytes
    except DecodeError as exc:
        raise ProtoDecodeError(
            f"{what}: {len(data)} bytes are not a valid {cls.DESCRIPTOR.full_name} ({exc})"
        ) from exc
    bad = _first_non_utf8_string(msg, cls.DESCRIPTOR.name)
    if bad is not None:
        raise ProtoDecodeError(
            f"{what}: string field {bad} of {cls.DESCRIPTOR.full_name} is not valid UTF-8"
        )
    return msg


def _first_non_utf8_string(msg: Message, path: str) -> str | None:
    # proto2 does not check UTF-8 on parse; protobuf's Python runtime then hands out such a
    # string field as ``bytes``, which code typed for ``str`` would trip over much later.
    for field, value in msg.ListFields():
        where = f"{path}.{field.name}"
        if field.type == _STRING:
            values = value if field.is_repeated else [value]
            if any(isinstance(v, bytes) for v in values):
                return where
        elif field.type == _MESSAGE:
            if field.is_repeated:
                for i, sub in enumerate(value):
                    found = _first_non_utf8_string(sub, f"{where}[{i}]")
                    if found is not None:
                        return found
            else:
                found = _first_non_utf8_string(value, where)
                if found is not None:
                    return found
    return None
