"""The string a linking QR code holds: built by the companion, parsed by the phone."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Final

from wamd.errors import PairingError
from wamd.pairing._checks import check_len

__all__ = ["QR_URL_PREFIX", "QRData", "build_qr", "decode_adv_secret", "parse_qr"]

QR_URL_PREFIX: Final = "https://wa.me/settings/linked_devices#"
"""What a QR string starts with (clients since Baileys rc10; older ones send no prefix)."""

_KEY_LEN: Final = 32


@dataclass(frozen=True, slots=True)
class QRData:
    """The fields of a linking QR string.

    ``ref`` is the server's pairing ref, ``noise_pub`` the companion's Noise static key,
    ``identity_pub`` its Signal identity key (both 32 bytes), ``adv_secret`` the 32-byte
    secret the phone keys its HMAC with, and ``platform_id`` the companion platform id
    (``None`` in the legacy 4-field form). The repr hides the adv secret.
    """

    ref: str
    noise_pub: bytes
    identity_pub: bytes
    adv_secret: bytes
    platform_id: str | None

    def __repr__(self) -> str:
        return (
            f"QRData(ref={self.ref!r}, noise_pub={self.noise_pub.hex()}, "
            f"identity_pub={self.identity_pub.hex()}, adv_secret=<hidden>, "
            f"platform_id={self.platform_id!r})"
        )

    @property
    def adv_secret_b64(self) -> str:
        """The adv secret in the base64 form creds store it in."""
        return base64.b64encode(self.adv_secret).decode("ascii")


def decode_adv_secret(adv_secret_b64: str) -> bytes:
    """The 32 raw bytes of an adv secret given in base64 (as creds store it)."""
    return _b64_key(adv_secret_b64, "adv secret")


def build_qr(
    ref: str | bytes,
    noise_pub: bytes,
    identity_pub: bytes,
    adv_secret_b64: str,
    platform_id: str,
) -> str:
    """The QR string for one pairing ref (the form WhatsApp and Baileys rc10+ use).

    ``ref`` is the content of a ``<ref>`` node (bytes are read as UTF-8); the keys are
    32-byte public keys; ``adv_secret_b64`` is the base64 adv secret from the creds.
    """
    if isinstance(ref, bytes | bytearray):
        try:
            ref = bytes(ref).decode("utf-8")
        except UnicodeDecodeError:
            raise PairingError("pairing ref is not UTF-8 text") from None
    if not ref or "," in ref:
        raise PairingError(f"pairing ref must be non-empty and contain no comma, got {ref!r}")
    check_len(noise_pub, _KEY_LEN, "noise public key")
    check_len(identity_pub, _KEY_LEN, "identity public key")
    decode_adv_secret(adv_secret_b64)
    if not platform_id or "," in platform_id:
        raise PairingError(f"platform id must be non-empty, without commas: {platform_id!r}")
    fields = (
        ref,
        base64.b64encode(noise_pub).decode("ascii"),
        base64.b64encode(identity_pub).decode("ascii"),
        adv_secret_b64,
        platform_id,
    )
    return QR_URL_PREFIX + ",".join(fields)


def parse_qr(text: str) -> QRData:
    """Read a QR string as the phone does: the URL form or the bare legacy 4-field form.

    Raises :class:`~wamd.errors.PairingError` saying which field is wrong.
    """
    if not isinstance(text, str):
        raise PairingError(f"QR data must be a string, got {type(text).__name__}")
    body = text.strip()
    if "#" in body:
        prefix, _, body = body.partition("#")
        if prefix + "#" != QR_URL_PREFIX:
            raise PairingError(f"QR URL must start with {QR_URL_PREFIX!r}")
    fields = body.split(",")
    if len(fields) not in (4, 5):
        raise PairingError(f"QR data must have 4 or 5 comma-separated fields, got {len(fields)}")
    ref = fields[0]
    if not ref:
        raise PairingError("QR field 1 (ref) is empty")
    noise_pub = _b64_key(fields[1], "QR field 2 (noise public key)")
    identity_pub = _b64_key(fields[2], "QR field 3 (identity public key)")
    adv_secret = _b64_key(fields[3], "QR field 4 (adv secret)")
    platform_id = fields[4] if len(fields) == 5 else None
    if platform_id is not None and not platform_id:
        raise PairingError("QR field 5 (platform id) is empty")
    return QRData(ref, noise_pub, identity_pub, adv_secret, platform_id)


def _b64_key(field: str, what: str) -> bytes:
    if not isinstance(field, str):
        raise PairingError(f"{what} must be a base64 string, got {type(field).__name__}")
    try:
        raw = base64.b64decode(field, validate=True)
    except (binascii.Error, ValueError):
        raise PairingError(f"{what} is not valid base64") from None
    if len(raw) != _KEY_LEN:
        raise PairingError(f"{what} must decode to {_KEY_LEN} bytes, got {len(raw)}")
    return raw
