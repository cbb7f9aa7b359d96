"""The QR string: built by the companion, read back by the phone; bad strings refused."""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wamd.errors import PairingError
from wamd.pairing import QRData, build_qr, decode_adv_secret, parse_qr
from wamd.pairing.qr import QR_URL_PREFIX

NOISE = bytes(range(32))
IDENT = bytes(range(32, 64))
ADV = bytes(range(64, 96))
ADV_B64 = base64.b64encode(ADV).decode()


def test_qr_is_the_url_form_with_five_fields() -> None:
    qr = build_qr("2@abc", NOISE, IDENT, ADV_B64, "1")
    assert qr == (
        "https://wa.me/settings/linked_devices#2@abc,"
        f"{base64.b64encode(NOISE).decode()},{base64.b64encode(IDENT).decode()},{ADV_B64},1"
    )


def test_ref_given_as_bytes_is_read_as_utf8() -> None:
    assert build_qr(b"2@ref", NOISE, IDENT, ADV_B64, "6") == build_qr(
        "2@ref", NOISE, IDENT, ADV_B64, "6"
    )


def test_parse_reads_back_every_field() -> None:
    data = parse_qr(build_qr("2@xyz+/=", NOISE, IDENT, ADV_B64, "9"))
    assert data == QRData("2@xyz+/=", NOISE, IDENT, ADV, "9")
    assert data.adv_secret_b64 == ADV_B64


def test_parse_accepts_the_legacy_four_field_form() -> None:
    legacy = ",".join(
        ["2@old", base64.b64encode(NOISE).decode(), base64.b64encode(IDENT).decode(), ADV_B64]
    )
    assert parse_qr(legacy) == QRData("2@old", NOISE, IDENT, ADV, None)


@settings(max_examples=50)
@given(
    ref=st.text(
        alphabet=st.characters(blacklist_characters=",#", blacklist_categories=["Cs"]), min_size=1
    ).filter(lambda r: r.strip() == r),
    noise=st.binary(min_size=32, max_size=32),
    ident=st.binary(min_size=32, max_size=32),
    adv=st.binary(min_size=32, max_size=32),
    platform=st.sampled_from(["1", "7", "9", "c"]),
)
def test_build_then_parse_round_trips(
    ref: str, noise: bytes, ident: bytes, adv: bytes, platform: str
) -> None:
    qr = build_qr(ref, noise, ident, base64.b64encode(adv).decode(), platform)
    assert parse_qr(qr) == QRData(ref, noise, ident, adv, platform)


def test_repr_hides_the_adv_secret() -> None:
    text = repr(parse_qr(build_qr("2@r", NOISE, IDENT, ADV_B64, "1")))
    assert ADV.hex() not in text and ADV_B64 not in text
    assert "<hidden>" in text


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "4 or 5"),
        ("a,b,c", "4 or 5"),
        (QR_URL_PREFIX + "a,b,c,d,e,f", "4 or 5"),
        ("https://evil.example/#2@r,AA==,AA==,AA==", "must start with"),
        (QR_URL_PREFIX + f",{base64.b64encode(NOISE).decode()},x,x", "ref"),
        (QR_URL_PREFIX + f"2@r,notbase64!,{ADV_B64},{ADV_B64}", "field 2"),
        (
            QR_URL_PREFIX + f"2@r,{ADV_B64},{base64.b64encode(b'short').decode()},{ADV_B64}",
            "field 3",
        ),
        (
            QR_URL_PREFIX + f"2@r,{ADV_B64},{ADV_B64},{base64.b64encode(bytes(33)).decode()}",
            "field 4",
        ),
        (QR_URL_PREFIX + f"2@r,{ADV_B64},{ADV_B64},{ADV_B64},", "field 5"),
    ],
)
def test_bad_qr_strings_raise_pairing_error(text: str, match: str) -> None:
    with pytest.raises(PairingError, match=match):
        parse_qr(text)


def test_parse_rejects_non_strings() -> None:
    with pytest.raises(PairingError):
        parse_qr(b"2@r,a,b,c")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("2@a,b", NOISE, IDENT, ADV_B64, "1"), "comma"),
        (("", NOISE, IDENT, ADV_B64, "1"), "non-empty"),
        ((b"\xff\xfe", NOISE, IDENT, ADV_B64, "1"), "UTF-8"),
        (("2@a", NOISE[:31], IDENT, ADV_B64, "1"), "noise public key"),
        (("2@a", NOISE, b"\x05" + IDENT, ADV_B64, "1"), "identity public key"),
        (("2@a", NOISE, IDENT, "not base64", "1"), "adv secret"),
        (("2@a", NOISE, IDENT, base64.b64encode(os.urandom(16)).decode(), "1"), "32 bytes"),
        (("2@a", NOISE, IDENT, ADV_B64, ""), "platform id"),
    ],
)
def test_build_refuses_bad_fields(args: tuple[object, ...], match: str) -> None:
    with pytest.raises(PairingError, match=match):
        build_qr(*args)  # type: ignore[arg-type]


def test_decode_adv_secret_needs_32_bytes_of_base64() -> None:
    assert decode_adv_secret(ADV_B64) == ADV
    with pytest.raises(PairingError, match="base64"):
        decode_adv_secret("@@@@")
    with pytest.raises(PairingError, match="32 bytes"):
        decode_adv_secret(base64.b64encode(bytes(31)).decode())
    with pytest.raises(PairingError, match="adv secret must be a base64 string, got bytes"):
        decode_adv_secret(ADV)  # type: ignore[arg-type]
