"""Crypto primitives against published vectors, and their refusal of bad input."""

from __future__ import annotations

import os

import pytest

from wamd.crypto import (
    KeyPair,
    aes_cbc_decrypt,
    aes_cbc_encrypt,
    aes_ctr_decrypt,
    aes_ctr_encrypt,
    aes_gcm_decrypt,
    aes_gcm_encrypt,
    check_signature,
    clamp,
    generate_key_pair,
    hkdf,
    hmac_sha256,
    pbkdf2_sha256,
    prefixed,
    public_from_private,
    shared_secret,
    sign,
    unprefixed,
    verify,
)
from wamd.errors import DecryptionError, InvalidKeyError, InvalidSignatureError

H = bytes.fromhex


def test_hkdf_matches_rfc5869_case_1() -> None:
    okm = hkdf(
        H("0b" * 22), 42, salt=H("000102030405060708090a0b0c"), info=H("f0f1f2f3f4f5f6f7f8f9")
    )
    assert okm == H(
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


def test_hkdf_matches_rfc5869_case_3_empty_salt_and_info() -> None:
    okm = hkdf(H("0b" * 22), 42)
    assert okm == H(
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
    )


def test_hkdf_refuses_impossible_lengths() -> None:
    with pytest.raises(Exception, match="HKDF output length"):
        hkdf(b"x", 0)
    with pytest.raises(Exception, match="HKDF output length"):
        hkdf(b"x", 255 * 32 + 1)


def test_hmac_sha256_matches_rfc4231_case_2() -> None:
    mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?")
    assert mac == H("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


def test_pbkdf2_matches_rfc7914_vector() -> None:
    out = pbkdf2_sha256(b"passwd", b"salt", 1, 64)
    assert out[:16] == H("55ac046e56e3089fec1691c22544b605")


def test_aes_gcm_matches_nist_test_case_14() -> None:
    # 256-bit key of zeros, 96-bit IV of zeros, one zero block (GCM spec test case 14).
    ct = aes_gcm_encrypt(bytes(32), bytes(12), bytes(16))
    assert ct == H("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919")
    assert aes_gcm_decrypt(bytes(32), bytes(12), ct) == bytes(16)


def test_aes_gcm_rejects_tampering_and_truncation() -> None:
    key, iv = os.urandom(32), os.urandom(12)
    ct = bytearray(aes_gcm_encrypt(key, iv, b"hello", b"aad"))
    with pytest.raises(DecryptionError):
        aes_gcm_decrypt(key, iv, bytes(ct), b"other aad")
    ct[0] ^= 1
    with pytest.raises(DecryptionError):
        aes_gcm_decrypt(key, iv, bytes(ct), b"aad")
    with pytest.raises(DecryptionError, match="shorter than a tag"):
        aes_gcm_decrypt(key, iv, b"short")


def test_aes_cbc_matches_nist_sp800_38a_f25_first_block() -> None:
    key = H("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
    iv = H("000102030405060708090a0b0c0d0e0f")
    pt = H("6bc1bee22e409f96e93d7e117393172a")
    ct = aes_cbc_encrypt(key, iv, pt)
    assert ct[:16] == H("f58c4c04d6e5f1ba779eabfb5f7bfbd6")
    assert len(ct) == 32  # a full block of PKCS#7 padding follows
    assert aes_cbc_decrypt(key, iv, ct) == pt


def test_aes_cbc_rejects_bad_padding_and_lengths() -> None:
    key, iv = os.urandom(32), os.urandom(16)
    ct = aes_cbc_encrypt(key, iv, b"x" * 20)
    with pytest.raises(DecryptionError, match="multiple of 16"):
        aes_cbc_decrypt(key, iv, ct[:-1])
    with pytest.raises(DecryptionError, match="multiple of 16"):
        aes_cbc_decrypt(key, iv, b"")
    # A block whose plaintext does not end in valid padding.
    raw = aes_ctr_encrypt(key, iv, bytes(16))  # any 16 bytes decrypt to noise
    with pytest.raises(DecryptionError, match="padding"):
        for _ in range(50):  # noise ends in a valid pad 0x01 with probability 1/256
            aes_cbc_decrypt(key, os.urandom(16), raw)


def test_aes_ctr_matches_nist_sp800_38a_f55_first_block() -> None:
    key = H("603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4")
    ctr = H("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff")
    pt = H("6bc1bee22e409f96e93d7e117393172a")
    ct = aes_ctr_encrypt(key, ctr, pt)
    assert ct == H("601ec313775789a5b7a7f504bbf3d228")
    assert aes_ctr_decrypt(key, ctr, ct) == pt


@pytest.mark.parametrize("bad", [b"", b"x" * 31, b"x" * 33])
def test_aes_refuses_wrong_key_lengths(bad: bytes) -> None:
    with pytest.raises(InvalidKeyError, match="32 bytes"):
        aes_gcm_encrypt(bad, bytes(12), b"")
    with pytest.raises(InvalidKeyError, match="32 bytes"):
        aes_cbc_encrypt(bad, bytes(16), b"")


def test_x25519_matches_rfc7748_vector() -> None:
    alice = H("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    bob_pub = H("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    assert public_from_private(alice) == H(
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    )
    assert shared_secret(alice, bob_pub) == H(
        "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"
    )
    assert shared_secret(alice, prefixed(bob_pub)) == shared_secret(alice, bob_pub)


def test_x25519_refuses_low_order_points_and_bad_lengths() -> None:
    with pytest.raises(InvalidKeyError, match="low-order"):
        shared_secret(generate_key_pair().private, bytes(32))
    with pytest.raises(InvalidKeyError, match="32 bytes"):
        shared_secret(b"short", bytes(32))
    with pytest.raises(InvalidKeyError, match="type byte"):
        unprefixed(b"\x07" + bytes(32))


def test_generated_keys_are_clamped_and_consistent() -> None:
    for _ in range(20):
        kp = generate_key_pair()
        assert clamp(kp.private) == kp.private
        assert public_from_private(kp.private) == kp.public
        assert KeyPair.from_private(kp.private) == kp


def test_key_pair_repr_hides_private_key() -> None:
    kp = generate_key_pair()
    text = repr(kp) + str(kp)
    assert kp.private.hex() not in text
    assert "hidden" in text
    assert kp.public.hex() in text


def test_sign_then_verify_and_tampering_fails() -> None:
    kp = generate_key_pair()
    msg = os.urandom(100)
    sig = sign(kp.private, msg)
    assert len(sig) == 64
    assert verify(kp.public, msg, sig)
    assert verify(prefixed(kp.public), msg, sig)
    assert not verify(kp.public, msg + b"x", sig)
    bad = bytearray(sig)
    bad[10] ^= 1
    assert not verify(kp.public, msg, bytes(bad))
    assert not verify(generate_key_pair().public, msg, sig)
    assert not verify(kp.public, msg, sig[:63])


def test_signing_clamps_an_unclamped_private_key() -> None:
    raw = bytearray(os.urandom(32))
    raw[0] |= 7  # unclamped low bits
    raw[31] |= 128
    kp = KeyPair.from_private(bytes(raw))
    sig = sign(bytes(raw), b"message")
    assert verify(kp.public, b"message", sig)


def test_check_signature_names_what_failed() -> None:
    kp = generate_key_pair()
    with pytest.raises(InvalidSignatureError, match="signed pre-key: signature does not verify"):
        check_signature(kp.public, b"m", bytes(64), "signed pre-key")
    with pytest.raises(InvalidSignatureError, match="must be 64 bytes, got 3"):
        check_signature(kp.public, b"m", b"abc", "x")
