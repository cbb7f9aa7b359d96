"""WhatsApp's random padding of plaintexts before Signal encryption (protocol.md §6.7)."""

from __future__ import annotations

import os

from wamd.errors import InvalidMessageError

__all__ = ["pad", "unpad"]


def pad(plaintext: bytes, random_byte: int | None = None) -> bytes:
    """Append 1..16 bytes, each equal to the count, chosen by a random byte.

    ``random_byte`` (0..255) makes the choice deterministic; fresh randomness otherwise.
    """
    r = os.urandom(1)[0] if random_byte is None else random_byte
    n = (r & 0x0F) + 1
    return plaintext + bytes((n,)) * n


def unpad(padded: bytes) -> bytes:
    """Strip WhatsApp padding; raise InvalidMessageError if it cannot be padding.

    The last byte gives the pad length; a length of 0 or one longer than the buffer is
    refused. The other pad bytes are not compared, as Baileys does not compare them
    (a stricter check could refuse messages real peers accept).
    """
    if not padded:
        raise InvalidMessageError("padded plaintext is empty")
    n = padded[-1]
    if n == 0:
        raise InvalidMessageError("padding length byte is 0")
    if n > len(padded):
        raise InvalidMessageError(
            f"padding length {n} is longer than the {len(padded)}-byte plaintext"
        )
    return padded[:-n]
