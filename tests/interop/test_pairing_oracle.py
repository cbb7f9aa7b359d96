"""Pairing cross-checked with Baileys: payload bytes, QR string, code maths, pair-success.

Signatures are judged only by wamd's real verify (or the oracle's curve25519-js `verify`
op), never by Baileys' Curve.verify, which accepts any 64-byte signature.
"""

from __future__ import annotations

import base64
import os
import random
from typing import Any

import pytest

from tests.conftest import Oracle, OracleError
from wamd._proto.adv_pb2 import ADVSignedDeviceIdentity, ADVSignedDeviceIdentityHMAC
from wamd.crypto import KeyPair, generate_key_pair, hmac_sha256, shared_secret, sign
from wamd.errors import PairingCheckError
from wamd.events import DisconnectReason, classify_disconnect, stream_error_status
from wamd.pairing import (
    Browser,
    PayloadOptions,
    build_login_payload,
    build_qr,
    build_registration_payload,
    companion_finish,
    companion_platform_id,
    derive_code_key,
    open_key_bundle,
    primary_hello,
    sign_device_identity,
    verify_device_sign_reply,
    verify_pair_success,
    wrap_ephemeral_pub,
)
from wamd.pairing.code import encode_code_bytes

pytestmark = pytest.mark.interop

BROWSERS = [
    Browser.mac_os("Chrome"),
    Browser.mac_os("Desktop"),
    Browser.windows("Desktop"),
    Browser.windows("Edge"),
    Browser.ubuntu("Firefox"),
    Browser.ubuntu("Safari"),
    Browser("Baileys", "Opera", "6.5.0"),
    Browser("Mac OS", "IE", "1"),
    Browser("Linux", "Vivaldi", "1"),
    Browser("Mac OS", "Unknown", "1"),
    Browser.android("Pixel 8"),
]


def _browser_list(b: Browser) -> list[str]:
    return [b.os, b.name, b.os_version]


def _cfg(opts: PayloadOptions) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "browser": _browser_list(opts.browser),
        "version": list(opts.version),
        "syncFullHistory": opts.sync_full_history,
        "countryCode": opts.country_code,
    }
    if opts.push_name is not None:
        cfg["pushName"] = opts.push_name
    return cfg


def _option_cases() -> list[PayloadOptions]:
    cases = [PayloadOptions()]
    for i, browser in enumerate(BROWSERS):
        cases.append(
            PayloadOptions(
                browser=browser,
                version=(2, 3000, 1043857760 + i),
                sync_full_history=i % 2 == 0,
                country_code=["US", "DE", "BR", "IN"][i % 4],
                push_name=None if i % 3 else f"name {i}",
            )
        )
    return cases


OPTION_CASES = _option_cases()


@pytest.mark.parametrize("opts", OPTION_CASES, ids=lambda o: f"{o.browser.os}-{o.browser.name}")
def test_registration_payload_bytes_equal_baileys(oracle: Oracle, opts: PayloadOptions) -> None:
    rng = random.Random(opts.version[2])
    for _ in range(3):
        identity, spk = generate_key_pair(), generate_key_pair()
        sig = sign(spk.private, b"\x05" + spk.public)
        reg_id = rng.randrange(1, 2**14)
        spk_id = rng.randrange(0, 2**24)
        ours = build_registration_payload(
            registration_id=reg_id,
            identity_pub=identity.public,
            signed_pre_key_id=spk_id,
            signed_pre_key_pub=spk.public,
            signed_pre_key_signature=sig,
            options=opts,
        )
        theirs = oracle.call(
            "pairing_registration_payload",
            registrationId=reg_id,
            identityPub=identity.public,
            signedPreKeyId=spk_id,
            signedPreKeyPub=spk.public,
            signedPreKeySig=sig,
            **_cfg(opts),
        )
        assert ours == theirs


@pytest.mark.parametrize(
    ("user", "device"),
    [("15551234567", 12), ("447700900123", 1), ("5511999990000", 99), ("15550001111", None)],
)
@pytest.mark.parametrize("opts", OPTION_CASES[:4], ids=lambda o: o.browser.name)
def test_login_payload_bytes_equal_baileys(
    oracle: Oracle, user: str, device: int | None, opts: PayloadOptions
) -> None:
    jid = f"{user}:{device}@s.whatsapp.net" if device is not None else f"{user}@s.whatsapp.net"
    theirs = oracle.call("pairing_login_payload", jid=jid, **_cfg(opts))
    assert build_login_payload(user, device, opts) == theirs


@pytest.mark.parametrize("browser", BROWSERS, ids=lambda b: f"{b.os}-{b.name}")
def test_qr_string_and_platform_id_equal_baileys(oracle: Oracle, browser: Browser) -> None:
    noise, identity = os.urandom(32), os.urandom(32)
    adv_b64 = base64.b64encode(os.urandom(32)).decode()
    ref = "2@" + base64.b64encode(os.urandom(40)).decode()
    platform = companion_platform_id(browser)
    assert oracle.call("pairing_platform_id", browser=_browser_list(browser)) == platform
    theirs = oracle.call(
        "pairing_qr",
        ref=ref,
        noisePub=noise,
        identityPub=identity,
        advB64=adv_b64,
        browser=_browser_list(browser),
    )
    assert build_qr(ref.encode(), noise, identity, adv_b64, platform) == theirs


def test_code_key_equals_baileys_derive_pairing_code_key(oracle: Oracle) -> None:
    for code in ["ABCDEFGH", "12345678", "ZZZZZZZZ", encode_code_bytes(os.urandom(5))]:
        salt = os.urandom(32)
        assert derive_code_key(code, salt) == oracle.call("pairing_code_key", code=code, salt=salt)


def test_code_alphabet_encoding_equals_baileys_crockford(oracle: Oracle) -> None:
    for n in [*range(11), 5, 5, 5, 5, 32]:
        data = os.urandom(n)
        assert encode_code_bytes(data) == oracle.call("pairing_crockford", data=data)


def test_wrapped_ephemeral_equals_baileys(oracle: Oracle) -> None:
    pub, salt, iv = os.urandom(32), os.urandom(32), os.urandom(16)
    theirs = oracle.call("pairing_wrap_ephemeral", code="K3Y8CD9Z", pub=pub, salt=salt, iv=iv)
    assert wrap_ephemeral_pub("K3Y8CD9Z", pub, salt=salt, iv=iv) == theirs


def test_companion_finish_equals_baileys_and_our_phone_opens_theirs(oracle: Oracle) -> None:
    code = "R7WQ2MXP"
    companion_eph, identity, account = generate_key_pair(), generate_key_pair(), generate_key_pair()
    hello = primary_hello(
        code=code,
        wrapped_companion_ephemeral_pub=wrap_ephemeral_pub(code, companion_eph.public),
    )
    rnd, salt, iv = os.urandom(32), os.urandom(32), os.urandom(12)
    ours = companion_finish(
        code=code,
        companion_ephemeral=companion_eph,
        identity=identity,
        wrapped_primary_ephemeral_pub=hello.wrapped_primary_ephemeral_pub,
        primary_identity_pub=account.public,
        random=rnd,
        bundle_salt=salt,
        iv=iv,
    )
    theirs = oracle.call(
        "pairing_companion_finish",
        code=code,
        ephemeralPriv=companion_eph.private,
        identityPriv=identity.private,
        identityPub=identity.public,
        wrappedPrimary=hello.wrapped_primary_ephemeral_pub,
        primaryIdentityPub=account.public,
        random=rnd,
        bundleSalt=salt,
        iv=iv,
    )
    assert ours.wrapped_key_bundle == theirs["bundle"]
    assert ours.adv_secret_b64 == theirs["advB64"]
    phone_adv = open_key_bundle(
        wrapped_key_bundle=theirs["bundle"],
        primary_ephemeral=hello.ephemeral,
        companion_ephemeral_pub=hello.companion_ephemeral_pub,
        account=account,
        companion_identity_pub=identity.public,
    )
    assert base64.b64encode(phone_adv).decode() == theirs["advB64"]
    # And Baileys' primitives open the bundle our phone-side maths checks.
    shared = shared_secret(hello.ephemeral.private, companion_eph.public)
    plain = oracle.call("pairing_open_bundle", bundle=ours.wrapped_key_bundle, shared=shared)
    assert plain == identity.public + account.public + rnd


def test_our_phone_rejects_a_baileys_bundle_made_with_another_code(oracle: Oracle) -> None:
    companion_eph, identity, account = generate_key_pair(), generate_key_pair(), generate_key_pair()
    hello = primary_hello(
        code="AAAAAAAA",
        wrapped_companion_ephemeral_pub=wrap_ephemeral_pub("AAAAAAAA", companion_eph.public),
    )
    theirs = oracle.call(
        "pairing_companion_finish",
        code="AAAAAAAB",  # the companion used another code than the one typed on the phone
        ephemeralPriv=companion_eph.private,
        identityPriv=identity.private,
        identityPub=identity.public,
        wrappedPrimary=hello.wrapped_primary_ephemeral_pub,
        primaryIdentityPub=account.public,
        random=os.urandom(32),
        bundleSalt=os.urandom(32),
        iv=os.urandom(12),
    )
    with pytest.raises(PairingCheckError) as info:
        open_key_bundle(
            wrapped_key_bundle=theirs["bundle"],
            primary_ephemeral=hello.ephemeral,
            companion_ephemeral_pub=hello.companion_ephemeral_pub,
            account=account,
            companion_identity_pub=identity.public,
        )
    assert info.value.check == "key-bundle"


# --- pair-success ---------------------------------------------------------------------------


def _configure(
    oracle: Oracle, record: bytes, adv_b64: str, companion: KeyPair, **over: str
) -> dict[str, Any]:
    args: dict[str, Any] = {
        "deviceIdentity": record,
        "advB64": adv_b64,
        "identityPriv": companion.private,
        "identityPub": companion.public,
        "jid": "15550001111:4@s.whatsapp.net",
        "lid": "100015550001111:4@lid",
        "platform": "android",
        "id": "srv.3",
    }
    args.update(over)
    result: dict[str, Any] = oracle.call("pairing_configure_success", **args)
    return result


def test_baileys_accepts_our_pair_success_and_its_reply_passes_our_server_check(
    oracle: Oracle,
) -> None:
    account, companion = generate_key_pair(), generate_key_pair()
    adv = os.urandom(32)
    adv_b64 = base64.b64encode(adv).decode()
    for key_index in (1, 2, 300):
        record = sign_device_identity(
            account=account,
            companion_identity_pub=companion.public,
            adv_secret=adv,
            key_index=key_index,
            timestamp=1_795_440_125,
            raw_id=123456789,
        )
        out = _configure(oracle, record, adv_b64, companion)
        assert (out["replyTag"], out["signTag"], out["diTag"]) == (
            "iq",
            "pair-device-sign",
            "device-identity",
        )
        assert out["replyAttrs"] == {"to": "@s.whatsapp.net", "type": "result", "id": "srv.3"}
        assert out["keyIndex"] == str(key_index)
        checked = verify_device_sign_reply(
            out["replyIdentity"],
            sent_device_identity=record,
            companion_identity_pub=companion.public,
            key_index_attr=out["keyIndex"],
        )
        assert checked.key_index == key_index
        # What Baileys stores equals what we store, but for the (randomised) device signature.
        ours = verify_pair_success(record, adv_b64, companion)
        stored = ADVSignedDeviceIdentity.FromString(ours.account)
        assert out["account"]["details"] == stored.details
        assert out["account"]["accountSignature"] == stored.accountSignature
        assert out["account"]["accountSignatureKey"] == stored.accountSignatureKey
        ours_reply = ADVSignedDeviceIdentity.FromString(ours.reply)
        theirs_reply = ADVSignedDeviceIdentity.FromString(out["replyIdentity"])
        ours_reply.ClearField("deviceSignature")
        theirs_reply.ClearField("deviceSignature")
        assert ours_reply.SerializeToString() == theirs_reply.SerializeToString()
        assert out["me"] == {"id": "15550001111:4@s.whatsapp.net", "lid": "100015550001111:4@lid"}
        assert out["platform"] == "android"
        assert out["signalIdentities"] == [
            {"name": "100015550001111:4@lid", "deviceId": 0, "key": b"\x05" + account.public}
        ]


def test_baileys_device_signature_verifies_in_node_too(oracle: Oracle) -> None:
    account, companion = generate_key_pair(), generate_key_pair()
    adv = os.urandom(32)
    record = sign_device_identity(
        account=account,
        companion_identity_pub=companion.public,
        adv_secret=adv,
        key_index=7,
        timestamp=1,
        raw_id=1,
    )
    out = _configure(oracle, record, base64.b64encode(adv).decode(), companion)
    reply = ADVSignedDeviceIdentity.FromString(out["replyIdentity"])
    msg = b"\x06\x01" + reply.details + companion.public + account.public
    assert oracle.call(
        "verify", public=companion.public, message=msg, signature=reply.deviceSignature
    )


def test_baileys_refuses_our_record_under_another_adv_secret(oracle: Oracle) -> None:
    account, companion = generate_key_pair(), generate_key_pair()
    record = sign_device_identity(
        account=account,
        companion_identity_pub=companion.public,
        adv_secret=os.urandom(32),
        key_index=1,
        timestamp=1,
        raw_id=1,
    )
    with pytest.raises(OracleError, match="Invalid account signature"):
        _configure(oracle, record, base64.b64encode(os.urandom(32)).decode(), companion)


def test_baileys_like_phone_records_pass_our_verify(oracle: Oracle) -> None:
    companion = generate_key_pair()
    for key_index in (1, 5, 4000):
        account = oracle.call("keypair")
        adv = os.urandom(32)
        record = oracle.call(
            "pairing_phone_sign",
            accountPriv=account["private"],
            accountPub=account["public"],
            companionIdentityPub=companion.public,
            advSecret=adv,
            keyIndex=key_index,
            rawId=424242,
            timestamp=1_795_440_125,
        )
        result = verify_pair_success(record, base64.b64encode(adv).decode(), companion)
        assert result.key_index == key_index
        assert result.account_signature_key == account["public"]
        assert (result.raw_id, result.timestamp) == (424242, 1_795_440_125)
        # Our device signature verifies in node (curve25519-js), not just in Python.
        stored = ADVSignedDeviceIdentity.FromString(result.account)
        msg = b"\x06\x01" + stored.details + companion.public + account["public"]
        assert oracle.call(
            "verify", public=companion.public, message=msg, signature=stored.deviceSignature
        )


def test_forged_account_signature_passes_baileys_but_not_us(oracle: Oracle) -> None:
    # The record is HMAC'd correctly but its account signature is 64 zero bytes: Baileys
    # pairs anyway (its verify accepts any 64 bytes), wamd refuses.
    companion = generate_key_pair()
    account = oracle.call("keypair")
    adv = os.urandom(32)
    adv_b64 = base64.b64encode(adv).decode()
    record = oracle.call(
        "pairing_phone_sign",
        accountPriv=account["private"],
        accountPub=account["public"],
        companionIdentityPub=companion.public,
        advSecret=adv,
        keyIndex=1,
        rawId=1,
        timestamp=1,
    )
    outer = ADVSignedDeviceIdentityHMAC.FromString(record)
    signed = ADVSignedDeviceIdentity.FromString(outer.details)
    signed.accountSignature = bytes(64)
    forged_details = signed.SerializeToString()
    forged = ADVSignedDeviceIdentityHMAC(
        details=forged_details, hmac=hmac_sha256(adv, forged_details)
    ).SerializeToString()
    assert _configure(oracle, forged, adv_b64, companion)["keyIndex"] == "1"
    with pytest.raises(PairingCheckError) as info:
        verify_pair_success(forged, adv_b64, companion)
    assert info.value.check == "account-signature"


# --- disconnect reasons -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "child"),
    [("515", None), ("401", "conflict"), (None, "conflict"), (None, "ack"), (None, None)],
)
def test_stream_error_status_equals_baileys(
    oracle: Oracle, code: str | None, child: str | None
) -> None:
    theirs = oracle.call("pairing_stream_error_code", code=code, childTag=child)
    assert stream_error_status(code, child) == theirs


def test_baileys_disconnect_codes_map_to_the_same_named_reasons(oracle: Oracle) -> None:
    names = {
        "connectionClosed": DisconnectReason.CONNECTION_CLOSED,
        "connectionLost": DisconnectReason.TIMED_OUT,
        "timedOut": DisconnectReason.TIMED_OUT,
        "connectionReplaced": DisconnectReason.CONNECTION_REPLACED,
        "loggedOut": DisconnectReason.LOGGED_OUT,
        "badSession": DisconnectReason.BAD_SESSION,
        "restartRequired": DisconnectReason.RESTART_REQUIRED,
        "multideviceMismatch": DisconnectReason.MULTIDEVICE_MISMATCH,
        "forbidden": DisconnectReason.FORBIDDEN,
        "unavailableService": DisconnectReason.UNAVAILABLE,
    }
    theirs = oracle.call("pairing_disconnect_reasons")
    assert set(theirs) == set(names)
    for name, code in theirs.items():
        assert classify_disconnect(code)[0] is names[name]
