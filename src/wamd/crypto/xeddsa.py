"""XEdDSA signatures over Curve25519 keys, as libsignal and WhatsApp use them.

Signing needs the private scalar, which ``cryptography`` does not expose, so it goes
through python-axolotl-curve25519 (C). Verification converts the Montgomery public key
to its Edwards form and uses ``cryptography``'s Ed25519 verify, so it needs no C
extension of ours.
"""

from __future__ import annotations

import os
from functools import lru_cache

import axolotl_curve25519 as _axolotl
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from wamd.crypto.curve import clamp, unprefixed
from wamd.errors import InvalidSignatureError

__all__ = ["check_signature", "sign", "verify"]

SIGNATURE_LEN = 64
_P = 2**255 - 19
_U_MASK = (1 << 255) - 1


def sign(private: bytes, message: bytes, random: bytes | None = None) -> bytes:
    """XEdDSA-sign ``message`` with a 32-byte Curve25519 private key (clamped first).

    ``random`` (64 bytes) is the nonce input; fresh random bytes are used if omitted.
    """
    nonce = os.urandom(64) if random is None else random
    if len(nonce) != 64:
        raise InvalidSignatureError(f"signature nonce input must be 64 bytes, got {len(nonce)}")
    sig: bytes = _axolotl.calculateSignature(nonce, clamp(private), bytes(message))
    return sig


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """True if ``signature`` is a valid XEdDSA signature of ``message`` by ``public``.

    ``public`` may carry the 0x05 prefix. A signature that is not 64 bytes is invalid.
    """
    if len(signature) != SIGNATURE_LEN:
        return False
    key = _edwards_key(unprefixed(public), signature[63] & 0x80)
    if key is None:
        return False
    ed_signature = bytearray(signature)
    ed_signature[63] &= 0x7F
    try:
        key.verify(bytes(ed_signature), bytes(message))
    except InvalidSignature:
        return False
    return True


@lru_cache(maxsize=4096)
def _edwards_key(montgomery: bytes, sign_bit: int) -> Ed25519PublicKey | None:
    """The Ed25519 public key of a Curve25519 public key (u -> y = (u-1)/(u+1)).

    Cached: a peer's identity or signing key verifies many signatures, and the field
    inversion dominates the cost of a verify.
    """
    u = int.from_bytes(montgomery, "little") & _U_MASK
    if u >= _P or (u + 1) % _P == 0:
        return None
    y = (u - 1) * pow(u + 1, -1, _P) % _P
    ed_public = bytearray(y.to_bytes(32, "little"))
    ed_public[31] |= sign_bit
    try:
        return Ed25519PublicKey.from_public_bytes(bytes(ed_public))
    except ValueError:
        return None


def check_signature(public: bytes, message: bytes, signature: bytes, what: str) -> None:
    """Raise :class:`InvalidSignatureError` naming ``what`` unless the signature verifies."""
    if len(signature) != SIGNATURE_LEN:
        raise InvalidSignatureError(
            f"{what}: signature must be {SIGNATURE_LEN} bytes, got {len(signature)}"
        )
    if not verify(public, message, signature):
        raise InvalidSignatureError(f"{what}: signature does not verify")
