"""Linking by code: the code, the phone number, key wrapping and the key bundle, both sides."""

from __future__ import annotations

import hashlib
import os

import pytest

from wamd.crypto import KeyPair, aes_gcm_encrypt, generate_key_pair, hkdf, shared_secret
from wamd.errors import PairingCheckError, PairingError, UsageError
from wamd.pairing import (
    PAIRING_CODE_ALPHABET,
    companion_finish,
    derive_adv_secret,
    derive_code_key,
    generate_pairing_code,
    normalize_pairing_code,
    normalize_phone_number,
    open_key_bundle,
    primary_hello,
    unwrap_ephemeral_pub,
    validate_pairing_code,
    wrap_ephemeral_pub,
)
from wamd.pairing.code import BUNDLE_KEY_INFO, encode_code_bytes

# --- the code --------------------------------------------------------------------------------


def test_alphabet_has_32_distinct_characters_without_lookalikes() -> None:
    assert len(set(PAIRING_CODE_ALPHABET)) == 32
    assert not set("0IOU") & set(PAIRING_CODE_ALPHABET)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (bytes(5), "11111111"),
        (b"\xff" * 5, "ZZZZZZZZ"),
        # 00001 00010 00011 ... : the value of each 5-bit group indexes the alphabet
        (int("0000100010000110010000101001100011101000", 2).to_bytes(5, "big"), "23456789"),
        (b"\x80", "H1"),  # 10000 000(00): a short tail is padded with zero bits
    ],
)
def test_encoding_takes_five_bits_per_character_msb_first(data: bytes, code: str) -> None:
    assert encode_code_bytes(data) == code


def test_generated_codes_are_eight_alphabet_characters() -> None:
    codes = {generate_pairing_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert validate_pairing_code(code) == code
    assert generate_pairing_code(b"\x00\x00\x00\x00\x00") == "11111111"


@pytest.mark.parametrize(
    ("code", "match"),
    [
        ("ABCDEFG", "exactly 8"),
        ("ABCDEFGHJ", "exactly 8"),
        ("ABCDEFG0", "'0'"),
        ("abcdefgh", "contains"),
        ("ABCD-EFG", "'-'"),
    ],
)
def test_custom_codes_must_be_eight_alphabet_characters(code: str, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        validate_pairing_code(code)


def test_typed_codes_are_normalised() -> None:
    assert normalize_pairing_code("abcd-efgh") == "ABCDEFGH"
    assert normalize_pairing_code(" 1234 5678 ") == "12345678"
    with pytest.raises(UsageError):
        normalize_pairing_code("abcd-efgO")


@pytest.mark.parametrize(
    ("phone", "digits"),
    [
        ("+1 555-000-1111", "15550001111"),
        ("4915112345678", "4915112345678"),
        (15550001111, "15550001111"),
        ("+44 7700 900123", "447700900123"),
        ("1234567", "1234567"),
        ("123456789012345", "123456789012345"),
    ],
)
def test_phone_numbers_keep_their_digits(phone: str | int, digits: str) -> None:
    assert normalize_phone_number(phone) == digits


@pytest.mark.parametrize(
    ("phone", "match"),
    [
        ("", "empty"),
        ("+", "empty"),
        ("(555) 0001111", "found '\\(\\)'"),
        ("+1555abc1111", "'abc'"),
        ("123456", "6 digits"),
        ("1234567890123456", "16 digits"),
        ("015112345678", "starts with 0"),
        ("++15550001111", "'\\+'"),
        ("١٥٥٥٠٠٠١١١١", "must be digits"),  # non-ASCII digits
    ],
)
def test_bad_phone_numbers_raise_a_clear_usage_error(phone: str, match: str) -> None:
    with pytest.raises(UsageError, match=match):
        normalize_phone_number(phone)


# --- wrapping ---------------------------------------------------------------------------------


def test_code_key_is_pbkdf2_sha256_with_131072_rounds() -> None:
    salt = os.urandom(32)
    expected = hashlib.pbkdf2_hmac("sha256", b"ABCDEFGH", salt, 131072, 32)
    assert derive_code_key("ABCDEFGH", salt) == expected


def test_wrap_layout_and_round_trip() -> None:
    pub = generate_key_pair().public
    salt, iv = os.urandom(32), os.urandom(16)
    wrapped = wrap_ephemeral_pub("ABCDEFGH", pub, salt=salt, iv=iv)
    assert len(wrapped) == 80
    assert wrapped[:32] == salt and wrapped[32:48] == iv
    assert wrapped[48:] != pub
    assert unwrap_ephemeral_pub("ABCDEFGH", wrapped) == pub


def test_wrap_is_fresh_each_time() -> None:
    pub = generate_key_pair().public
    assert wrap_ephemeral_pub("ABCDEFGH", pub) != wrap_ephemeral_pub("ABCDEFGH", pub)


def test_wrong_code_unwraps_to_a_different_key() -> None:
    pub = generate_key_pair().public
    wrapped = wrap_ephemeral_pub("ABCDEFGH", pub)
    assert unwrap_ephemeral_pub("ABCDEFGJ", wrapped) != pub


def test_wrap_and_unwrap_refuse_bad_sizes() -> None:
    with pytest.raises(PairingError, match="80 bytes"):
        unwrap_ephemeral_pub("ABCDEFGH", bytes(79))
    with pytest.raises(PairingError, match="ephemeral public key"):
        wrap_ephemeral_pub("ABCDEFGH", bytes(33))
    with pytest.raises(PairingError, match="salt"):
        wrap_ephemeral_pub("ABCDEFGH", bytes(32), salt=bytes(16))


# --- the whole exchange -------------------------------------------------------------------------


class _Flow:
    """One code exchange: the companion's and the phone's keys and messages."""

    def __init__(self, client_code: str = "ABCDEFGH", phone_code: str | None = None) -> None:
        self.code = client_code
        self.companion_ephemeral = generate_key_pair()
        self.identity = generate_key_pair()
        self.account = generate_key_pair()
        self.hello = wrap_ephemeral_pub(client_code, self.companion_ephemeral.public)
        self.primary = primary_hello(
            code=phone_code or client_code, wrapped_companion_ephemeral_pub=self.hello
        )

    def finish(self, **kw: bytes) -> bytes:
        done = companion_finish(
            code=self.code,
            companion_ephemeral=self.companion_ephemeral,
            identity=self.identity,
            wrapped_primary_ephemeral_pub=self.primary.wrapped_primary_ephemeral_pub,
            primary_identity_pub=self.account.public,
            **kw,
        )
        self.client_adv = done.adv_secret
        return done.wrapped_key_bundle

    def phone_opens(self, bundle: bytes, companion_identity: bytes | None = None) -> bytes:
        return open_key_bundle(
            wrapped_key_bundle=bundle,
            primary_ephemeral=self.primary.ephemeral,
            companion_ephemeral_pub=self.primary.companion_ephemeral_pub,
            account=self.account,
            companion_identity_pub=companion_identity or self.identity.public,
        )


def test_both_sides_derive_the_same_adv_secret() -> None:
    flow = _Flow()
    assert flow.primary.companion_ephemeral_pub == flow.companion_ephemeral.public
    bundle = flow.finish()
    assert len(bundle) == 156
    phone_adv = flow.phone_opens(bundle)
    assert phone_adv == flow.client_adv
    assert len(phone_adv) == 32


def test_adv_secret_is_hkdf_of_both_agreements_and_the_random() -> None:
    flow = _Flow()
    random = os.urandom(32)
    flow.finish(random=random)
    companion_shared = shared_secret(
        flow.companion_ephemeral.private, flow.primary.ephemeral.public
    )
    identity_shared = shared_secret(flow.identity.private, flow.account.public)
    expected = hkdf(companion_shared + identity_shared + random, 32, info=b"adv_secret")
    assert (
        flow.client_adv == expected == derive_adv_secret(companion_shared, identity_shared, random)
    )


def test_fixed_randomness_gives_the_documented_bundle_layout() -> None:
    flow = _Flow()
    random, salt, iv = os.urandom(32), os.urandom(32), os.urandom(12)
    bundle = flow.finish(random=random, bundle_salt=salt, iv=iv)
    shared = shared_secret(flow.companion_ephemeral.private, flow.primary.ephemeral.public)
    key = hkdf(shared, 32, salt=salt, info=BUNDLE_KEY_INFO)
    plain = flow.identity.public + flow.account.public + random
    assert bundle == salt + iv + aes_gcm_encrypt(key, iv, plain)


def test_wrong_code_typed_on_the_phone_is_detected_at_the_bundle() -> None:
    flow = _Flow(client_code="ABCDEFGH", phone_code="ABCDEFGJ")
    bundle = flow.finish()
    with pytest.raises(PairingCheckError) as info:
        flow.phone_opens(bundle)
    assert info.value.check == "key-bundle"


def test_tampered_bundle_is_refused() -> None:
    flow = _Flow()
    bundle = bytearray(flow.finish())
    bundle[100] ^= 1
    with pytest.raises(PairingCheckError) as info:
        flow.phone_opens(bytes(bundle))
    assert info.value.check == "key-bundle"
    with pytest.raises(PairingCheckError, match="156 bytes"):
        flow.phone_opens(bytes(bundle[:155]))


def test_bundle_for_another_companion_identity_is_refused() -> None:
    flow = _Flow()
    bundle = flow.finish()
    with pytest.raises(PairingCheckError) as info:
        flow.phone_opens(bundle, companion_identity=generate_key_pair().public)
    assert info.value.check == "companion-identity"


def test_bundle_naming_another_primary_identity_is_refused() -> None:
    flow = _Flow()
    done = companion_finish(
        code=flow.code,
        companion_ephemeral=flow.companion_ephemeral,
        identity=flow.identity,
        wrapped_primary_ephemeral_pub=flow.primary.wrapped_primary_ephemeral_pub,
        primary_identity_pub=generate_key_pair().public,
    )
    with pytest.raises(PairingCheckError) as info:
        flow.phone_opens(done.wrapped_key_bundle)
    assert info.value.check == "primary-identity"


def test_phone_can_fix_its_ephemeral_key_and_wrap_randomness() -> None:
    eph: KeyPair = generate_key_pair()
    wrapped = wrap_ephemeral_pub("ABCDEFGH", generate_key_pair().public)
    salt, iv = os.urandom(32), os.urandom(16)
    a = primary_hello(
        code="ABCDEFGH", wrapped_companion_ephemeral_pub=wrapped, ephemeral=eph, salt=salt, iv=iv
    )
    b = primary_hello(
        code="ABCDEFGH", wrapped_companion_ephemeral_pub=wrapped, ephemeral=eph, salt=salt, iv=iv
    )
    assert a == b and a.ephemeral == eph


def test_repr_of_the_finish_hides_the_adv_secret() -> None:
    flow = _Flow()
    done = companion_finish(
        code=flow.code,
        companion_ephemeral=flow.companion_ephemeral,
        identity=flow.identity,
        wrapped_primary_ephemeral_pub=flow.primary.wrapped_primary_ephemeral_pub,
        primary_identity_pub=flow.account.public,
    )
    assert done.adv_secret.hex() not in repr(done)
    assert done.adv_secret_b64 not in repr(done)
