"""Cryptographic primitives: X25519, XEdDSA, HKDF, AES (GCM, CBC, CTR), HMAC, PBKDF2.

Pure functions over bytes (sans-IO). Wrong key lengths, bad signatures and damaged
ciphertexts raise :class:`wamd.errors.CryptoError` subclasses.
"""

from wamd.crypto.aes import (
    aes_cbc_decrypt,
    aes_cbc_encrypt,
    aes_ctr_decrypt,
    aes_ctr_encrypt,
    aes_gcm_decrypt,
    aes_gcm_encrypt,
)
from wamd.crypto.curve import (
    DJB_TYPE,
    KeyPair,
    clamp,
    generate_key_pair,
    prefixed,
    public_from_private,
    shared_secret,
    unprefixed,
)
from wamd.crypto.hashes import hkdf, hmac_sha256, pbkdf2_sha256, sha256
from wamd.crypto.xeddsa import check_signature, sign, verify

__all__ = [
    "DJB_TYPE",
    "KeyPair",
    "aes_cbc_decrypt",
    "aes_cbc_encrypt",
    "aes_ctr_decrypt",
    "aes_ctr_encrypt",
    "aes_gcm_decrypt",
    "aes_gcm_encrypt",
    "check_signature",
    "clamp",
    "generate_key_pair",
    "hkdf",
    "hmac_sha256",
    "pbkdf2_sha256",
    "prefixed",
    "public_from_private",
    "sha256",
    "shared_secret",
    "sign",
    "unprefixed",
    "verify",
]
