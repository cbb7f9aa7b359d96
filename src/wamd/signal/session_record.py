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

from typing import Any

from wamd.errors import InvalidRecordError
from wamd.signal._record_json import b64, state_from_json, state_to_json
from wamd.signal._record_native import decode_sessions, encode_states
from wamd.signal.session_state import (
    BASE_KEY_OURS,
    BASE_KEY_THEIRS,
    CHAIN_RECEIVING,
    CHAIN_SENDING,
    Chain,
    PendingPreKey,
    SessionState,
)

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

MAX_ARCHIVED_SESSIONS = 40
"""A record keeps at most this many sessions; the oldest closed ones go first."""

_JSON_VERSION = "v1"


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

    def states_for_decrypt(self) -> list[SessionState]:
        """The states a ``msg`` is tried against: the open one, then the rest by last use."""
        if len(self.sessions) == 1:
            return list(self.sessions.values())
        open_state = self.open_session()
        rest = [s for s in self.sessions.values() if s is not open_state]
        rest.sort(key=lambda s: s.used, reverse=True)
        return rest if open_state is None else [open_state, *rest]

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
        return encode_states(self.sessions.values())

    @classmethod
    def deserialize(cls, data: bytes) -> SessionRecord:
        """Parse native record bytes; damaged bytes raise :class:`InvalidRecordError`."""
        return cls(decode_sessions(data))

    # -- libsignal-node JSON form --------------------------------------------------------

    def to_libsignal_json(self) -> dict[str, Any]:
        """The record as libsignal-node serializes it (key order included)."""
        sessions: dict[str, Any] = {}
        for state in self.sessions.values():
            sessions[b64(state.base_key)] = state_to_json(state)
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
            where = f"libsignal session record: session {str(key)[:12]}..."
            try:
                state = state_from_json(entry, legacy_registration_id)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise InvalidRecordError(
                    f"{where}: malformed ({type(exc).__name__}: {exc})"
                ) from None
            # libsignal-node keys each session by its base key, as the native form does.
            record.sessions[state.base_key] = state
        return record
