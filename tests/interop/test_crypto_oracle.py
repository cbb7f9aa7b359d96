"""Crypto primitives cross-checked with the pinned Baileys oracle (curve25519-js, node)."""

from __future__ import annotations

import os

import pytest

from tests.conftest import Oracle
from wamd.crypto import generate_key_pair, hkdf, public_from_private, shared_secret, sign, verify

pytestmark = pytest.mark.interop

ROUNDS = 200


def test_wamd_signatures_verify_in_node_and_tampered_ones_do_not(oracle: Oracle) -> None:
    for i in range(ROUNDS):
        kp = generate_key_pair()
        msg = os.urandom(i % 97 + 1)
        sig = sign(kp.private, msg)
        assert oracle.call("verify", public=kp.public, message=msg, signature=sig) is True
        tampered_msg = bytes([msg[0] ^ 1]) + msg[1:]
        assert oracle.call("verify", public=kp.public, message=tampered_msg, signature=sig) is False
        bad_sig = bytearray(sig)
        bad_sig[i % 64] ^= 1 << (i % 8)
        assert (
            oracle.call("verify", public=kp.public, message=msg, signature=bytes(bad_sig)) is False
        )


def test_node_signatures_verify_in_wamd_and_tampered_ones_do_not(oracle: Oracle) -> None:
    for i in range(ROUNDS):
        kp = oracle.call("keypair")
        msg = os.urandom(i % 89 + 1)
        sig = oracle.call("sign", private=kp["private"], message=msg)
        assert verify(kp["public"], msg, sig)
        assert not verify(kp["public"], msg + b"\x00", sig)
        bad_sig = bytearray(sig)
        bad_sig[(i * 7) % 64] ^= 1 << (i % 8)
        assert not verify(kp["public"], msg, bytes(bad_sig))


def test_baileys_curve_verify_is_not_a_judge(oracle: Oracle) -> None:
    # Why the suite never uses Baileys' Curve.verify: it accepts a random signature.
    kp = generate_key_pair()
    junk = os.urandom(64)
    assert oracle.call("baileys_curve_verify", public=kp.public, message=b"m", signature=junk)
    assert not verify(kp.public, b"m", junk)


def test_public_keys_and_agreement_equal_node(oracle: Oracle) -> None:
    for _ in range(50):
        ours = generate_key_pair()
        theirs = oracle.call("keypair")
        assert oracle.call("pub_from_priv", private=ours.private) == ours.public
        assert public_from_private(theirs["private"]) == theirs["public"]
        node_shared = oracle.call("agree", private=theirs["private"], public=ours.public)
        assert shared_secret(ours.private, theirs["public"]) == node_shared


@pytest.mark.parametrize("length", [32, 64, 80, 112])
def test_hkdf_equals_baileys(oracle: Oracle, length: int) -> None:
    for _ in range(10):
        ikm, salt = os.urandom(32), os.urandom(32)
        info = os.urandom(9).hex().encode()  # Baileys' hkdf takes info as text
        assert hkdf(ikm, length, salt, info) == oracle.call(
            "hkdf", ikm=ikm, length=length, salt=salt, info=info
        )
        raw_info = os.urandom(12)
        assert hkdf(ikm, length, salt, raw_info) == oracle.call(
            "node_hkdf", ikm=ikm, length=length, salt=salt, info=raw_info
        )
