"""Certificate chain verification: a good chain passes, each defect fails its own check."""

from __future__ import annotations

import pytest

from wamd._proto.handshake_pb2 import CertChain
from wamd.crypto import KeyPair, generate_key_pair, sign, verify
from wamd.errors import CertificateError
from wamd.noise import (
    CHECKS,
    WA_ROOT_KEY,
    CertDetails,
    make_cert_chain,
    verify_cert_chain,
)

NOW = 1_764_000_000
ROOT = generate_key_pair()
SERVER = generate_key_pair()


def _check(chain: bytes, static: bytes = SERVER.public, now: int = NOW) -> str:
    with pytest.raises(CertificateError) as info:
        verify_cert_chain(chain, static, now, ROOT.public)
    assert info.value.check in CHECKS
    assert f"'{info.value.check}'" in str(info.value)
    return info.value.check


def test_wa_root_key_is_whatsapps_long_term_key() -> None:
    assert WA_ROOT_KEY.hex() == "142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b"


def test_a_chain_from_the_test_root_passes_and_reports_its_details() -> None:
    issued = make_cert_chain(ROOT, SERVER.public, NOW)
    result = verify_cert_chain(issued.chain, SERVER.public, NOW, ROOT.public)
    assert result.intermediate.key == issued.intermediate.public
    assert (result.intermediate.serial, result.intermediate.issuer_serial) == (1, 0)
    assert (result.leaf.serial, result.leaf.issuer_serial) == (2, 1)
    assert result.leaf.key == SERVER.public
    assert result.leaf.not_before <= NOW <= result.leaf.not_after


def test_the_chain_signatures_are_real_xeddsa_signatures() -> None:
    issued = make_cert_chain(ROOT, SERVER.public, NOW)
    chain = CertChain.FromString(issued.chain)
    assert verify(ROOT.public, chain.intermediate.details, chain.intermediate.signature)
    assert verify(issued.intermediate.public, chain.leaf.details, chain.leaf.signature)


def test_a_chain_passes_at_both_ends_of_its_windows() -> None:
    issued = make_cert_chain(
        ROOT, SERVER.public, NOW, intermediate_window=(NOW, NOW + 10), leaf_window=(NOW - 5, NOW)
    )
    result = verify_cert_chain(issued.chain, SERVER.public, NOW, ROOT.public)
    assert result.intermediate.not_before == NOW
    assert result.leaf.not_after == NOW


def test_the_default_root_is_whatsapps_so_a_test_chain_fails_without_injection() -> None:
    issued = make_cert_chain(ROOT, SERVER.public, NOW)
    with pytest.raises(CertificateError) as info:
        verify_cert_chain(issued.chain, SERVER.public, NOW)
    assert info.value.check == "intermediate-signature"


def test_wrong_root_fails_intermediate_signature() -> None:
    other_root = generate_key_pair()
    assert _check(make_cert_chain(other_root, SERVER.public, NOW).chain) == "intermediate-signature"


def test_leaf_signed_by_another_key_fails_leaf_signature() -> None:
    issued = make_cert_chain(ROOT, SERVER.public, NOW, leaf_signer=generate_key_pair())
    assert _check(issued.chain) == "leaf-signature"


def _rebuild(
    chain: bytes,
    *,
    leaf_sig: bytes | None = None,
    inter_sig: bytes | None = None,
    inter_details: bytes | None = None,
    leaf_details: bytes | None = None,
    drop: str | None = None,
) -> bytes:
    msg = CertChain.FromString(chain)
    if leaf_sig is not None:
        msg.leaf.signature = leaf_sig
    if inter_sig is not None:
        msg.intermediate.signature = inter_sig
    if inter_details is not None:
        msg.intermediate.details = inter_details
    if leaf_details is not None:
        msg.leaf.details = leaf_details
    if drop == "leaf":
        msg.ClearField("leaf")
    elif drop == "intermediate":
        msg.ClearField("intermediate")
    elif drop == "leaf.signature":
        msg.leaf.ClearField("signature")
    elif drop == "intermediate.details":
        msg.intermediate.ClearField("details")
    return msg.SerializeToString()


@pytest.mark.parametrize("bit", [0, 100, 511])
def test_a_flipped_bit_in_either_signature_fails_that_signature(bit: int) -> None:
    chain = make_cert_chain(ROOT, SERVER.public, NOW).chain
    msg = CertChain.FromString(chain)
    for which, check in (("leaf", "leaf-signature"), ("intermediate", "intermediate-signature")):
        sig = bytearray(getattr(msg, which).signature)
        sig[bit // 8] ^= 1 << (bit % 8)
        kwargs = {"leaf_sig" if which == "leaf" else "inter_sig": bytes(sig)}
        assert _check(_rebuild(chain, **kwargs)) == check  # type: ignore[arg-type]


def test_altered_details_under_a_valid_signature_fail() -> None:
    issued = make_cert_chain(ROOT, SERVER.public, NOW)
    msg = CertChain.FromString(issued.chain)
    longer = CertDetails(2, 1, SERVER.public, NOW - 60, NOW + 10**9).encode()
    assert msg.leaf.details != longer
    assert _check(_rebuild(issued.chain, leaf_details=longer)) == "leaf-signature"


@pytest.mark.parametrize("drop", ["leaf", "intermediate", "leaf.signature", "intermediate.details"])
def test_missing_parts_fail_missing_field(drop: str) -> None:
    chain = make_cert_chain(ROOT, SERVER.public, NOW).chain
    assert _check(_rebuild(chain, drop=drop)) == "missing-field"


@pytest.mark.parametrize("size", [0, 63, 65])
def test_signatures_not_64_bytes_fail_signature_length(size: int) -> None:
    chain = make_cert_chain(ROOT, SERVER.public, NOW).chain
    assert _check(_rebuild(chain, leaf_sig=bytes(size))) == "signature-length"
    assert _check(_rebuild(chain, inter_sig=bytes(size))) == "signature-length"


def test_intermediate_naming_another_issuer_fails_issuer_serial() -> None:
    issued = make_cert_chain(ROOT, SERVER.public, NOW, intermediate_issuer_serial=5)
    assert _check(issued.chain) == "issuer-serial"


def test_leaf_naming_another_issuer_fails_leaf_issuer_serial() -> None:
    issued = make_cert_chain(ROOT, SERVER.public, NOW, leaf_issuer_serial=7)
    assert _check(issued.chain) == "leaf-issuer-serial"
    issued = make_cert_chain(ROOT, SERVER.public, NOW, intermediate_serial=9)
    verify_cert_chain(issued.chain, SERVER.public, NOW, ROOT.public)  # leaf follows by default


def test_intermediate_key_not_32_bytes_fails_intermediate_key() -> None:
    details = CertDetails(1, 0, bytes(33), NOW - 1, NOW + 1).encode()
    chain = make_cert_chain(ROOT, SERVER.public, NOW).chain
    signed = _rebuild(chain, inter_details=details, inter_sig=sign(ROOT.private, details))
    assert _check(signed) == "intermediate-key"


@pytest.mark.parametrize(
    ("which", "window", "check"),
    [
        ("leaf", (NOW - 100, NOW - 1), "expired"),
        ("leaf", (NOW + 1, NOW + 100), "not-yet-valid"),
        ("intermediate", (NOW - 100, NOW - 1), "expired"),
        ("intermediate", (NOW + 1, NOW + 100), "not-yet-valid"),
    ],
)
def test_validity_windows_are_enforced_on_both_certificates(
    which: str, window: tuple[int, int], check: str
) -> None:
    key = "leaf_window" if which == "leaf" else "intermediate_window"
    issued = make_cert_chain(ROOT, SERVER.public, NOW, **{key: window})  # type: ignore[arg-type]
    with pytest.raises(CertificateError, match=f"the {which} certificate") as info:
        verify_cert_chain(issued.chain, SERVER.public, NOW, ROOT.public)
    assert info.value.check == check


def test_a_good_chain_expires_with_time() -> None:
    issued = make_cert_chain(ROOT, SERVER.public, NOW)
    assert _check(issued.chain, now=NOW + 31 * 24 * 3600) == "expired"
    assert _check(issued.chain, now=NOW - 61) == "not-yet-valid"


def test_leaf_key_other_than_the_server_static_fails_leaf_key_mismatch() -> None:
    issued = make_cert_chain(ROOT, generate_key_pair().public, NOW)
    assert _check(issued.chain) == "leaf-key-mismatch"
    good = make_cert_chain(ROOT, SERVER.public, NOW)
    assert _check(good.chain, static=generate_key_pair().public) == "leaf-key-mismatch"


@pytest.mark.parametrize("data", [b"\xff", b"\x0a\x05\x0a\x03", b"\x12\x01"])
def test_undecodable_chains_fail_malformed(data: bytes) -> None:
    assert _check(data) == "malformed"


def test_undecodable_details_under_a_valid_signature_fail_malformed() -> None:
    junk = b"\x1a\xff"
    chain = make_cert_chain(ROOT, SERVER.public, NOW).chain
    assert _check(_rebuild(chain, inter_details=junk, inter_sig=sign(ROOT.private, junk))) == (
        "malformed"
    )


def test_the_intermediate_key_pair_can_be_supplied() -> None:
    inter = KeyPair.from_private(bytes(range(32)))
    issued = make_cert_chain(ROOT, SERVER.public, NOW, intermediate=inter)
    assert issued.intermediate == inter
    result = verify_cert_chain(issued.chain, SERVER.public, NOW, ROOT.public)
    assert result.intermediate.key == inter.public


def test_errors_and_reprs_carry_no_private_keys() -> None:
    issued = make_cert_chain(ROOT, SERVER.public, NOW)
    assert issued.intermediate.private.hex() not in repr(issued)
    with pytest.raises(CertificateError) as info:
        verify_cert_chain(issued.chain, SERVER.public, NOW + 10**9, ROOT.public)
    for secret in (ROOT.private, SERVER.private, issued.intermediate.private):
        assert secret.hex() not in str(info.value)
