"""Linking with a phone number and an 8-character code (protocol.md §4.3, fake-server.md §3).

The code is a password: each side wraps an ephemeral public key with a key derived from
it (PBKDF2 + AES-CTR), the two ephemeral keys agree on a secret, and the companion sends
its identity in a key bundle sealed with that secret. Both sides then derive the same adv
secret, which keys the pair-success HMAC. Functions for the companion (client) and for
the phone (fake phone) live side by side so the two roles use the same maths.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from typing import Final

from wamd.crypto import (
    KeyPair,
    aes_ctr_decrypt,
    aes_ctr_encrypt,
    aes_gcm_decrypt,
    aes_gcm_encrypt,
    generate_key_pair,
    hkdf,
    pbkdf2_sha256,
    shared_secret,
)
from wamd.errors import CryptoError, PairingCheckError, PairingError, UsageError
from wamd.pairing._checks import check_len

__all__ = [
    "CODE_KEY_ITERATIONS",
    "PAIRING_CODE_ALPHABET",
    "PAIRING_CODE_LENGTH",
    "CompanionFinish",
    "PrimaryHello",
    "companion_finish",
    "derive_adv_secret",
    "derive_code_key",
    "encode_code_bytes",
    "generate_pairing_code",
    "normalize_pairing_code",
    "normalize_phone_number",
    "open_key_bundle",
    "primary_hello",
    "unwrap_ephemeral_pub",
    "validate_pairing_code",
    "wrap_ephemeral_pub",
]

PAIRING_CODE_ALPHABET: Final = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"
"""The 32 characters a pairing code is written in (no 0, I, O, U)."""
PAIRING_CODE_LENGTH: Final = 8
CODE_KEY_ITERATIONS: Final = 2 << 16
"""PBKDF2 iterations for the code key (131072)."""

BUNDLE_KEY_INFO: Final = b"link_code_pairing_key_bundle_encryption_key"
ADV_SECRET_INFO: Final = b"adv_secret"

_KEY_LEN: Final = 32
_SALT_LEN: Final = 32
_CTR_IV_LEN: Final = 16
_GCM_IV_LEN: Final = 12
_WRAPPED_LEN: Final = _SALT_LEN + _CTR_IV_LEN + _KEY_LEN  # 80
_BUNDLE_PLAIN_LEN: Final = 3 * _KEY_LEN
_BUNDLE_LEN: Final = _SALT_LEN + _GCM_IV_LEN + _BUNDLE_PLAIN_LEN + 16  # 156
_MIN_PHONE_DIGITS: Final = 7
_MAX_PHONE_DIGITS: Final = 15


# --- the code and the phone number --------------------------------------------------------


def encode_code_bytes(data: bytes) -> str:
    """Write ``data`` 5 bits per character (MSB first) in the pairing-code alphabet.

    A final group of fewer than 5 bits is padded with zero bits on the right.
    """
    bits = int.from_bytes(data, "big")
    nbits = len(data) * 8
    pad = -nbits % 5
    bits <<= pad
    nchars = (nbits + pad) // 5
    return "".join(
        PAIRING_CODE_ALPHABET[(bits >> (5 * (nchars - 1 - i))) & 31] for i in range(nchars)
    )


def generate_pairing_code(random: bytes | None = None) -> str:
    """A fresh 8-character pairing code from 5 random bytes (``random`` fixes them)."""
    data = os.urandom(5) if random is None else random
    if len(data) != 5:
        raise UsageError(f"a pairing code is made from 5 random bytes, got {len(data)}")
    return encode_code_bytes(data)


def validate_pairing_code(code: str) -> str:
    """Return ``code`` if it is exactly 8 characters of the pairing-code alphabet.

    Raises :class:`~wamd.errors.UsageError` otherwise (for custom codes).
    """
    if not isinstance(code, str):
        raise UsageError(f"pairing code must be a string, got {type(code).__name__}")
    if len(code) != PAIRING_CODE_LENGTH:
        raise UsageError(
            f"pairing code must be exactly {PAIRING_CODE_LENGTH} characters, got {len(code)}"
        )
    bad = sorted({c for c in code if c not in PAIRING_CODE_ALPHABET})
    if bad:
        raise UsageError(
            f"pairing code may only use {PAIRING_CODE_ALPHABET}; it contains {''.join(bad)!r}"
        )
    return code


def normalize_pairing_code(code: str) -> str:
    """A code as a person types it (``abcd-efgh``) in its canonical 8-character form."""
    if not isinstance(code, str):
        raise UsageError(f"pairing code must be a string, got {type(code).__name__}")
    return validate_pairing_code(code.replace("-", "").replace(" ", "").upper())


def normalize_phone_number(phone: str | int) -> str:
    """The digits of an international phone number, for ``<phone>@s.whatsapp.net``.

    Accepts a leading ``+``, spaces and dashes; the rest must be 7–15 digits, not
    starting with 0 (the country code comes first). Raises
    :class:`~wamd.errors.UsageError` saying what is wrong.
    """
    text = str(phone).strip()
    digits = text.removeprefix("+").replace(" ", "").replace("-", "")
    if not digits:
        raise UsageError("phone number is empty")
    if not (digits.isascii() and digits.isdigit()):
        bad = sorted({c for c in digits if not (c.isascii() and c.isdigit())})
        raise UsageError(
            f"phone number {text!r} must be digits (a leading '+', spaces and dashes "
            f"are allowed); found {''.join(bad)!r}"
        )
    if not _MIN_PHONE_DIGITS <= len(digits) <= _MAX_PHONE_DIGITS:
        raise UsageError(
            f"phone number {text!r} has {len(digits)} digits; an international number "
            f"with country code has {_MIN_PHONE_DIGITS}-{_MAX_PHONE_DIGITS}"
        )
    if digits[0] == "0":
        raise UsageError(
            f"phone number {text!r} starts with 0: give it in international form, "
            "country code first (e.g. 4915112345678, not 015112345678)"
        )
    return digits


# --- wrapping an ephemeral key with the code ------------------------------------------------


def derive_code_key(code: str, salt: bytes) -> bytes:
    """The 32-byte AES key a code gives with ``salt`` (PBKDF2-HMAC-SHA256, 131072 rounds)."""
    return pbkdf2_sha256(code.encode("utf-8"), salt, CODE_KEY_ITERATIONS, _KEY_LEN)


def wrap_ephemeral_pub(
    code: str, public: bytes, *, salt: bytes | None = None, iv: bytes | None = None
) -> bytes:
    """Seal a 32-byte ephemeral public key with the code: ``salt(32) || iv(16) || ct(32)``.

    ``salt`` and ``iv`` default to fresh random bytes.
    """
    check_len(public, _KEY_LEN, "ephemeral public key")
    salt = os.urandom(_SALT_LEN) if salt is None else salt
    iv = os.urandom(_CTR_IV_LEN) if iv is None else iv
    check_len(salt, _SALT_LEN, "wrap salt")
    check_len(iv, _CTR_IV_LEN, "wrap IV")
    return salt + iv + aes_ctr_encrypt(derive_code_key(code, salt), iv, public)


def unwrap_ephemeral_pub(code: str, wrapped: bytes) -> bytes:
    """Open a key sealed by :func:`wrap_ephemeral_pub` (the first 80 bytes are used).

    AES-CTR has no tag: a wrong code gives a wrong key here, which the key bundle's
    AES-GCM check catches later.
    """
    if len(wrapped) < _WRAPPED_LEN:
        raise PairingError(
            f"wrapped ephemeral key must be {_WRAPPED_LEN} bytes, got {len(wrapped)}"
        )
    salt, iv = wrapped[:_SALT_LEN], wrapped[_SALT_LEN : _SALT_LEN + _CTR_IV_LEN]
    ct = wrapped[_SALT_LEN + _CTR_IV_LEN : _WRAPPED_LEN]
    return aes_ctr_decrypt(derive_code_key(code, salt), iv, ct)


def derive_adv_secret(companion_shared: bytes, identity_shared: bytes, random: bytes) -> bytes:
    """The 32-byte adv secret both sides derive once the key bundle is through.

    ``companion_shared`` is the ephemeral-ephemeral agreement, ``identity_shared`` the
    agreement between the companion's identity key and the phone's identity key, and
    ``random`` the 32 bytes the companion put in the bundle.
    """
    check_len(companion_shared, _KEY_LEN, "ephemeral shared secret")
    check_len(identity_shared, _KEY_LEN, "identity shared secret")
    check_len(random, _KEY_LEN, "bundle random")
    return hkdf(companion_shared + identity_shared + random, _KEY_LEN, info=ADV_SECRET_INFO)


def _bundle_key(shared: bytes, salt: bytes) -> bytes:
    return hkdf(shared, _KEY_LEN, salt=salt, info=BUNDLE_KEY_INFO)


# --- companion (client) side ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompanionFinish:
    """The companion's last pairing-code step: the key bundle to send and the new adv secret.

    The repr hides the adv secret.
    """

    wrapped_key_bundle: bytes
    adv_secret: bytes

    def __repr__(self) -> str:
        size = len(self.wrapped_key_bundle)
        return f"CompanionFinish(wrapped_key_bundle=<{size} bytes>, adv_secret=<hidden>)"

    @property
    def adv_secret_b64(self) -> str:
        """The adv secret in the base64 form creds store it in."""
        return base64.b64encode(self.adv_secret).decode("ascii")


def companion_finish(
    *,
    code: str,
    companion_ephemeral: KeyPair,
    identity: KeyPair,
    wrapped_primary_ephemeral_pub: bytes,
    primary_identity_pub: bytes,
    random: bytes | None = None,
    bundle_salt: bytes | None = None,
    iv: bytes | None = None,
) -> CompanionFinish:
    """Answer the phone's ``link_code_companion_reg`` notification (companion side).

    Unwraps the phone's ephemeral key with ``code``, seals ``identity.public ||
    primary_identity_pub || random`` in the key bundle (``bundle_salt(32) || iv(12) ||
    AES-GCM ct``) and derives the adv secret that replaces the creds' one. ``random``,
    ``bundle_salt`` and ``iv`` default to fresh random bytes.
    """
    check_len(primary_identity_pub, _KEY_LEN, "primary identity public key")
    primary_ephemeral_pub = unwrap_ephemeral_pub(code, wrapped_primary_ephemeral_pub)
    companion_shared = _agree(companion_ephemeral.private, primary_ephemeral_pub, "ephemeral")
    random = os.urandom(_KEY_LEN) if random is None else random
    bundle_salt = os.urandom(_SALT_LEN) if bundle_salt is None else bundle_salt
    iv = os.urandom(_GCM_IV_LEN) if iv is None else iv
    check_len(random, _KEY_LEN, "bundle random")
    check_len(bundle_salt, _SALT_LEN, "bundle salt")
    check_len(iv, _GCM_IV_LEN, "bundle IV")
    plain = identity.public + primary_identity_pub + random
    sealed = aes_gcm_encrypt(_bundle_key(companion_shared, bundle_salt), iv, plain)
    identity_shared = _agree(identity.private, primary_identity_pub, "primary identity")
    return CompanionFinish(
        wrapped_key_bundle=bundle_salt + iv + sealed,
        adv_secret=derive_adv_secret(companion_shared, identity_shared, random),
    )


# --- phone side ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PrimaryHello:
    """The phone's answer to a typed code: its ephemeral key, wrapped, and what it unwrapped.

    ``wrapped_primary_ephemeral_pub`` goes into the notification; ``ephemeral`` and
    ``companion_ephemeral_pub`` are kept for :func:`open_key_bundle`.
    """

    ephemeral: KeyPair
    companion_ephemeral_pub: bytes
    wrapped_primary_ephemeral_pub: bytes


def primary_hello(
    *,
    code: str,
    wrapped_companion_ephemeral_pub: bytes,
    ephemeral: KeyPair | None = None,
    salt: bytes | None = None,
    iv: bytes | None = None,
) -> PrimaryHello:
    """The phone's side once the user typed ``code``: unwrap the companion key, wrap ours."""
    companion_pub = unwrap_ephemeral_pub(code, wrapped_companion_ephemeral_pub)
    ours = generate_key_pair() if ephemeral is None else ephemeral
    return PrimaryHello(
        ephemeral=ours,
        companion_ephemeral_pub=companion_pub,
        wrapped_primary_ephemeral_pub=wrap_ephemeral_pub(code, ours.public, salt=salt, iv=iv),
    )


def open_key_bundle(
    *,
    wrapped_key_bundle: bytes,
    primary_ephemeral: KeyPair,
    companion_ephemeral_pub: bytes,
    account: KeyPair,
    companion_identity_pub: bytes,
) -> bytes:
    """Check the companion's key bundle (phone side) and return the 32-byte adv secret.

    Raises :class:`~wamd.errors.PairingCheckError`: ``key-bundle`` when it does not
    decrypt (a wrong code on either side ends here), ``companion-identity`` or
    ``primary-identity`` when the sealed keys are not the expected ones.
    """
    if len(wrapped_key_bundle) != _BUNDLE_LEN:
        raise PairingCheckError(
            "key-bundle",
            f"wrapped key bundle must be {_BUNDLE_LEN} bytes, got {len(wrapped_key_bundle)}",
        )
    check_len(companion_identity_pub, _KEY_LEN, "companion identity public key")
    salt = wrapped_key_bundle[:_SALT_LEN]
    iv = wrapped_key_bundle[_SALT_LEN : _SALT_LEN + _GCM_IV_LEN]
    sealed = wrapped_key_bundle[_SALT_LEN + _GCM_IV_LEN :]
    companion_shared = _agree(primary_ephemeral.private, companion_ephemeral_pub, "ephemeral")
    try:
        plain = aes_gcm_decrypt(_bundle_key(companion_shared, salt), iv, sealed)
    except CryptoError:
        raise PairingCheckError(
            "key-bundle", "key bundle does not decrypt (wrong pairing code?)"
        ) from None
    sealed_companion = plain[:_KEY_LEN]
    sealed_primary = plain[_KEY_LEN : 2 * _KEY_LEN]
    random = plain[2 * _KEY_LEN :]
    if sealed_companion != companion_identity_pub:
        raise PairingCheckError(
            "companion-identity", "key bundle names another companion identity key"
        )
    if sealed_primary != account.public:
        raise PairingCheckError("primary-identity", "key bundle names another primary identity key")
    identity_shared = _agree(account.private, companion_identity_pub, "companion identity")
    return derive_adv_secret(companion_shared, identity_shared, random)


def _agree(private: bytes, public: bytes, what: str) -> bytes:
    try:
        return shared_secret(private, public)
    except CryptoError as exc:
        raise PairingError(f"{what} key agreement failed: {exc}") from None
