"""Signed device identities: the phone signs, the companion verifies for real, the server checks."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from wamd._proto.adv_pb2 import (
    HOSTED,
    ADVDeviceIdentity,
    ADVSignedDeviceIdentity,
    ADVSignedDeviceIdentityHMAC,
)
from wamd.crypto import KeyPair, generate_key_pair, hmac_sha256, sign, verify
from wamd.errors import PairingCheckError, PairingError
from wamd.pairing import sign_device_identity, verify_device_sign_reply, verify_pair_success

ADV = os.urandom(32)
ADV_B64 = base64.b64encode(ADV).decode()


def _pair(
    account: KeyPair, companion: KeyPair, *, key_index: int = 3, hosted: bool = False
) -> bytes:
    return sign_device_identity(
        account=account,
        companion_identity_pub=companion.public,
        adv_secret=ADV,
        key_index=key_index,
        timestamp=1_795_440_125,
        raw_id=987654,
        hosted=hosted,
    )


def _rehmac(signed: ADVSignedDeviceIdentity, prefix: bytes = b"") -> bytes:
    data = signed.SerializeToString()
    return ADVSignedDeviceIdentityHMAC(
        details=data, hmac=hmac_sha256(ADV, prefix + data)
    ).SerializeToString()


def test_phone_record_has_the_documented_shape_and_signature() -> None:
    account, companion = generate_key_pair(), generate_key_pair()
    outer = ADVSignedDeviceIdentityHMAC.FromString(_pair(account, companion))
    assert not outer.HasField("accountType")
    assert outer.hmac == hmac_sha256(ADV, outer.details)
    signed = ADVSignedDeviceIdentity.FromString(outer.details)
    assert signed.accountSignatureKey == account.public
    assert not signed.HasField("deviceSignature")
    details = ADVDeviceIdentity.FromString(signed.details)
    assert (details.rawId, details.timestamp, details.keyIndex) == (987654, 1_795_440_125, 3)
    assert not details.HasField("accountType") and not details.HasField("deviceType")
    msg = b"\x06\x00" + signed.details + companion.public
    assert verify(account.public, msg, signed.accountSignature)


def test_companion_accepts_a_good_record_and_countersigns() -> None:
    account, companion = generate_key_pair(), generate_key_pair()
    result = verify_pair_success(_pair(account, companion), ADV_B64, companion)
    assert result.key_index == 3
    assert result.account_signature_key == account.public
    assert (result.raw_id, result.timestamp, result.hosted) == (987654, 1_795_440_125, False)
    stored = ADVSignedDeviceIdentity.FromString(result.account)
    assert stored.accountSignatureKey == account.public
    device_msg = b"\x06\x01" + stored.details + companion.public + account.public
    assert verify(companion.public, device_msg, stored.deviceSignature)
    reply = ADVSignedDeviceIdentity.FromString(result.reply)
    assert not reply.HasField("accountSignatureKey")
    assert reply.details == stored.details
    assert reply.accountSignature == stored.accountSignature
    assert reply.deviceSignature == stored.deviceSignature


def test_fixed_nonce_makes_the_device_signature_deterministic() -> None:
    account, companion = generate_key_pair(), generate_key_pair()
    record = _pair(account, companion)
    nonce = bytes(64)
    first = verify_pair_success(record, ADV_B64, companion, random=nonce)
    assert first == verify_pair_success(record, ADV_B64, companion, random=nonce)


def test_server_accepts_the_companion_reply() -> None:
    account, companion = generate_key_pair(), generate_key_pair()
    record = _pair(account, companion, key_index=17)
    result = verify_pair_success(record, ADV_B64, companion)
    checked = verify_device_sign_reply(
        result.reply,
        sent_device_identity=record,
        companion_identity_pub=companion.public,
        key_index_attr="17",
    )
    assert checked.key_index == 17
    assert (
        checked.device_signature == ADVSignedDeviceIdentity.FromString(result.reply).deviceSignature
    )


def test_hosted_records_use_the_hosted_prefixes_and_verify() -> None:
    account, companion = generate_key_pair(), generate_key_pair()
    record = _pair(account, companion, hosted=True)
    outer = ADVSignedDeviceIdentityHMAC.FromString(record)
    assert outer.accountType == HOSTED
    assert outer.hmac == hmac_sha256(ADV, b"\x06\x05" + outer.details)
    signed = ADVSignedDeviceIdentity.FromString(outer.details)
    assert verify(
        account.public, b"\x06\x05" + signed.details + companion.public, signed.accountSignature
    )
    assert verify_pair_success(record, ADV_B64, companion).hosted is True


@pytest.mark.parametrize(
    ("field", "value"), [("key_index", -1), ("raw_id", 2**32), ("timestamp", 2**64)]
)
def test_phone_refuses_out_of_range_identity_fields(field: str, value: int) -> None:
    args: dict[str, object] = {"key_index": 1, "raw_id": 1, "timestamp": 1, field: value}
    with pytest.raises(PairingError, match=field):
        sign_device_identity(
            account=generate_key_pair(),
            companion_identity_pub=bytes(32),
            adv_secret=ADV,
            **args,  # type: ignore[arg-type]
        )


# --- refusals -----------------------------------------------------------------------------


def test_wrong_adv_secret_fails_the_hmac_check() -> None:
    account, companion = generate_key_pair(), generate_key_pair()
    other = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(PairingCheckError) as info:
        verify_pair_success(_pair(account, companion), other, companion)
    assert info.value.check == "hmac"


def test_flipped_hmac_bit_fails_the_hmac_check() -> None:
    account, companion = generate_key_pair(), generate_key_pair()
    outer = ADVSignedDeviceIdentityHMAC.FromString(_pair(account, companion))
    outer.hmac = bytes([outer.hmac[0] ^ 1]) + outer.hmac[1:]
    with pytest.raises(PairingCheckError) as info:
        verify_pair_success(outer.SerializeToString(), ADV_B64, companion)
    assert info.value.check == "hmac"


def test_record_for_another_companion_fails_the_account_signature() -> None:
    account, companion, other = generate_key_pair(), generate_key_pair(), generate_key_pair()
    with pytest.raises(PairingCheckError) as info:
        verify_pair_success(_pair(account, other), ADV_B64, companion)
    assert info.value.check == "account-signature"


@pytest.mark.parametrize("bad", ["zeros", "random", "other-key", "wrong-prefix", "short"])
def test_bad_account_signature_with_a_valid_hmac_is_refused(bad: str) -> None:
    # Baileys accepts every one of these (its verify accepts any 64 bytes); we must not.
    account, companion = generate_key_pair(), generate_key_pair()
    signed = ADVSignedDeviceIdentity.FromString(
        ADVSignedDeviceIdentityHMAC.FromString(_pair(account, companion)).details
    )
    msg = b"\x06\x00" + signed.details + companion.public
    signed.accountSignature = {
        "zeros": bytes(64),
        "random": os.urandom(64),
        "other-key": sign(generate_key_pair().private, msg),
        "wrong-prefix": sign(account.private, b"\x06\x01" + msg[2:]),
        "short": signed.accountSignature[:63],
    }[bad]
    with pytest.raises(PairingCheckError) as info:
        verify_pair_success(_rehmac(signed), ADV_B64, companion)
    assert info.value.check == "account-signature"


def test_missing_key_index_is_refused() -> None:
    account, companion = generate_key_pair(), generate_key_pair()
    details = ADVDeviceIdentity(rawId=1, timestamp=2).SerializeToString()
    signed = ADVSignedDeviceIdentity(
        details=details,
        accountSignatureKey=account.public,
        accountSignature=sign(account.private, b"\x06\x00" + details + companion.public),
    )
    with pytest.raises(PairingCheckError) as info:
        verify_pair_success(_rehmac(signed), ADV_B64, companion)
    assert info.value.check == "key-index"


@pytest.mark.parametrize(
    "record",
    [
        b"\xff\xff\xff",
        ADVSignedDeviceIdentityHMAC(hmac=bytes(32)).SerializeToString(),
        ADVSignedDeviceIdentityHMAC(
            details=b"\x0a\xff", hmac=hmac_sha256(ADV, b"\x0a\xff")
        ).SerializeToString(),
    ],
)
def test_garbage_records_fail_the_format_check(record: bytes) -> None:
    with pytest.raises(PairingCheckError) as info:
        verify_pair_success(record, ADV_B64, generate_key_pair())
    assert info.value.check == "format"


def test_bad_adv_secret_in_creds_is_a_pairing_error() -> None:
    account, companion = generate_key_pair(), generate_key_pair()
    with pytest.raises(PairingError, match="adv secret"):
        verify_pair_success(_pair(account, companion), "short", companion)


def test_check_errors_carry_no_key_material() -> None:
    account, companion = generate_key_pair(), generate_key_pair()
    with pytest.raises(PairingCheckError) as info:
        verify_pair_success(
            _pair(account, companion), base64.b64encode(bytes(32)).decode(), companion
        )
    text = str(info.value)
    for secret in (ADV.hex(), ADV_B64, companion.private.hex(), account.private.hex()):
        assert secret not in text


# --- server-side refusals --------------------------------------------------------------------


def _reply_case(
    edit: str,
) -> tuple[bytes, bytes, KeyPair]:
    account, companion = generate_key_pair(), generate_key_pair()
    record = _pair(account, companion)
    reply = ADVSignedDeviceIdentity.FromString(
        verify_pair_success(record, ADV_B64, companion).reply
    )
    if edit == "device-signature":
        reply.deviceSignature = os.urandom(64)
    elif edit == "details":
        reply.details = ADVDeviceIdentity(rawId=1, timestamp=1, keyIndex=3).SerializeToString()
    elif edit == "account-signature":
        reply.accountSignature = bytes(64)
    elif edit == "format":
        reply.accountSignatureKey = account.public
    return reply.SerializeToString(), record, companion


@pytest.mark.parametrize("edit", ["device-signature", "details", "account-signature", "format"])
def test_server_refuses_a_tampered_reply(edit: str) -> None:
    reply, record, companion = _reply_case(edit)
    with pytest.raises(PairingCheckError) as info:
        verify_device_sign_reply(
            reply, sent_device_identity=record, companion_identity_pub=companion.public
        )
    assert info.value.check == edit


def test_server_refuses_a_reply_signed_by_another_companion() -> None:
    reply, record, _ = _reply_case("none")
    with pytest.raises(PairingCheckError) as info:
        verify_device_sign_reply(
            reply, sent_device_identity=record, companion_identity_pub=generate_key_pair().public
        )
    assert info.value.check == "device-signature"


def test_server_refuses_a_wrong_key_index_attribute() -> None:
    reply, record, companion = _reply_case("none")
    with pytest.raises(PairingCheckError) as info:
        verify_device_sign_reply(
            reply,
            sent_device_identity=record,
            companion_identity_pub=companion.public,
            key_index_attr="4",
        )
    assert info.value.check == "key-index"


# --- a record from a real pairing -------------------------------------------------------------


def test_account_stored_by_real_baileys_verifies_both_ways(shared_fixtures: Path) -> None:
    # Baileys rc14 paired against a fake phone and stored this account (with its own device
    # signature); the pair-success it received is the account minus the device signature.
    creds = json.loads(
        (shared_fixtures / "baileys-auth-sample/after-qr-pairing-and-login/creds.json").read_text()
    )
    stored = {k: base64.b64decode(v) for k, v in creds["account"].items()}
    identity = KeyPair(
        base64.b64decode(creds["signedIdentityKey"]["private"]["data"]),
        base64.b64decode(creds["signedIdentityKey"]["public"]["data"]),
    )
    adv_b64 = creds["advSecretKey"]
    signed = ADVSignedDeviceIdentity(
        details=stored["details"],
        accountSignatureKey=stored["accountSignatureKey"],
        accountSignature=stored["accountSignature"],
    ).SerializeToString()
    record = ADVSignedDeviceIdentityHMAC(
        details=signed, hmac=hmac_sha256(base64.b64decode(adv_b64), signed)
    ).SerializeToString()
    result = verify_pair_success(record, adv_b64, identity)
    assert result.key_index == 1
    assert result.account_signature_key == stored["accountSignatureKey"]
    ours = ADVSignedDeviceIdentity.FromString(result.account)
    assert ours.details == stored["details"]
    baileys_reply = ADVSignedDeviceIdentity(
        details=stored["details"],
        accountSignature=stored["accountSignature"],
        deviceSignature=stored["deviceSignature"],
    ).SerializeToString()
    checked = verify_device_sign_reply(
        baileys_reply,
        sent_device_identity=record,
        companion_identity_pub=identity.public,
        key_index_attr="1",
    )
    assert checked.device_signature == stored["deviceSignature"]
