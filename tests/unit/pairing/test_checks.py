"""The shared length check of the pairing functions: what it refuses and how it says so."""

from __future__ import annotations

import pytest

from wamd.errors import PairingError, UsageError
from wamd.pairing import build_qr
from wamd.pairing._checks import check_len


def test_right_length_bytes_pass() -> None:
    check_len(bytes(32), 32, "key")
    check_len(bytearray(3), 3, "id")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (bytes(31), "identity key must be 32 bytes, got 31"),
        (b"", "identity key must be 32 bytes, got 0"),
        ("x" * 32, "identity key must be 32 bytes, got str"),
        (None, "identity key must be 32 bytes, got NoneType"),
    ],
)
def test_wrong_values_raise_the_given_error_naming_the_argument(
    value: object, message: str
) -> None:
    with pytest.raises(PairingError, match=f"^{message}$"):
        check_len(value, 32, "identity key")
    with pytest.raises(UsageError, match=f"^{message}$"):
        check_len(value, 32, "identity key", UsageError)


def test_public_functions_use_it() -> None:
    with pytest.raises(PairingError, match="noise public key must be 32 bytes, got 33"):
        build_qr("ref", bytes(33), bytes(32), "A" * 43 + "=", "1")
