"""The Noise symmetric state as WhatsApp runs it (protocol.md §1.4).

Standard Noise with one WA-specific detail: during the handshake a single nonce counter
serves both encryption and decryption, and only MixKey resets it. That is why the
client encrypts its static key with nonce 1 right after decrypting the certificate
chain with nonce 0.
"""

from __future__ import annotations

from wamd.crypto import aes_gcm_decrypt, aes_gcm_encrypt, hkdf, sha256
from wamd.errors import CryptoError, HandshakeError
from wamd.noise.transport import nonce

__all__ = ["PROTOCOL_NAME", "SymmetricState"]

PROTOCOL_NAME = b"Noise_XX_25519_AESGCM_SHA256\x00\x00\x00\x00"
"""The protocol name padded to 32 bytes; used as-is (not hashed) for ``h`` and ``ck``."""


class SymmetricState:
    """The running hash ``h``, chaining key ``ck`` and cipher key ``k`` with its nonce.

    Created with the prologue (the WA header) already mixed into the hash. Both roles
    use it identically; they differ only in what they mix in and in which half of
    :meth:`split` each one writes with.
    """

    __slots__ = ("_ck", "_h", "_k", "_n")

    def __init__(self, prologue: bytes) -> None:
        self._h = PROTOCOL_NAME
        self._ck = PROTOCOL_NAME
        self._k = PROTOCOL_NAME
        self._n = 0
        self.mix_hash(prologue)

    def __repr__(self) -> str:
        return f"SymmetricState(nonce={self._n})"

    @property
    def handshake_hash(self) -> bytes:
        """The current handshake hash ``h`` (public: both sides compute the same)."""
        return self._h

    def mix_hash(self, data: bytes) -> None:
        """``h = SHA-256(h || data)``."""
        self._h = sha256(self._h + bytes(data))

    def mix_key(self, ikm: bytes) -> None:
        """Derive a new chaining key and cipher key from ``ikm``; reset the nonce."""
        out = hkdf(ikm, 64, salt=self._ck)
        self._ck = out[:32]
        self._k = out[32:]
        self._n = 0

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        """AES-GCM encrypt with ``h`` as associated data, then mix the ciphertext in."""
        ciphertext = aes_gcm_encrypt(self._k, nonce(self._n), bytes(plaintext), self._h)
        self._n += 1
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes, what: str) -> bytes:
        """Decrypt with ``h`` as associated data, then mix the ciphertext in.

        ``what`` names the field for the :class:`~wamd.errors.HandshakeError` raised when
        the tag does not verify.
        """
        try:
            plaintext = aes_gcm_decrypt(self._k, nonce(self._n), bytes(ciphertext), self._h)
        except CryptoError as exc:
            raise HandshakeError(
                f"{what} ({len(ciphertext)} bytes) failed to decrypt: {exc}"
            ) from None
        self._n += 1
        self.mix_hash(ciphertext)
        return plaintext

    def split(self) -> tuple[bytes, bytes]:
        """The two transport keys: (initiator's write key, responder's write key)."""
        out = hkdf(b"", 64, salt=self._ck)
        return out[:32], out[32:]
