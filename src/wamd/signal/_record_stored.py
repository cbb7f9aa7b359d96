"""The stored form of native session records: read fast, written back as they were.

A record in the canonical layout :mod:`wamd.signal._record_native` writes is read with
a few compiled patterns; :func:`decode_stored` declines anything else (records holding
stored message keys among them), which then goes through the generated class and its C
parser. A record is read before and written back after every operation, yet one message
changes only one chain and a few fields of one session, so what is read keeps its
stored form while it stays the same:

- each chain remembers its stored bytes with the counter and key they hold, and is
  written back from them while it still holds those values and no message keys;
- a session is a :class:`StoredState` until one of fields 1 to 12 other than ``used``
  is assigned; until then those fields are written back from their stored bytes
  (``used`` too, until it is assigned), and ``used`` and ``created`` are only decoded
  when read.

Only canonical encodings are read this way, so the bytes written back are exactly the
bytes the encoder would write for the same values.
"""

from __future__ import annotations

import re

from wamd.signal.session_state import Chain, PendingPreKey, SessionState

__all__ = ["PUB_LEN", "StoredState", "decode_stored"]

PUB_LEN = 33
# Canonical varints only (no trailing zero groups): an unsigned one of at most 28 bits
# and a zigzag one of at most 56 bits. Longer or padded ones take the generic path.
_U = rb"(?:[\x00-\x7f]|[\x80-\xff]{1,3}[\x01-\x7f])"
_S = rb"(?:[\x00-\x7f]|[\x80-\xff]{1,7}[\x01-\x7f])"
# Fields 1 to 12 of a session, in order, keys of their usual sizes. Groups: the bytes
# of fields 1 to 9 and their values, the bytes of field 10 (``used``), the bytes of
# fields 11 and 12 and the value of field 12.
_HEADER = re.compile(
    rb"(\x08(" + _U + rb")\x12\x21(.{33})\x1a\x20(.{32})\x22\x21(.{33})\x28(" + _S + rb")"
    rb"\x32\x20(.{32})\x3a\x21(.{33})\x40(" + _U + rb")\x48(" + _S + rb"))"
    rb"(\x50" + _S + rb")"
    rb"(\x58" + _S + rb"\x62\x21(.{33}))",
    re.DOTALL,
)
# A chain without stored message keys, with its tag and one-byte length: the length,
# its ratchet key, then the rest (type, counter, key if open), whose bytes a stored
# chain keeps, and their values.
_CHAIN = re.compile(
    rb"\x6a([\x00-\x7f])\x0a\x21(.{33})(\x10([\x00-\x7f])\x18(" + _S + rb")(?:\x22\x20(.{32}))?)",
    re.DOTALL,
)
_PENDING = re.compile(rb"\x08(" + _U + rb")\x12\x21(.{33})(?:\x18(" + _U + rb"))?", re.DOTALL)

_ZIGZAG_BYTE = [(i >> 1) ^ -(i & 1) for i in range(128)]


def _varint_value(raw: bytes) -> int:
    """The value of a varint of at most eight bytes (seven-bit groups, low first)."""
    n = len(raw)
    if n == 1:
        return raw[0]
    if n == 2:
        return (raw[0] & 0x7F) | raw[1] << 7
    if n == 3:
        return (raw[0] & 0x7F) | (raw[1] & 0x7F) << 7 | raw[2] << 14
    # Squeeze the seven-bit groups of the little-endian integer together, pairwise.
    x = int.from_bytes(raw, "little") & 0x7F7F7F7F7F7F7F7F
    x = (x & 0x007F007F007F007F) | ((x & 0x7F007F007F007F00) >> 1)
    x = (x & 0x00003FFF00003FFF) | ((x & 0x3FFF00003FFF0000) >> 2)
    return (x & 0x0FFFFFFF) | ((x & 0x0FFFFFFF00000000) >> 4)


def _zigzag_value(raw: bytes) -> int:
    """The value of a zigzag varint (sint64) of at most eight bytes."""
    if len(raw) == 1:
        return _ZIGZAG_BYTE[raw[0]]
    z = _varint_value(raw)
    return (z >> 1) ^ -(z & 1)


# Fields kept in a stored state's bytes (all of fields 1 to 12 except ``used``).
_STORED_STATE_FIELDS = frozenset(
    (
        "registration_id",
        "ephemeral_public",
        "ephemeral_private",
        "last_remote_ephemeral",
        "previous_counter",
        "root_key",
        "base_key",
        "base_key_type",
        "closed",
        "created",
        "remote_identity_key",
    )
)


class StoredState(SessionState):
    """A session read from a record whose stored fields have not been assigned since.

    ``stored_form`` holds the bytes of fields 1 to 9, of field 10 (``used``; None once
    assigned) and of fields 11 and 12: the encoder writes those back and encodes the
    chains and the pending pre-key. ``used`` and ``created`` are decoded from them when
    first read. Assigning any field other than ``used``, ``chains``, ``pending_pre_key``
    or ``ephemeral_key_cache`` first turns the state into a plain :class:`SessionState`.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> object:
        # Only called for an unset slot: ``used`` or ``created`` not decoded yet.
        stored = self.stored_form
        if stored is None:
            raise AttributeError(name)
        if name == "used":
            raw = stored[1]
            if raw is None:
                raise AttributeError(name)
            value = _zigzag_value(raw[1:])
        elif name == "created":
            value = _zigzag_value(stored[2][1:-35])
        else:
            raise AttributeError(name)
        object.__setattr__(self, name, value)
        return value

    def __setattr__(self, name: str, value: object) -> None:
        if name == "used":
            stored = self.stored_form
            if stored is not None:
                object.__setattr__(self, "stored_form", (stored[0], None, stored[2]))
        elif name in _STORED_STATE_FIELDS:
            _ = self.used, self.created  # decoded before the bytes are let go
            object.__setattr__(self, "__class__", SessionState)
            object.__setattr__(self, "stored_form", None)
        object.__setattr__(self, name, value)


_set_attr = object.__setattr__


def decode_stored(data: bytes) -> dict[bytes, SessionState] | None:
    """The states of a record in the canonical layout by base key, or None for other bytes.

    Never raises: bytes it declines may still be a valid record in another layout, or
    damaged; the generic reader decides.
    """
    if data[:2] != b"\x08\x01":
        return None
    end = len(data)
    pos = 2
    states: dict[bytes, SessionState] = {}
    header = _HEADER.match
    chain_match = _CHAIN.match
    while pos < end:
        if data[pos] != 0x12 or pos + 1 == end:
            return None
        n = data[pos + 1]
        if n < 0x80:
            pos += 2
        else:
            high = data[pos + 2] if pos + 2 < end else 0
            if not 0 < high < 0x80:
                return None
            n = (n & 0x7F) | high << 7
            pos += 3
        stop = pos + n
        if stop > end:
            return None
        h = header(data, pos, stop)
        if h is None:
            return None
        (
            head,
            rid,
            eph_pub,
            eph_priv,
            last,
            prev,
            root,
            base,
            bkt,
            closed,
            used,
            tail,
            remote,
        ) = h.groups()
        p = h.end()
        chains: dict[bytes, Chain] = {}
        while (c := chain_match(data, p, stop)) is not None:
            size, ratchet_key, rest, chain_type, counter_bytes, key = c.groups()
            q = c.end()
            if q - p - 2 != size[0]:
                return None
            counter = (
                _ZIGZAG_BYTE[counter_bytes[0]]
                if len(counter_bytes) == 1
                else _zigzag_value(counter_bytes)
            )
            chain = Chain(chain_type[0], counter, key, {})
            chain.stored_form = (rest, counter, key)
            chains[ratchet_key] = chain
            p = q
        pending = None
        if p < stop and data[p] == 0x72:
            q = p + 2 + data[p + 1] if p + 1 < stop and data[p + 1] < 0x80 else stop + 1
            m = _PENDING.fullmatch(data, p + 2, q) if q <= stop else None
            if m is None:
                return None
            signed_id, pending_base, pre_key_id = m.groups()
            pending = PendingPreKey(
                _varint_value(signed_id),
                pending_base,
                None if pre_key_id is None else _varint_value(pre_key_id),
            )
            p = q
        if p != stop:
            return None
        state = SessionState(
            rid[0] if len(rid) == 1 else _varint_value(rid),
            eph_pub,
            eph_priv,
            last,
            _ZIGZAG_BYTE[prev[0]] if len(prev) == 1 else _zigzag_value(prev),
            root,
            base,
            bkt[0] if len(bkt) == 1 else _varint_value(bkt),
            _ZIGZAG_BYTE[closed[0]] if len(closed) == 1 else _zigzag_value(closed),
            0,
            0,
            remote,
            chains,
            pending,
        )
        # ``used`` and ``created`` (long varints, rarely read) are decoded when first read.
        del state.used, state.created
        state.stored_form = (head, used, tail)
        _set_attr(state, "__class__", StoredState)
        states[base] = state
        pos = stop
    return states
