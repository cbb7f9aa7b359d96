"""Parsing protobuf bytes with errors that say what was being parsed (hand-written)."""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from wamd.errors import ProtoDecodeError

__all__ = ["decode_proto"]

M = TypeVar("M", bound=Message)


def decode_proto(cls: type[M], data: bytes, what: str) -> M:
    """Parse ``data`` as a ``cls`` message; ``what`` names the bytes for the error message.

    Raises :class:`~wamd.errors.ProtoDecodeError` if ``data`` is not a valid encoding of
    ``cls`` (truncated, a bad tag or wire type, a nested message that does not parse).
    Unknown fields are kept, as protobuf does, so newer peers stay readable.
    """
    msg = cls()
    try:
        msg.ParseFromString(data)
    except DecodeError as exc:
        raise ProtoDecodeError(
            f"{what}: {len(data)} bytes are not a valid {cls.DESCRIPTOR.full_name} ({exc})"
        ) from exc
    return msg
