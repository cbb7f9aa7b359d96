"""Long-term Signal keys: identity, registration id, pre-keys, signed pre-keys, bundles.

Public keys travel and are signed in libsignal's 33-byte form (0x05 || key); key pairs
hold the raw 32-byte halves (:class:`wamd.crypto.KeyPair`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from wamd.crypto import KeyPair, check_signature, generate_key_pair, prefixed, sign
from wamd.errors import InvalidKeyError

__all__ = [
    "MAX_REGISTRATION_ID",
    "PreKey",
    "PreKeyBundle",
    "SignedPreKey",
    "generate_identity_key_pair",
    "generate_pre_keys",
    "generate_registration_id",
    "generate_signed_pre_key",
]

MAX_REGISTRATION_ID = 16380
"""Registration ids are 14-bit values; we pick them in 1..16380 (protocol.md §6.1)."""


def generate_identity_key_pair() -> KeyPair:
    """A fresh identity key pair."""
    return generate_key_pair()


def generate_registration_id(random: bytes | None = None) -> int:
    """A registration id in 1..16380, from two random bytes (fresh ones if omitted)."""
    raw = os.urandom(2) if random is None else random
    if len(raw) != 2:
        raise InvalidKeyError(f"registration id needs 2 random bytes, got {len(raw)}")
    return int.from_bytes(raw, "big") % MAX_REGISTRATION_ID + 1


@dataclass(frozen=True, slots=True)
class PreKey:
    """A one-time pre-key: its id and key pair."""

    key_id: int
    key_pair: KeyPair


@dataclass(frozen=True, slots=True)
class SignedPreKey:
    """A signed pre-key: id, key pair, and the identity's XEdDSA signature of 0x05||public."""

    key_id: int
    key_pair: KeyPair
    signature: bytes

    def verify(self, identity_public: bytes) -> None:
        """Raise InvalidSignatureError unless ``identity_public`` signed this key."""
        check_signature(
            identity_public,
            self.key_pair.prefixed_public,
            self.signature,
            f"signed pre-key {self.key_id}",
        )


def generate_pre_keys(
    start: int, count: int, keygen: Callable[[], KeyPair] = generate_key_pair
) -> list[PreKey]:
    """``count`` fresh one-time pre-keys with ids ``start``, ``start + 1``, ..."""
    if start < 0 or count < 0 or start + count > 2**24:
        raise InvalidKeyError(f"pre-key ids {start}..{start + count - 1} are out of range")
    return [PreKey(start + i, keygen()) for i in range(count)]


def generate_signed_pre_key(
    identity: KeyPair, key_id: int, key_pair: KeyPair | None = None
) -> SignedPreKey:
    """A signed pre-key with ``key_id``, signed by ``identity`` (fresh pair if omitted)."""
    pair = generate_key_pair() if key_pair is None else key_pair
    return SignedPreKey(key_id, pair, sign(identity.private, pair.prefixed_public))


@dataclass(frozen=True, slots=True)
class PreKeyBundle:
    """What a peer publishes so others can start a session with it without a round trip.

    Public keys are 33 bytes (0x05 || key); 32-byte keys given to the constructor are
    prefixed. ``pre_key_id``/``pre_key_public`` are both None when no one-time pre-key was
    left on the server.
    """

    registration_id: int
    identity_key: bytes
    signed_pre_key_id: int
    signed_pre_key_public: bytes
    signed_pre_key_signature: bytes
    pre_key_id: int | None = None
    pre_key_public: bytes | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "identity_key", prefixed(self.identity_key))
        object.__setattr__(self, "signed_pre_key_public", prefixed(self.signed_pre_key_public))
        if (self.pre_key_id is None) != (self.pre_key_public is None):
            raise InvalidKeyError("pre-key bundle: pre_key_id and pre_key_public go together")
        if self.pre_key_public is not None:
            object.__setattr__(self, "pre_key_public", prefixed(self.pre_key_public))

    def verify(self) -> None:
        """Raise InvalidSignatureError unless the identity key signed the signed pre-key."""
        check_signature(
            self.identity_key,
            self.signed_pre_key_public,
            self.signed_pre_key_signature,
            f"pre-key bundle: signed pre-key {self.signed_pre_key_id}",
        )

    @classmethod
    def of(
        cls,
        registration_id: int,
        identity: KeyPair,
        signed_pre_key: SignedPreKey,
        pre_key: PreKey | None = None,
    ) -> PreKeyBundle:
        """The bundle our own keys make (for tests and for the fake server)."""
        return cls(
            registration_id,
            identity.public,
            signed_pre_key.key_id,
            signed_pre_key.key_pair.public,
            signed_pre_key.signature,
            None if pre_key is None else pre_key.key_id,
            None if pre_key is None else pre_key.key_pair.public,
        )
