"""AES-256 in GCM, CBC (PKCS#7) and CTR modes."""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.ciphers.modes import CBC, CTR

from wamd.errors import DecryptionError, InvalidKeyError

__all__ = [
    "aes_cbc_decrypt",
    "aes_cbc_encrypt",
    "aes_ctr_decrypt",
    "aes_ctr_encrypt",
    "aes_gcm_decrypt",
    "aes_gcm_encrypt",
]

_BLOCK = 16
_TAG = 16


def _check_key(key: bytes) -> None:
    if len(key) != 32:
        raise InvalidKeyError(f"AES-256 key must be 32 bytes, got {len(key)}")


def _check_iv(iv: bytes, size: int, mode: str) -> None:
    if len(iv) != size:
        raise InvalidKeyError(f"AES-{mode} IV must be {size} bytes, got {len(iv)}")


def aes_gcm_encrypt(key: bytes, iv: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """AES-256-GCM; returns ciphertext followed by the 16-byte tag."""
    _check_key(key)
    _check_iv(iv, 12, "GCM")
    return AESGCM(key).encrypt(iv, plaintext, aad or None)


def aes_gcm_decrypt(key: bytes, iv: bytes, ciphertext: bytes, aad: bytes = b"") -> bytes:
    """AES-256-GCM decrypt of ciphertext||tag; a bad tag raises DecryptionError."""
    _check_key(key)
    _check_iv(iv, 12, "GCM")
    if len(ciphertext) < _TAG:
        raise DecryptionError(f"AES-GCM ciphertext is {len(ciphertext)} bytes, shorter than a tag")
    try:
        return AESGCM(key).decrypt(iv, ciphertext, aad or None)
    except InvalidTag:
        raise DecryptionError("AES-GCM authentication failed") from None


def aes_cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """AES-256-CBC with PKCS#7 padding."""
    _check_key(key)
    _check_iv(iv, _BLOCK, "CBC")
    pad = _BLOCK - len(plaintext) % _BLOCK
    enc = Cipher(AES(key), CBC(iv)).encryptor()
    return enc.update(plaintext + bytes((pad,)) * pad) + enc.finalize()


def aes_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """AES-256-CBC decrypt and PKCS#7 unpad; bad length or padding raises DecryptionError."""
    _check_key(key)
    _check_iv(iv, _BLOCK, "CBC")
    if not ciphertext or len(ciphertext) % _BLOCK:
        raise DecryptionError(
            f"AES-CBC ciphertext length {len(ciphertext)} is not a positive multiple of 16"
        )
    dec = Cipher(AES(key), CBC(iv)).decryptor()
    padded = dec.update(ciphertext) + dec.finalize()
    pad = padded[-1]
    if not 1 <= pad <= _BLOCK or padded[-pad:] != bytes((pad,)) * pad:
        raise DecryptionError("AES-CBC padding is invalid")
    return padded[:-pad]


def aes_ctr_encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """AES-256-CTR; ``iv`` is the full 16-byte initial counter block."""
    _check_key(key)
    _check_iv(iv, _BLOCK, "CTR")
    enc = Cipher(AES(key), CTR(iv)).encryptor()
    return enc.update(plaintext) + enc.finalize()


def aes_ctr_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """AES-256-CTR decrypt (the same operation as encrypt)."""
    return aes_ctr_encrypt(key, iv, ciphertext)
