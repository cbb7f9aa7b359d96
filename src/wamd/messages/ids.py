"""Message ids and iq tags (protocol.md §6.8, §1.7).

A message id is ``3EB0`` followed by the first 18 upper-case hex digits of SHA-256 over
the time, our own user and 16 random bytes, as WhatsApp Web makes them. The time and the
randomness are passed in, so ids are reproducible in tests.
"""

from __future__ import annotations

import hashlib
import os

from wamd.errors import UsageError

__all__ = ["MESSAGE_ID_PREFIX", "TagGenerator", "generate_message_id"]

MESSAGE_ID_PREFIX = "3EB0"
"""Every message id we make starts with this."""

_USER_AREA = 20
_RANDOM_LEN = 16


def generate_message_id(me: str | None, *, now_s: int, random: bytes | None = None) -> str:
    """A new 22-character message id for a message sent by account ``me`` at ``now_s``.

    ``me`` is our own JID (any form; only its user part counts) or None before pairing;
    ``random`` is 16 random bytes (fresh ones if omitted).
    """
    rand = os.urandom(_RANDOM_LEN) if random is None else random
    if len(rand) != _RANDOM_LEN:
        raise UsageError(f"a message id needs {_RANDOM_LEN} random bytes, got {len(rand)}")
    if not 0 <= now_s < 2**64:
        raise UsageError(f"message id time {now_s} is out of range")
    area = bytearray(_USER_AREA)
    user = _user_of(me)
    if user:
        # The user and "@c.us" go into a zero-filled 20-byte area; longer text is cut.
        text = (user + "@c.us").encode()[:_USER_AREA]
        area[: len(text)] = text
    digest = hashlib.sha256(now_s.to_bytes(8, "big") + bytes(area) + rand).hexdigest()
    return MESSAGE_ID_PREFIX + digest[:18].upper()


def _user_of(jid: str | None) -> str:
    if not jid or "@" not in jid:
        return ""
    return jid.partition("@")[0].partition(":")[0].partition("_")[0]


class TagGenerator:
    """Ids for the iq stanzas of one connection: ``<prefix>-1``, ``<prefix>-2``, ...

    The prefix is two 16-bit numbers from 4 random bytes (``"62035.49100-"``), so tags of
    different connections do not collide.
    """

    __slots__ = ("_next", "_prefix")

    def __init__(self, random: bytes | None = None) -> None:
        rand = os.urandom(4) if random is None else random
        if len(rand) != 4:
            raise UsageError(f"an iq tag prefix needs 4 random bytes, got {len(rand)}")
        self._prefix = f"{int.from_bytes(rand[:2], 'big')}.{int.from_bytes(rand[2:], 'big')}-"
        self._next = 1

    @property
    def prefix(self) -> str:
        """The part every tag of this generator starts with."""
        return self._prefix

    def __call__(self) -> str:
        """The next tag."""
        tag = f"{self._prefix}{self._next}"
        self._next += 1
        return tag
