"""Sealing of stored values at rest, shared by every backend that encrypts.

A sealed value is ``version (1 byte) || nonce (12 bytes) || AES-256-GCM ciphertext+tag``,
with ``(client_id, category, id)`` as associated data, so a value copied to another row
or account fails to open. The native, PostgreSQL and Redis backends seal identically,
and an encrypted account keeps a sealed check value that tells a wrong key at once.
"""

from __future__ import annotations

import os

from wamd.crypto import aes_gcm_decrypt, aes_gcm_encrypt
from wamd.errors import CorruptStoreError, CryptoError, StoreKeyError, UsageError

__all__ = [
    "CHECK_CATEGORY",
    "CHECK_PLAINTEXT",
    "CREDS_CATEGORY",
    "NONCE_SIZE",
    "SEAL_VERSION",
    "Sealer",
    "check_account_args",
    "make_key_check",
    "verify_key_check",
]

CREDS_CATEGORY = "\x00creds"
"""The category the creds are sealed under (with the empty id)."""
CHECK_CATEGORY = "\x00key-check"
"""The category the per-account key check value is sealed under (with the empty id)."""
CHECK_PLAINTEXT = b"wamd native store key check v1"
"""What the key check value opens to under the right key."""
SEAL_VERSION = 1
"""The first byte of every sealed value."""
NONCE_SIZE = 12
"""Bytes of the random AES-GCM nonce stored after the version byte."""
_TAG_SIZE = 16


def _aad(client_id: str, category: str, key_id: str) -> bytes:
    parts = [client_id.encode(), category.encode(), key_id.encode()]
    return b"wamd-native\x00" + b"".join(len(p).to_bytes(4, "big") + p for p in parts)


class Sealer:
    """AES-256-GCM sealing of values bound to their (client_id, category, id)."""

    __slots__ = ("_client_id", "_key", "_where")

    def __init__(self, key: bytes, client_id: str, where: str) -> None:
        self._key = key
        self._client_id = client_id
        self._where = where

    def seal(self, category: str, key_id: str, plain: bytes) -> bytes:
        """``plain`` sealed under a fresh random nonce, bound to its row."""
        nonce = os.urandom(NONCE_SIZE)
        aad = _aad(self._client_id, category, key_id)
        return bytes([SEAL_VERSION]) + nonce + aes_gcm_encrypt(self._key, nonce, plain, aad)

    def open(self, category: str, key_id: str, sealed: bytes) -> bytes:
        """The plaintext of ``sealed``; :class:`CorruptStoreError` if it does not open."""
        if len(sealed) < 1 + NONCE_SIZE + _TAG_SIZE or sealed[0] != SEAL_VERSION:
            raise CorruptStoreError(
                f"{self._where}: value {category}/{key_id} is not a sealed value "
                "(was it written without encryption?)"
            )
        nonce = sealed[1 : 1 + NONCE_SIZE]
        try:
            return aes_gcm_decrypt(
                self._key, nonce, sealed[1 + NONCE_SIZE :], _aad(self._client_id, category, key_id)
            )
        except CryptoError:
            raise CorruptStoreError(
                f"{self._where}: value {category}/{key_id} failed authentication "
                "(damaged, or moved from another row)"
            ) from None


def make_key_check(sealer: Sealer) -> bytes:
    """The sealed check value stored with a new encrypted account."""
    return sealer.seal(CHECK_CATEGORY, "", CHECK_PLAINTEXT)


def verify_key_check(where: str, sealer: Sealer | None, check: bytes | None) -> None:
    """Raise :class:`StoreKeyError` unless ``sealer`` fits the account's stored check."""
    if check is None and sealer is not None:
        raise StoreKeyError(
            f"{where} is stored unencrypted but an encryption_key was given; "
            "migrate it to a new encrypted store instead"
        )
    if check is not None and sealer is None:
        raise StoreKeyError(f"{where} is encrypted: pass its encryption_key")
    if check is not None and sealer is not None:
        try:
            plain = sealer.open(CHECK_CATEGORY, "", check)
        except CorruptStoreError:
            raise StoreKeyError(f"{where}: wrong encryption_key") from None
        if plain != CHECK_PLAINTEXT:
            raise StoreKeyError(f"{where}: wrong encryption_key")


def check_account_args(client_id: object, encryption_key: object) -> None:
    """Refuse an empty or non-str ``client_id`` and a key that is not 32 bytes."""
    if not isinstance(client_id, str) or not client_id:
        raise UsageError("client_id must be a non-empty str")
    if encryption_key is not None and (
        not isinstance(encryption_key, bytes) or len(encryption_key) != 32
    ):
        raise StoreKeyError("encryption_key must be 32 bytes (AES-256)")
