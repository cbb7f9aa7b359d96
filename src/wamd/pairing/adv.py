"""Signed device identities (ADV): the phone vouches for a companion, the companion signs back.

Three roles, three functions (protocol.md §4.2, fake-server.md §2.4–§2.5):

- the phone: :func:`sign_device_identity` makes the ``<device-identity>`` bytes of a
  ``<pair-success>`` (the account key signs the companion's identity, HMAC'd with the
  adv secret);
- the companion: :func:`verify_pair_success` checks the HMAC and the account signature
  for real, adds its device signature and says what to store and what to reply;
- the server: :func:`verify_device_sign_reply` checks the ``<pair-device-sign>`` reply.
"""

from __future__ import annotations

import hmac as _hmac
from dataclasses import dataclass
from typing import Final, TypeVar

from wamd._proto import decode_proto
from wamd._proto.adv_pb2 import (
    HOSTED,
    ADVDeviceIdentity,
    ADVSignedDeviceIdentity,
    ADVSignedDeviceIdentityHMAC,
)
from wamd.crypto import KeyPair, hmac_sha256, sign, verify
from wamd.errors import PairingCheckError, PairingError, ProtoDecodeError
from wamd.pairing._checks import check_len
from wamd.pairing.qr import decode_adv_secret

__all__ = [
    "ACCOUNT_SIGNATURE_PREFIX",
    "DEVICE_SIGNATURE_PREFIX",
    "HOSTED_ACCOUNT_SIGNATURE_PREFIX",
    "HOSTED_DEVICE_SIGNATURE_PREFIX",
    "DeviceSignReply",
    "PairSuccess",
    "sign_device_identity",
    "verify_device_sign_reply",
    "verify_pair_success",
]

ACCOUNT_SIGNATURE_PREFIX: Final = b"\x06\x00"
"""Prefix of the message the account (phone) key signs."""
DEVICE_SIGNATURE_PREFIX: Final = b"\x06\x01"
"""Prefix of the message the companion's identity key signs."""
HOSTED_ACCOUNT_SIGNATURE_PREFIX: Final = b"\x06\x05"
"""Account-signature and HMAC prefix for business-hosted accounts and devices."""
HOSTED_DEVICE_SIGNATURE_PREFIX: Final = b"\x06\x06"
"""Defined by WhatsApp for hosted device signatures; no client uses it."""

_KEY_LEN: Final = 32

_M = TypeVar("_M", ADVSignedDeviceIdentityHMAC, ADVSignedDeviceIdentity, ADVDeviceIdentity)


def _account_message(details: bytes, companion_identity_pub: bytes, hosted: bool) -> bytes:
    prefix = HOSTED_ACCOUNT_SIGNATURE_PREFIX if hosted else ACCOUNT_SIGNATURE_PREFIX
    return prefix + details + companion_identity_pub


def _device_message(details: bytes, companion_identity_pub: bytes, account_pub: bytes) -> bytes:
    return DEVICE_SIGNATURE_PREFIX + details + companion_identity_pub + account_pub


# --- phone side --------------------------------------------------------------------------


def sign_device_identity(
    *,
    account: KeyPair,
    companion_identity_pub: bytes,
    adv_secret: bytes,
    key_index: int,
    timestamp: int,
    raw_id: int,
    hosted: bool = False,
    random: bytes | None = None,
) -> bytes:
    """The ``<device-identity>`` bytes (ADVSignedDeviceIdentityHMAC) a phone sends a companion.

    ``account`` is the phone's account (identity) key pair, ``companion_identity_pub`` the
    companion's 32-byte identity key (from the QR), ``adv_secret`` the 32 raw bytes of the
    companion's adv secret. ``key_index``, ``timestamp`` (seconds) and ``raw_id`` go into
    the signed ADVDeviceIdentity. ``hosted`` marks a business-hosted account (06 05
    prefixes). ``random`` (64 bytes) fixes the signature nonce, for tests.
    """
    check_len(companion_identity_pub, _KEY_LEN, "companion identity public key")
    check_len(adv_secret, _KEY_LEN, "adv secret")
    for what, value, bits in (
        ("key_index", key_index, 32),
        ("raw_id", raw_id, 32),
        ("timestamp", timestamp, 64),
    ):
        if not 0 <= value < 1 << bits:
            raise PairingError(f"{what} must be in 0..2**{bits}-1, got {value}")
    identity = ADVDeviceIdentity(rawId=raw_id, timestamp=timestamp, keyIndex=key_index)
    if hosted:
        identity.accountType = HOSTED
        identity.deviceType = HOSTED
    details = identity.SerializeToString()
    signature = sign(
        account.private, _account_message(details, companion_identity_pub, hosted), random
    )
    signed = ADVSignedDeviceIdentity(
        details=details, accountSignatureKey=account.public, accountSignature=signature
    ).SerializeToString()
    prefix = HOSTED_ACCOUNT_SIGNATURE_PREFIX if hosted else b""
    outer = ADVSignedDeviceIdentityHMAC(
        details=signed, hmac=hmac_sha256(adv_secret, prefix + signed)
    )
    if hosted:
        outer.accountType = HOSTED
    return outer.SerializeToString()


# --- companion side ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairSuccess:
    """What a verified pair-success gives the companion.

    ``account`` is the serialized ADVSignedDeviceIdentity to keep in the creds (with our
    device signature and the account signature key); ``reply`` the same without the
    account signature key, for ``<pair-device-sign><device-identity key-index=..>``;
    ``key_index`` that attribute; ``account_signature_key`` the phone's 32-byte identity
    key (its Signal identity, stored as ``05 || key``).
    """

    account: bytes
    reply: bytes
    key_index: int
    account_signature_key: bytes
    raw_id: int
    timestamp: int
    hosted: bool


def verify_pair_success(
    device_identity: bytes,
    adv_secret_b64: str,
    identity: KeyPair,
    *,
    random: bytes | None = None,
) -> PairSuccess:
    """Check a pair-success's ``<device-identity>`` and countersign it.

    Checks the HMAC with our adv secret (base64, as creds store it) and the account
    signature over our identity key, both for real; raises
    :class:`~wamd.errors.PairingCheckError` whose ``check`` is ``format``, ``hmac``,
    ``account-signature`` or ``key-index``. On success signs with our identity key and
    returns what to store and reply. ``random`` (64 bytes) fixes the signature nonce.
    """
    secret = decode_adv_secret(adv_secret_b64)
    outer = _decode(ADVSignedDeviceIdentityHMAC, device_identity, "device-identity")
    if not outer.HasField("details") or not outer.HasField("hmac"):
        raise PairingCheckError("format", "device-identity lacks details or hmac")
    hmac_prefix = HOSTED_ACCOUNT_SIGNATURE_PREFIX if outer.accountType == HOSTED else b""
    expected = hmac_sha256(secret, hmac_prefix + outer.details)
    if not _hmac.compare_digest(expected, outer.hmac):
        raise PairingCheckError(
            "hmac", "device-identity HMAC does not match our adv secret (hmac-mismatch)"
        )
    signed = _decode(ADVSignedDeviceIdentity, outer.details, "signed device identity")
    if not signed.HasField("details") or not signed.HasField("accountSignature"):
        raise PairingCheckError("format", "signed device identity lacks details or signature")
    if len(signed.accountSignatureKey) != _KEY_LEN:
        raise PairingCheckError(
            "format",
            f"accountSignatureKey must be {_KEY_LEN} bytes, got {len(signed.accountSignatureKey)}",
        )
    details = _decode(ADVDeviceIdentity, signed.details, "device identity details")
    if not details.HasField("keyIndex"):
        raise PairingCheckError("key-index", "device identity details have no keyIndex")
    hosted = details.deviceType == HOSTED
    account_msg = _account_message(signed.details, identity.public, hosted)
    # verify() also rejects a signature that is not 64 bytes.
    if not verify(signed.accountSignatureKey, account_msg, signed.accountSignature):
        raise PairingCheckError(
            "account-signature",
            "the account signature over our identity key does not verify (signature-mismatch)",
        )
    device_msg = _device_message(signed.details, identity.public, signed.accountSignatureKey)
    signed.deviceSignature = sign(identity.private, device_msg, random)
    account = signed.SerializeToString()
    reply_msg = ADVSignedDeviceIdentity()
    reply_msg.CopyFrom(signed)
    reply_msg.ClearField("accountSignatureKey")
    return PairSuccess(
        account=account,
        reply=reply_msg.SerializeToString(),
        key_index=details.keyIndex,
        account_signature_key=signed.accountSignatureKey,
        raw_id=details.rawId,
        timestamp=details.timestamp,
        hosted=hosted,
    )


# --- server side -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceSignReply:
    """A verified ``<pair-device-sign>`` reply: the key index and the device signature."""

    key_index: int
    device_signature: bytes


def verify_device_sign_reply(
    reply: bytes,
    *,
    sent_device_identity: bytes,
    companion_identity_pub: bytes,
    key_index_attr: str | None = None,
) -> DeviceSignReply:
    """Check a companion's ``<pair-device-sign>`` device identity, as the server does.

    ``sent_device_identity`` is the ``<device-identity>`` the server sent in pair-success;
    ``companion_identity_pub`` the companion's registered identity key; ``key_index_attr``
    the reply's ``key-index`` attribute, checked when given. The details and account
    signature must be the ones sent, the account signature key absent, and the device
    signature must verify; otherwise :class:`~wamd.errors.PairingCheckError`.
    """
    check_len(companion_identity_pub, _KEY_LEN, "companion identity public key")
    outer = _decode(ADVSignedDeviceIdentityHMAC, sent_device_identity, "sent device-identity")
    sent = _decode(ADVSignedDeviceIdentity, outer.details, "sent signed device identity")
    got = _decode(ADVSignedDeviceIdentity, reply, "pair-device-sign device-identity")
    if got.details != sent.details:
        raise PairingCheckError("details", "reply details differ from the ones sent")
    if got.accountSignature != sent.accountSignature:
        raise PairingCheckError("account-signature", "reply account signature differs from sent")
    if got.HasField("accountSignatureKey"):
        raise PairingCheckError("format", "reply must omit accountSignatureKey")
    details = _decode(ADVDeviceIdentity, got.details, "device identity details")
    if key_index_attr is not None and key_index_attr != str(details.keyIndex):
        raise PairingCheckError(
            "key-index", f"key-index attribute {key_index_attr!r} != {details.keyIndex}"
        )
    device_msg = _device_message(got.details, companion_identity_pub, sent.accountSignatureKey)
    if not verify(companion_identity_pub, device_msg, got.deviceSignature):
        raise PairingCheckError(
            "device-signature", "the device signature does not verify with the companion key"
        )
    return DeviceSignReply(key_index=details.keyIndex, device_signature=got.deviceSignature)


def _decode(cls: type[_M], data: bytes, what: str) -> _M:
    try:
        return decode_proto(cls, data, what)
    except ProtoDecodeError as exc:
        raise PairingCheckError("format", str(exc)) from exc
