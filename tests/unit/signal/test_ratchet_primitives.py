"""The ratchet's fast HMAC and AES-CBC entry points agree with the standard library and Cipher."""

from __future__ import annotations

import hmac
import os

from cryptography.hazmat.primitives.ciphers import Cipher
from cryptography.hazmat.primitives.ciphers.algorithms import AES
from cryptography.hazmat.primitives.ciphers.modes import CBC

from wamd.crypto import hkdf
from wamd.signal import ratchet


def test_hmac_paths_agree_with_hmac_digest() -> None:
    for _ in range(20):
        key, msg = os.urandom(32), os.urandom(int.from_bytes(os.urandom(1), "big"))
        expected = hmac.digest(key, msg, "sha256")
        assert ratchet._hmac_new(key, msg, "sha256").digest() == expected
        assert ratchet._python_hmac_new(key, msg, "sha256").digest() == expected
        seed, next_key = ratchet._chain_step(key)
        assert seed == hmac.digest(key, b"\x01", "sha256")
        assert next_key == hmac.digest(key, b"\x02", "sha256")


def test_message_keys_and_root_step_are_hkdf() -> None:
    seed, root, dh = os.urandom(32), os.urandom(32), os.urandom(32)
    okm = hkdf(seed, 80, salt=bytes(32), info=b"WhisperMessageKeys")
    assert ratchet.derive_message_keys(seed) == (okm[:32], okm[32:64], okm[64:80])
    okm = hkdf(dh, 64, salt=root, info=b"WhisperRatchet")
    assert ratchet.root_step(root, dh) == (okm[:32], okm[32:])


def test_cbc_factories_agree_with_cipher() -> None:
    for n in (16, 48, 112):
        key, iv, data = os.urandom(32), os.urandom(16), os.urandom(n)
        ref = Cipher(AES(key), CBC(iv)).encryptor()
        expected = ref.update(data) + ref.finalize()
        for make_enc, make_dec in (
            (ratchet._cbc_encryptor, ratchet._cbc_decryptor),
            (ratchet._cipher_encryptor, ratchet._cipher_decryptor),
        ):
            enc = make_enc(key, iv)
            assert enc.update(data) + enc.finalize() == expected
            dec = make_dec(key, iv)
            assert dec.update(expected) + dec.finalize() == data
