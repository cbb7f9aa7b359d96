"""Hashes and key derivation: SHA-256, HMAC-SHA256, HKDF-SHA256, PBKDF2-HMAC-SHA256."""

from __future__ import annotations

import hashlib
import hmac

from wamd.errors import CryptoError

__all__ = ["hkdf", "hmac_sha256", "pbkdf2_sha256", "sha256"]

_HASH_LEN = 32
_ZERO_SALT = bytes(_HASH_LEN)


def sha256(data: bytes) -> bytes:
    """SHA-256 digest."""
    return hashlib.sha256(data).digest()


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    """HMAC-SHA256."""
    return hmac.digest(key, data, "sha256")


def hkdf(ikm: bytes, length: int, salt: bytes = b"", info: bytes = b"") -> bytes:
    """HKDF-SHA256 (RFC 5869). An empty salt means 32 zero bytes, as the RFC says."""
    if not 0 < length <= 255 * _HASH_LEN:
        raise CryptoError(f"HKDF output length must be 1..{255 * _HASH_LEN}, got {length}")
    prk = hmac.digest(salt or _ZERO_SALT, ikm, "sha256")
    out = b""
    block = b""
    counter = 1
    while len(out) < length:
        block = hmac.digest(prk, block + info + bytes((counter,)), "sha256")
        out += block
        counter += 1
    return out[:length]


def pbkdf2_sha256(password: bytes, salt: bytes, iterations: int, length: int) -> bytes:
    """PBKDF2-HMAC-SHA256."""
    if iterations < 1 or length < 1:
        raise CryptoError("PBKDF2 needs at least one iteration and one byte of output")
    return hashlib.pbkdf2_hmac("sha256", password, salt, iterations, length)
