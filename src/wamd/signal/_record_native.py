"""wamd's native session-record bytes: the ``RecordStructure`` protobuf, fast both ways.

The schema is ``proto/signal_records.proto``. Writing goes through a small hand-written
encoder rather than the generated classes: a record is rewritten on every message, and
building protobuf objects field by field cost more than the ratchet itself. The output
is the canonical encoding the generated class writes (a test checks they agree), so
any protobuf library reads it.

Reading a record in the canonical layout this module writes goes through
:mod:`wamd.signal._record_stored`, which keeps what it reads in a stored form the
encoder writes back as it was; anything else goes through the generated class and its
C parser.
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.message import DecodeError

from wamd._proto import signal_records_pb2 as pb
from wamd.errors import InvalidRecordError
from wamd.signal._record_stored import PUB_LEN, StoredState, decode_stored
from wamd.signal.session_state import Chain, PendingPreKey, SessionState

__all__ = ["NATIVE_VERSION", "decode_sessions", "encode_states"]

NATIVE_VERSION = 1

_SMALL = [bytes((i,)) for i in range(128)]


def _varint(n: int) -> bytes:
    if 0 <= n < 128:
        return _SMALL[n]
    if 0 < n < 0x4000:  # registration ids, counters, lengths: two bytes
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    if n < 0:
        n &= (1 << 64) - 1
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_LOW = [bytes((i | 0x80,)) for i in range(128)]
_HIGH_CACHE: dict[int, bytes] = {}


def _zigzag(n: int) -> bytes:
    if -1 <= n < 64:
        return _SMALL[n << 1] if n >= 0 else b"\x01"
    z = n << 1 if n >= 0 else (n << 1) ^ (n >> 63)
    if z < 0x80:
        return _SMALL[z]
    if z < 0x4000:
        return bytes(((z & 0x7F) | 0x80, z >> 7))
    # Timestamps (created, used, closed) change in their low bits from one write of a
    # record to the next: remember the encoding of all but the lowest seven bits.
    high = z >> 7
    rest = _HIGH_CACHE.get(high)
    if rest is None:
        rest = _varint(high)
        if len(_HIGH_CACHE) >= 4096:
            _HIGH_CACHE.clear()
        _HIGH_CACHE[high] = rest
    return _LOW[z & 0x7F] + rest


def _uint(n: int, what: str) -> bytes:
    if 0 <= n < 128:
        return _SMALL[n]
    if not 0 <= n < 1 << 32:
        raise InvalidRecordError(f"session record: {what} {n} is not a 32-bit unsigned value")
    return _varint(n)


def _field_bytes(tag: bytes, data: bytes) -> bytes:
    n = len(data)
    return tag + (_SMALL[n] if n < 128 else _varint(n)) + data


# Tag-and-length prefixes of the bytes fields, for lengths below 128 (keys are 32 or 33).
_P0A, _P12, _P1A, _P22, _P2A, _P32, _P3A, _P62, _P6A, _P72 = (
    [bytes((tag, n)) for n in range(128)]
    for tag in (0x0A, 0x12, 0x1A, 0x22, 0x2A, 0x32, 0x3A, 0x62, 0x6A, 0x72)
)

_RECORD_HEAD = b"\x08" + _SMALL[NATIVE_VERSION]

# Chain type field plus the counter's tag, for small chain types.
_CT = [bytes((0x10, i, 0x18)) for i in range(128)]


def _encode_chain(ratchet_key: bytes, chain: Chain) -> bytes:
    n = len(ratchet_key)
    ct = chain.chain_type
    parts = [
        _P0A[n] + ratchet_key if n < 128 else _field_bytes(b"\x0a", ratchet_key),
        b"\x10" + (_SMALL[ct] if 0 <= ct < 128 else _uint(ct, "chain type")),
        b"\x18" + _zigzag(chain.counter),
    ]
    key = chain.key
    if key is not None:
        parts.append(_P22[len(key)] + key if len(key) < 128 else _field_bytes(b"\x22", key))
    keys = chain.message_keys
    if keys:
        for index in sorted(keys):
            entry = b"\x08" + _uint(index, "message key index") + _field_bytes(b"\x12", keys[index])
            parts.append(_field_bytes(b"\x2a", entry))
    return b"".join(parts)


def _encode_header(s: SessionState) -> list[bytes]:
    """The encoded fields 1 to 12 of a state, in parts."""
    # Keys are 32 or 33 bytes: a fixed two-byte prefix each (lengths >= 128 take the
    # general path, so any value still encodes canonically).
    eph_pub = s.ephemeral_public
    eph_priv = s.ephemeral_private
    last = s.last_remote_ephemeral
    root = s.root_key
    base = s.base_key
    remote = s.remote_identity_key
    rid = s.registration_id
    bkt = s.base_key_type
    if (
        len(eph_pub) < 128
        and len(eph_priv) < 128
        and len(last) < 128
        and len(root) < 128
        and len(base) < 128
        and len(remote) < 128
    ):
        return [
            b"\x08" + (_SMALL[rid] if 0 <= rid < 128 else _uint(rid, "registration id")),
            _P12[len(eph_pub)],
            eph_pub,
            _P1A[len(eph_priv)],
            eph_priv,
            _P22[len(last)],
            last,
            b"\x28" + _zigzag(s.previous_counter),
            _P32[len(root)],
            root,
            _P3A[len(base)],
            base,
            b"\x40" + (_SMALL[bkt] if 0 <= bkt < 128 else _uint(bkt, "base key type")),
            b"\x48" + _zigzag(s.closed),
            b"\x50" + _zigzag(s.used),
            b"\x58" + _zigzag(s.created),
            _P62[len(remote)],
            remote,
        ]
    return [
        b"\x08" + _uint(rid, "registration id"),
        _field_bytes(b"\x12", eph_pub),
        _field_bytes(b"\x1a", eph_priv),
        _field_bytes(b"\x22", last),
        b"\x28" + _zigzag(s.previous_counter),
        _field_bytes(b"\x32", root),
        _field_bytes(b"\x3a", base),
        b"\x40" + _uint(bkt, "base key type"),
        b"\x48" + _zigzag(s.closed),
        b"\x50" + _zigzag(s.used),
        b"\x58" + _zigzag(s.created),
        _field_bytes(b"\x62", remote),
    ]


def _encode_state(s: SessionState) -> bytes:
    stored = s.stored_form if type(s) is StoredState else None
    if stored is not None:
        head, used, tail = stored
        parts = [head, b"\x50" + _zigzag(s.used) if used is None else used, tail]
    else:
        parts = _encode_header(s)
    for ratchet_key, chain in s.chains.items():
        stored_chain = chain.stored_form
        if stored_chain is not None and not chain.message_keys and len(ratchet_key) == PUB_LEN:
            rest, counter, key = stored_chain
            if chain.counter == counter and chain.key == key and chain.chain_type == rest[1]:
                parts += (_P6A[PUB_LEN + 2 + len(rest)], b"\x0a\x21", ratchet_key, rest)
                continue
        # The common chain (short keys, small type, no stored message keys) is written
        # straight into ``parts`` with its length computed, not joined and measured.
        ct = chain.chain_type
        counter = chain.counter
        key = chain.key
        nr = len(ratchet_key)
        if nr < 64 and 0 <= ct < 128 and not chain.message_keys:
            if 0 <= counter < 64:
                zig = _SMALL[counter << 1]
            elif counter == -1:
                zig = b"\x01"
            else:
                zig = _zigzag(counter)
            if key is None:
                n = nr + 5 + len(zig)
                if n < 128:
                    parts += (_P6A[n], _P0A[nr], ratchet_key, _CT[ct], zig)
                    continue
            elif len(key) < 64:
                n = nr + 7 + len(zig) + len(key)
                if n < 128:
                    parts += (_P6A[n], _P0A[nr], ratchet_key, _CT[ct], zig, _P22[len(key)], key)
                    continue
        body = _encode_chain(ratchet_key, chain)
        n = len(body)
        if n < 128:
            parts.append(_P6A[n])
        else:
            parts.append(b"\x6a" + _varint(n))
        parts.append(body)
    p = s.pending_pre_key
    if p is not None:
        pending = (
            b"\x08"
            + _uint(p.signed_key_id, "signed pre-key id")
            + _field_bytes(b"\x12", p.base_key)
        )
        if p.pre_key_id is not None:
            pending += b"\x18" + _uint(p.pre_key_id, "pre-key id")
        parts.append(_field_bytes(b"\x72", pending))
    return b"".join(parts)


def encode_states(states: Iterable[SessionState]) -> bytes:
    """The native bytes of a record holding ``states`` (in order)."""
    parts = [_RECORD_HEAD]
    for s in states:
        body = _encode_state(s)
        n = len(body)
        if n < 0x80:
            parts.append(_P12[n])
        elif n < 0x4000:
            parts.append(bytes((0x12, (n & 0x7F) | 0x80, n >> 7)))
        else:
            parts.append(b"\x12" + _varint(n))
        parts.append(body)
    return b"".join(parts)


def decode_sessions(data: bytes) -> dict[bytes, SessionState]:
    """The states in native record bytes by base key (in order); damage is InvalidRecordError."""
    sessions = decode_stored(data)
    if sessions is None:
        sessions = {s.base_key: s for s in _decode_generic(data)}
    return sessions


def _decode_generic(data: bytes) -> list[SessionState]:
    """Any native record bytes, through the generated class; damage is InvalidRecordError."""
    msg = pb.RecordStructure()
    try:
        msg.ParseFromString(data)
    except DecodeError as exc:
        raise InvalidRecordError(
            f"session record: {len(data)} bytes are not a native record ({exc})"
        ) from None
    if msg.formatVersion != NATIVE_VERSION:
        raise InvalidRecordError(
            f"session record: unknown native format version {msg.formatVersion}"
        )
    states = []
    for i, s in enumerate(msg.sessions):
        # Each attribute read copies the bytes out of the parsed message: read each once.
        base_key = s.baseKey
        root_key = s.rootKey
        eph_public = s.ephemeralPublic
        eph_private = s.ephemeralPrivate
        last_remote = s.lastRemoteEphemeralKey
        remote_identity = s.remoteIdentityKey
        if not (
            base_key
            and root_key
            and eph_public
            and eph_private
            and last_remote
            and remote_identity
            and s.HasField("closed")
        ):
            raise InvalidRecordError(f"session record: session {i} lacks a key or its state")
        chains: dict[bytes, Chain] = {}
        for j, c in enumerate(s.chains):
            ratchet_key = c.ratchetKey
            if not ratchet_key or not c.HasField("counter"):
                raise InvalidRecordError(
                    f"session record: session {i} chain {j} lacks its key or counter"
                )
            mk = c.messageKeys
            chains[ratchet_key] = Chain(
                c.chainType,
                c.counter,
                c.key or None,
                {k.index: k.seed for k in mk} if mk else {},
            )
        pending = None
        if s.HasField("pendingPreKey"):
            p = s.pendingPreKey
            pending = PendingPreKey(
                p.signedKeyId, p.baseKey, p.preKeyId if p.HasField("preKeyId") else None
            )
        states.append(
            SessionState(
                s.registrationId,
                eph_public,
                eph_private,
                last_remote,
                s.previousCounter,
                root_key,
                base_key,
                s.baseKeyType,
                s.closed,
                s.used,
                s.created,
                remote_identity,
                chains,
                pending,
            )
        )
    return states
