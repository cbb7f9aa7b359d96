"""Length checks on the byte arguments of the pairing functions, with errors naming them."""

from __future__ import annotations

from wamd.errors import PairingError, WamdError

__all__ = ["check_len"]


def check_len(value: object, length: int, what: str, error: type[WamdError] = PairingError) -> None:
    """Raise ``error`` naming ``what`` unless ``value`` is bytes of exactly ``length``."""
    if not isinstance(value, bytes | bytearray) or len(value) != length:
        got = len(value) if isinstance(value, bytes | bytearray) else type(value).__name__
        raise error(f"{what} must be {length} bytes, got {got}")
