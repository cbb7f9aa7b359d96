"""The shared sealing module: the same sealed bytes as before it moved, shared by backends."""

from __future__ import annotations

import os

import pytest

from wamd.auth._seal import CHECK_CATEGORY, CHECK_PLAINTEXT, CREDS_CATEGORY, Sealer
from wamd.auth.backends import _remote, native
from wamd.errors import CorruptStoreError

KEY = bytes(range(32))
NONCE = bytes(range(100, 112))

# Sealed by the native backend's sealer before it moved to wamd.auth._seal, with the
# nonce fixed to NONCE: the move must not change a single byte.
GOLDEN = [
    (
        "session",
        "1555.0",
        b"hello value",
        "016465666768696a6b6c6d6e6f207eb20a16c920ff52173aa531dd1ab9be626ee89d5a426d69e591",
    ),
    (CREDS_CATEGORY, "", b"{}", "016465666768696a6b6c6d6e6f3366c602393f1a0642baee1ffd6c09a06eb5"),
    (
        CHECK_CATEGORY,
        "",
        CHECK_PLAINTEXT,
        "016465666768696a6b6c6d6e6f3f7ab302598737ea57143ac8a911058f27e26d6ff24c901ac2b2c7688d"
        "925ec5d1e3fcc8a005faaf03ccb29ecd08",
    ),
]


@pytest.mark.parametrize(("category", "key_id", "plain", "sealed_hex"), GOLDEN)
def test_sealed_values_are_byte_identical_to_the_native_backends_old_ones(
    monkeypatch: pytest.MonkeyPatch, category: str, key_id: str, plain: bytes, sealed_hex: str
) -> None:
    monkeypatch.setattr(os, "urandom", lambda n: NONCE[:n])
    sealer = Sealer(KEY, "acct", "where")
    assert sealer.seal(category, key_id, plain).hex() == sealed_hex
    monkeypatch.undo()
    assert sealer.open(category, key_id, bytes.fromhex(sealed_hex)) == plain


def test_fresh_nonce_per_value_and_binding_to_row_and_account() -> None:
    sealer = Sealer(KEY, "acct", "store.db")
    first, second = sealer.seal("session", "a", b"v"), sealer.seal("session", "a", b"v")
    assert first != second
    assert sealer.open("session", "a", second) == b"v"
    with pytest.raises(CorruptStoreError, match=r"store.db: value session/b failed auth"):
        sealer.open("session", "b", first)
    with pytest.raises(CorruptStoreError, match="failed authentication"):
        Sealer(KEY, "other", "store.db").open("session", "a", first)
    with pytest.raises(CorruptStoreError, match="not a sealed value"):
        sealer.open("session", "a", b"\x02" + first[1:])


def test_every_backend_uses_the_one_sealer() -> None:
    assert vars(native)["Sealer"] is Sealer
    assert _remote.Sealer is Sealer
    assert _remote.CREDS_CATEGORY == vars(native)["CREDS_CATEGORY"] == CREDS_CATEGORY
