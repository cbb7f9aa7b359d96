"""X25519 key pairs and Diffie-Hellman agreement."""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from wamd.errors import InvalidKeyError

__all__ = [
    "DJB_TYPE",
    "KeyPair",
    "clamp",
    "generate_key_pair",
    "prefixed",
    "public_from_private",
    "shared_secret",
    "unprefixed",
]

DJB_TYPE = 0x05
"""The type byte libsignal puts in front of a 32-byte Curve25519 public key."""

KEY_LEN = 32
_DJB_PREFIX = bytes((DJB_TYPE,))


def clamp(private: bytes) -> bytes:
    """Return the X25519-clamped form of a 32-byte private key."""
    _check_len(private, "private key")
    b = bytearray(private)
    b[0] &= 248
    b[31] &= 127
    b[31] |= 64
    return bytes(b)


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A Curve25519 key pair: 32-byte clamped private key, 32-byte public key (no 0x05)."""

    private: bytes
    public: bytes

    def __post_init__(self) -> None:
        _check_len(self.private, "private key")
        _check_len(self.public, "public key")

    def __repr__(self) -> str:
        return f"KeyPair(public={self.public.hex()}, private=<hidden>)"

    @classmethod
    def generate(cls) -> KeyPair:
        """Make a fresh random key pair."""
        return generate_key_pair()

    @classmethod
    def from_private(cls, private: bytes) -> KeyPair:
        """The key pair of a private key (clamped first)."""
        priv = clamp(private)
        return cls(priv, public_from_private(priv))

    @property
    def prefixed_public(self) -> bytes:
        """The public key as libsignal writes it: 0x05 followed by 32 bytes."""
        return _DJB_PREFIX + self.public


def generate_key_pair() -> KeyPair:
    """Make a fresh random Curve25519 key pair."""
    priv = clamp(os.urandom(KEY_LEN))
    return KeyPair(priv, public_from_private(priv))


def public_from_private(private: bytes) -> bytes:
    """The 32-byte public key of a 32-byte private key."""
    _check_len(private, "private key")
    return X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()


def shared_secret(private: bytes, public: bytes) -> bytes:
    """X25519 agreement; ``public`` may carry the 0x05 prefix."""
    _check_len(private, "private key")
    pub = unprefixed(public)
    try:
        return X25519PrivateKey.from_private_bytes(private).exchange(
            X25519PublicKey.from_public_bytes(pub)
        )
    except ValueError as exc:  # low-order point: the result would be all zeros
        raise InvalidKeyError("public key is a low-order point; agreement refused") from exc


def prefixed(public: bytes) -> bytes:
    """Return a public key with the 0x05 type byte (adds it to a 32-byte key)."""
    if len(public) == KEY_LEN + 1 and public[0] == DJB_TYPE:
        return bytes(public)
    _check_len(public, "public key")
    return bytes((DJB_TYPE,)) + bytes(public)


def unprefixed(public: bytes) -> bytes:
    """Return a 32-byte public key, dropping a leading 0x05 type byte if present."""
    if len(public) == KEY_LEN + 1:
        if public[0] != DJB_TYPE:
            raise InvalidKeyError(f"public key has unknown type byte 0x{public[0]:02x}")
        return bytes(public[1:])
    _check_len(public, "public key")
    return bytes(public)


def _check_len(key: bytes, what: str) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_LEN:
        got = len(key) if isinstance(key, bytes | bytearray) else type(key).__name__
        raise InvalidKeyError(f"{what} must be {KEY_LEN} bytes, got {got}")
