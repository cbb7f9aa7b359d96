"""Session records: every session state with one peer, in two lossless forms.

A :class:`SessionRecord` holds the sessions with one Signal address, keyed by the base
key of the X3DH agreement that created each, in the same order libsignal-node keeps them.
It has two serializations that convert into each other without loss:

- :meth:`SessionRecord.serialize` / :meth:`SessionRecord.deserialize`: wamd's compact
  native bytes (the ``RecordStructure`` protobuf in ``proto/signal_records.proto``);
- :meth:`SessionRecord.to_libsignal_json` / :meth:`SessionRecord.from_libsignal_json`:
  the object libsignal-node's ``SessionRecord.serialize()`` returns, which Baileys writes
  to ``session-<address>.json`` with ``JSON.stringify`` (protocol.md §6.5). The dict has
  libsignal-node's key order, so ``json.dumps(d, separators=(",", ":"))`` gives the bytes
  Baileys would write.

The states are mutable (the ratchet advances them); the cipher works on copies and only
commits a state back once a message has fully verified.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError

from wamd._proto import signal_records_pb2 as pb
from wamd.errors import InvalidRecordError

__all__ = [
    "BASE_KEY_OURS",
    "BASE_KEY_THEIRS",
    "CHAIN_RECEIVING",
    "CHAIN_SENDING",
    "MAX_ARCHIVED_SESSIONS",
    "Chain",
    "PendingPreKey",
    "SessionRecord",
    "SessionState",
]

CHAIN_SENDING = 1
CHAIN_RECEIVING = 2
BASE_KEY_OURS = 1
BASE_KEY_THEIRS = 2
MAX_ARCHIVED_SESSIONS = 40
"""A record keeps at most this many sessions; the oldest closed ones go first."""

_NATIVE_VERSION = 1
_JSON_VERSION = "v1"


@dataclass(slots=True)
class Chain:
    """A symmetric chain: its type, counter, current key and stored (skipped) message keys.

    ``counter`` is the index of the last message key derived (-1 before the first);
    ``key`` is ``None`` once the chain is closed; ``message_keys`` maps a counter to the
    32-byte seed of a message key not used yet.
    """

    chain_type: int
    counter: int
    key: bytes | None
    message_keys: dict[int, bytes] = field(default_factory=dict)

    def copy(self) -> Chain:
        """An independent copy."""
        return Chain(self.chain_type, self.counter, self.key, dict(self.message_keys))

    def __repr__(self) -> str:
        kind = "sending" if self.chain_type == CHAIN_SENDING else "receiving"
        return f"Chain({kind}, counter={self.counter}, stored_keys={len(self.message_keys)})"


@dataclass(frozen=True, slots=True)
class PendingPreKey:
    """The pre-keys an outgoing session used, sent along until the peer answers."""

    signed_key_id: int
    base_key: bytes
    pre_key_id: int | None = None


@dataclass(slots=True, eq=True)
class SessionState:
    """One session with a peer (libsignal-node's ``SessionEntry``).

    Public keys are kept as libsignal-node keeps them (33 bytes with the 0x05 prefix);
    ``chains`` is keyed by the ratchet public key that names each chain, in creation order.
    """

    registration_id: int
    ephemeral_public: bytes
    ephemeral_private: bytes
    last_remote_ephemeral: bytes
    previous_counter: int
    root_key: bytes
    base_key: bytes
    base_key_type: int
    closed: int
    used: int
    created: int
    remote_identity_key: bytes
    chains: dict[bytes, Chain] = field(default_factory=dict)
    pending_pre_key: PendingPreKey | None = None
    # A cache of the X25519 private key object for ephemeral_private (not part of the
    # value: building one from bytes costs as much as an agreement).
    ephemeral_key_cache: object | None = field(default=None, compare=False, repr=False)

    @property
    def is_open(self) -> bool:
        """True unless the session was closed (archived)."""
        return self.closed == -1

    def copy(self) -> SessionState:
        """An independent copy (chains and their stored keys included)."""
        return SessionState(
            self.registration_id,
            self.ephemeral_public,
            self.ephemeral_private,
            self.last_remote_ephemeral,
            self.previous_counter,
            self.root_key,
            self.base_key,
            self.base_key_type,
            self.closed,
            self.used,
            self.created,
            self.remote_identity_key,
            {k: c.copy() for k, c in self.chains.items()},
            self.pending_pre_key,
            self.ephemeral_key_cache,
        )

    def __repr__(self) -> str:
        return (
            f"SessionState(base_key={self.base_key.hex()}, open={self.is_open}, "
            f"chains={len(self.chains)}, pending_pre_key={self.pending_pre_key is not None})"
        )


class SessionRecord:
    """All session states with one peer address, keyed by base key, in libsignal order."""

    __slots__ = ("sessions",)

    def __init__(self, sessions: dict[bytes, SessionState] | None = None) -> None:
        self.sessions: dict[bytes, SessionState] = {} if sessions is None else sessions

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SessionRecord):
            return NotImplemented
        return list(self.sessions.items()) == list(other.sessions.items())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"SessionRecord(sessions={len(self.sessions)}, open={self.open_session() is not None})"
        )

    def copy(self) -> SessionRecord:
        """An independent copy."""
        return SessionRecord({k: s.copy() for k, s in self.sessions.items()})

    # -- queries -------------------------------------------------------------------------

    def open_session(self) -> SessionState | None:
        """The open session (the one encrypt uses), if any."""
        for state in self.sessions.values():
            if state.closed == -1:
                return state
        return None

    def has_open_session(self) -> bool:
        """True if a message can be encrypted to the peer right now."""
        return self.open_session() is not None

    def states_for_decrypt(self) -> Iterator[SessionState]:
        """The states a ``msg`` is tried against: the open one, then the rest by last use."""
        open_state = self.open_session()
        if open_state is not None:
            yield open_state
        rest = [s for s in self.sessions.values() if s is not open_state]
        rest.sort(key=lambda s: s.used, reverse=True)
        yield from rest

    # -- changes -------------------------------------------------------------------------

    def put(self, state: SessionState) -> None:
        """Store ``state`` under its base key (replacing a state with the same base key)."""
        self.sessions[state.base_key] = state

    def close_open_session(self, now_ms: int) -> None:
        """Archive the open session, if there is one."""
        state = self.open_session()
        if state is not None:
            state.closed = now_ms

    def prune(self) -> None:
        """Drop the oldest closed sessions beyond :data:`MAX_ARCHIVED_SESSIONS`."""
        while len(self.sessions) > MAX_ARCHIVED_SESSIONS:
            closed = [(s.closed, k) for k, s in self.sessions.items() if s.closed != -1]
            if not closed:
                return
            del self.sessions[min(closed)[1]]

    # -- native form ---------------------------------------------------------------------

    def serialize(self) -> bytes:
        """The record in wamd's compact native form."""
        out = pb.RecordStructure(formatVersion=_NATIVE_VERSION)
        for state in self.sessions.values():
            s = out.sessions.add(
                registrationId=state.registration_id,
                ephemeralPublic=state.ephemeral_public,
                ephemeralPrivate=state.ephemeral_private,
                lastRemoteEphemeralKey=state.last_remote_ephemeral,
                previousCounter=state.previous_counter,
                rootKey=state.root_key,
                baseKey=state.base_key,
                baseKeyType=state.base_key_type,
                closed=state.closed,
                used=state.used,
                created=state.created,
                remoteIdentityKey=state.remote_identity_key,
            )
            for ratchet_key, chain in state.chains.items():
                c = s.chains.add(ratchetKey=ratchet_key, chainType=chain.chain_type)
                c.counter = chain.counter
                if chain.key is not None:
                    c.key = chain.key
                for index in sorted(chain.message_keys):
                    c.messageKeys.add(index=index, seed=chain.message_keys[index])
            pending = state.pending_pre_key
            if pending is not None:
                s.pendingPreKey.signedKeyId = pending.signed_key_id
                s.pendingPreKey.baseKey = pending.base_key
                if pending.pre_key_id is not None:
                    s.pendingPreKey.preKeyId = pending.pre_key_id
        return out.SerializeToString()

    @classmethod
    def deserialize(cls, data: bytes) -> SessionRecord:
        """Parse native record bytes; damaged bytes raise :class:`InvalidRecordError`."""
        msg = pb.RecordStructure()
        try:
            msg.ParseFromString(data)
        except DecodeError as exc:
            raise InvalidRecordError(
                f"session record: {len(data)} bytes are not a native record ({exc})"
            ) from None
        if msg.formatVersion != _NATIVE_VERSION:
            raise InvalidRecordError(
                f"session record: unknown native format version {msg.formatVersion}"
            )
        record = cls()
        for i, s in enumerate(msg.sessions):
            where = f"session record: session {i}"
            present = {f.name for f, _ in s.ListFields()}
            missing = [name for name in _REQUIRED_STATE_FIELDS if name not in present]
            if missing:
                raise InvalidRecordError(f"{where}: field {missing[0]} is missing")
            chains: dict[bytes, Chain] = {}
            for j, c in enumerate(s.chains):
                if not (c.HasField("ratchetKey") and c.HasField("counter")):
                    raise InvalidRecordError(f"{where}: chain {j} lacks its key or counter")
                chains[c.ratchetKey] = Chain(
                    c.chainType,
                    c.counter,
                    c.key if c.HasField("key") else None,
                    {k.index: k.seed for k in c.messageKeys},
                )
            pending = None
            if s.HasField("pendingPreKey"):
                p = s.pendingPreKey
                pending = PendingPreKey(
                    p.signedKeyId, p.baseKey, p.preKeyId if p.HasField("preKeyId") else None
                )
            record.sessions[s.baseKey] = SessionState(
                s.registrationId,
                s.ephemeralPublic,
                s.ephemeralPrivate,
                s.lastRemoteEphemeralKey,
                s.previousCounter,
                s.rootKey,
                s.baseKey,
                s.baseKeyType,
                s.closed,
                s.used,
                s.created,
                s.remoteIdentityKey,
                chains,
                pending,
            )
        return record

    # -- libsignal-node JSON form --------------------------------------------------------

    def to_libsignal_json(self) -> dict[str, Any]:
        """The record as libsignal-node serializes it (key order included)."""
        sessions: dict[str, Any] = {}
        for state in self.sessions.values():
            sessions[_b64(state.base_key)] = _state_to_json(state)
        return {"_sessions": sessions, "version": _JSON_VERSION}

    @classmethod
    def from_libsignal_json(cls, obj: dict[str, Any]) -> SessionRecord:
        """Load libsignal-node's JSON record; a malformed one raises InvalidRecordError."""
        if not isinstance(obj, dict):
            raise InvalidRecordError("libsignal session record: not a JSON object")
        version = obj.get("version")
        sessions = obj.get("_sessions", {})
        if not isinstance(sessions, dict):
            raise InvalidRecordError("libsignal session record: _sessions is not an object")
        legacy_registration_id = None
        if version is None:
            # Records from before "v1" kept one registrationId for the whole record.
            legacy_registration_id = obj.get("registrationId")
        elif version != _JSON_VERSION:
            raise InvalidRecordError(f"libsignal session record: unknown version {version!r}")
        record = cls()
        for key, entry in sessions.items():
            where = f"libsignal session record: session {key[:12]}..."
            try:
                state = _state_from_json(entry, legacy_registration_id)
            except (KeyError, TypeError, ValueError, binascii.Error) as exc:
                raise InvalidRecordError(
                    f"{where}: malformed ({type(exc).__name__}: {exc})"
                ) from None
            record.sessions[_unb64(key)] = state
        return record


_REQUIRED_STATE_FIELDS = (
    "registrationId",
    "ephemeralPublic",
    "ephemeralPrivate",
    "lastRemoteEphemeralKey",
    "previousCounter",
    "rootKey",
    "baseKey",
    "baseKeyType",
    "closed",
    "used",
    "created",
    "remoteIdentityKey",
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    if not isinstance(text, str):
        raise TypeError(f"expected a base64 string, got {type(text).__name__}")
    return base64.b64decode(text)


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    return value


def _state_to_json(state: SessionState) -> dict[str, Any]:
    chains: dict[str, Any] = {}
    for ratchet_key, chain in state.chains.items():
        chain_key: dict[str, Any] = {"counter": chain.counter}
        if chain.key is not None:
            chain_key["key"] = _b64(chain.key)
        chains[_b64(ratchet_key)] = {
            "chainKey": chain_key,
            "chainType": chain.chain_type,
            # JavaScript orders integer-like keys numerically, whatever the insertion order.
            "messageKeys": {
                str(i): _b64(chain.message_keys[i]) for i in sorted(chain.message_keys)
            },
        }
    data: dict[str, Any] = {
        "registrationId": state.registration_id,
        "currentRatchet": {
            "ephemeralKeyPair": {
                "pubKey": _b64(state.ephemeral_public),
                "privKey": _b64(state.ephemeral_private),
            },
            "lastRemoteEphemeralKey": _b64(state.last_remote_ephemeral),
            "previousCounter": state.previous_counter,
            "rootKey": _b64(state.root_key),
        },
        "indexInfo": {
            "baseKey": _b64(state.base_key),
            "baseKeyType": state.base_key_type,
            "closed": state.closed,
            "used": state.used,
            "created": state.created,
            "remoteIdentityKey": _b64(state.remote_identity_key),
        },
        "_chains": chains,
    }
    pending = state.pending_pre_key
    if pending is not None:
        p: dict[str, Any] = {
            "signedKeyId": pending.signed_key_id,
            "baseKey": _b64(pending.base_key),
        }
        if pending.pre_key_id is not None:
            p["preKeyId"] = pending.pre_key_id
        data["pendingPreKey"] = p
    return data


def _state_from_json(entry: Any, legacy_registration_id: Any) -> SessionState:
    ratchet = entry["currentRatchet"]
    pair = ratchet["ephemeralKeyPair"]
    index = entry["indexInfo"]
    registration_id = entry.get("registrationId", legacy_registration_id)
    chains: dict[bytes, Chain] = {}
    for ratchet_key, c in entry["_chains"].items():
        chain_key = c["chainKey"]
        key = chain_key.get("key")
        chains[_unb64(ratchet_key)] = Chain(
            _int(c["chainType"], "chainType"),
            _int(chain_key["counter"], "chainKey.counter"),
            None if key is None else _unb64(key),
            {int(i): _unb64(seed) for i, seed in c["messageKeys"].items()},
        )
    pending = None
    p = entry.get("pendingPreKey")
    if p is not None:
        pre_key_id = p.get("preKeyId")
        pending = PendingPreKey(
            _int(p["signedKeyId"], "pendingPreKey.signedKeyId"),
            _unb64(p["baseKey"]),
            None if pre_key_id is None else _int(pre_key_id, "pendingPreKey.preKeyId"),
        )
    return SessionState(
        registration_id=_int(registration_id, "registrationId"),
        ephemeral_public=_unb64(pair["pubKey"]),
        ephemeral_private=_unb64(pair["privKey"]),
        last_remote_ephemeral=_unb64(ratchet["lastRemoteEphemeralKey"]),
        previous_counter=_int(ratchet["previousCounter"], "previousCounter"),
        root_key=_unb64(ratchet["rootKey"]),
        base_key=_unb64(index["baseKey"]),
        base_key_type=_int(index["baseKeyType"], "baseKeyType"),
        closed=_int(index["closed"], "closed"),
        used=_int(index["used"], "used"),
        created=_int(index["created"], "created"),
        remote_identity_key=_unb64(index["remoteIdentityKey"]),
        chains=chains,
        pending_pre_key=pending,
    )
