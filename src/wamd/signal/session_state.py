"""The mutable state of one Signal session: its chains, ratchet keys and index info.

These are the pieces a :class:`~wamd.signal.session_record.SessionRecord` is made of.
They are mutable because the ratchet advances them; the cipher works on copies (or
computes first) and only commits a state once a message has fully verified.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "BASE_KEY_OURS",
    "BASE_KEY_THEIRS",
    "CHAIN_RECEIVING",
    "CHAIN_SENDING",
    "Chain",
    "PendingPreKey",
    "SessionState",
]

CHAIN_SENDING = 1
CHAIN_RECEIVING = 2
BASE_KEY_OURS = 1
BASE_KEY_THEIRS = 2


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
    # The native record codec's slot: for a chain read from a record, its stored bytes
    # (after the ratchet key) and the counter and key they hold, written back as they
    # were while the chain still has those values (see wamd.signal._record_stored).
    stored_form: tuple[bytes, int, bytes | None] | None = field(
        default=None, init=False, repr=False, compare=False
    )

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


@dataclass(slots=True, eq=False)
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
    # value: building one from bytes costs as much as an agreement). Whoever replaces
    # ephemeral_private must replace or clear this too (only the ratchet does).
    ephemeral_key_cache: object | None = field(default=None, compare=False, repr=False)
    # The native record codec's slot: the stored bytes of fields 1 to 12 (``used`` apart)
    # while none of them changed (see wamd.signal._record_stored). None otherwise.
    stored_form: tuple[bytes, bytes | None, bytes] | None = field(
        default=None, init=False, repr=False
    )

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

    def _values(self) -> tuple[object, ...]:
        return (
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
            self.chains,
            self.pending_pre_key,
        )

    # Spelled out, not generated: a dataclass __eq__ demands the same class, and a
    # StoredState (wamd.signal._record_stored) must equal the plain state it encodes.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SessionState):
            return NotImplemented
        return self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"SessionState(base_key={self.base_key.hex()}, open={self.is_open}, "
            f"chains={len(self.chains)}, pending_pre_key={self.pending_pre_key is not None})"
        )
