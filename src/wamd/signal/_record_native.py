"""wamd's native session-record bytes: the ``RecordStructure`` protobuf, fast both ways.

The schema is ``proto/signal_records.proto``. Writing goes through a small hand-written
encoder rather than the generated classes: a record is rewritten on every message, and
building protobuf objects field by field cost more than the ratchet itself. The output
is the canonical encoding the generated class writes (a test checks they agree), so
any protobuf library reads it. Reading uses the generated class (C parser) and then
builds the states with plain attribute access.
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.message import DecodeError

from wamd._proto import signal_records_pb2 as pb
from wamd.errors import InvalidRecordError
from wamd.signal.session_state import Chain, PendingPreKey, SessionState

__all__ = ["NATIVE_VERSION", "decode_states", "encode_states"]

NATIVE_VERSION = 1

_SMALL = [bytes((i,)) for i in range(128)]


def _varint(n: int) -> bytes:
    if 0 <= n < 128:
        return _SMALL[n]
    if n < 0:
        n &= (1 << 64) - 1
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_ZIGZAG_CACHE: dict[int, bytes] = {}


def _zigzag(n: int) -> bytes:
    if -1 <= n < 64:
        return _SMALL[n << 1] if n >= 0 else b"\x01"
    # Timestamps (created, used, closed) are the same from one write of a record to the
    # next; remembering their encodings saves most of the encoder's time.
    out = _ZIGZAG_CACHE.get(n)
    if out is None:
        out = _varint((n << 1) ^ (n >> 63) if n < 0 else n << 1)
        if len(_ZIGZAG_CACHE) >= 4096:
            _ZIGZAG_CACHE.clear()
        _ZIGZAG_CACHE[n] = out
    return out


def _uint(n: int, what: str) -> bytes:
    if 0 <= n < 128:
        return _SMALL[n]
    if not 0 <= n < 1 << 32:
        raise InvalidRecordError(f"session record: {what} {n} is not a 32-bit unsigned value")
    return _varint(n)


def _field_bytes(tag: bytes, data: bytes) -> bytes:
    n = len(data)
    return tag + (_SMALL[n] if n < 128 else _varint(n)) + data


def _encode_chain(ratchet_key: bytes, chain: Chain) -> bytes:
    parts = [
        _field_bytes(b"\x0a", ratchet_key),
        b"\x10" + _uint(chain.chain_type, "chain type"),
        b"\x18" + _zigzag(chain.counter),
    ]
    if chain.key is not None:
        parts.append(_field_bytes(b"\x22", chain.key))
    keys = chain.message_keys
    for index in sorted(keys):
        entry = b"\x08" + _uint(index, "message key index") + _field_bytes(b"\x12", keys[index])
        parts.append(_field_bytes(b"\x2a", entry))
    return b"".join(parts)


def _encode_state(s: SessionState) -> bytes:
    parts = [
        b"\x08" + _uint(s.registration_id, "registration id"),
        _field_bytes(b"\x12", s.ephemeral_public),
        _field_bytes(b"\x1a", s.ephemeral_private),
        _field_bytes(b"\x22", s.last_remote_ephemeral),
        b"\x28" + _zigzag(s.previous_counter),
        _field_bytes(b"\x32", s.root_key),
        _field_bytes(b"\x3a", s.base_key),
        b"\x40" + _uint(s.base_key_type, "base key type"),
        b"\x48" + _zigzag(s.closed),
        b"\x50" + _zigzag(s.used),
        b"\x58" + _zigzag(s.created),
        _field_bytes(b"\x62", s.remote_identity_key),
    ]
    for ratchet_key, chain in s.chains.items():
        parts.append(_field_bytes(b"\x6a", _encode_chain(ratchet_key, chain)))
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
    return (
        b"\x08"
        + _SMALL[NATIVE_VERSION]
        + b"".join(_field_bytes(b"\x12", _encode_state(s)) for s in states)
    )


def decode_states(data: bytes) -> list[SessionState]:
    """The states in native record bytes; damaged bytes raise InvalidRecordError."""
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
