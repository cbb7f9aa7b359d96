"""ClientPayload building (client) and parsing (server), and the browser description."""

from __future__ import annotations

import hashlib

import pytest

from wamd._proto.client_payload_pb2 import ClientPayload, DeviceProps
from wamd.crypto import KeyPair, generate_key_pair, sign
from wamd.errors import PairingError, UsageError
from wamd.pairing import (
    DEFAULT_VERSION,
    Browser,
    LoginPayload,
    PayloadOptions,
    RegistrationPayload,
    build_login_payload,
    build_registration_payload,
    companion_platform_display,
    companion_platform_id,
    parse_client_payload,
)


def _keys() -> tuple[KeyPair, KeyPair, bytes]:
    identity = generate_key_pair()
    spk = generate_key_pair()
    return identity, spk, sign(identity.private, b"\x05" + spk.public)


def _registration(options: PayloadOptions | None = None, reg_id: int = 4321) -> bytes:
    identity, spk, sig = _keys()
    return build_registration_payload(
        registration_id=reg_id,
        identity_pub=identity.public,
        signed_pre_key_id=0x0A0B0C,
        signed_pre_key_pub=spk.public,
        signed_pre_key_signature=sig,
        options=options,
    )


def test_registration_payload_carries_keys_in_the_documented_encodings() -> None:
    identity, spk, sig = _keys()
    data = build_registration_payload(
        registration_id=0x01020304,
        identity_pub=identity.public,
        signed_pre_key_id=0x0A0B0C,
        signed_pre_key_pub=spk.public,
        signed_pre_key_signature=sig,
    )
    msg = ClientPayload.FromString(data)
    reg = msg.devicePairingData
    assert reg.eRegid == b"\x01\x02\x03\x04"
    assert reg.eKeytype == b"\x05"
    assert reg.eIdent == identity.public
    assert reg.eSkeyId == b"\x0a\x0b\x0c"
    assert reg.eSkeyVal == spk.public
    assert reg.eSkeySig == sig
    assert reg.buildHash == hashlib.md5(b"2.3000.1035194821").digest()
    assert msg.passive is False and msg.pull is False
    assert not msg.HasField("username")
    assert msg.connectType == ClientPayload.WIFI_UNKNOWN
    assert msg.connectReason == ClientPayload.USER_ACTIVATED
    ua = msg.userAgent
    assert ua.platform == ClientPayload.UserAgent.WEB
    assert (ua.appVersion.primary, ua.appVersion.secondary, ua.appVersion.tertiary) == (
        DEFAULT_VERSION
    )
    assert (ua.osVersion, ua.device, ua.osBuildNumber, ua.mcc, ua.mnc) == (
        "0.1",
        "Desktop",
        "0.1",
        "000",
        "000",
    )
    assert ua.localeLanguageIso6391 == "en" and ua.localeCountryIso31661Alpha2 == "US"
    assert msg.webInfo.webSubPlatform == ClientPayload.WebInfo.WEB_BROWSER
    props = DeviceProps.FromString(reg.deviceProps)
    assert props.os == "Mac OS"
    assert props.platformType == DeviceProps.CHROME
    assert props.requireFullSync is True
    assert (props.version.primary, props.version.secondary, props.version.tertiary) == (10, 15, 7)
    assert props.historySyncConfig.storageQuotaMb == 10240
    assert not props.historySyncConfig.HasField("recentSyncDaysLimit")


def test_login_payload_names_user_and_device() -> None:
    msg = ClientPayload.FromString(build_login_payload("15551234567", 12))
    assert msg.username == 15551234567
    assert msg.device == 12
    assert msg.passive is True and msg.pull is True
    assert msg.HasField("lidDbMigrated") and msg.lidDbMigrated is False
    assert not msg.HasField("devicePairingData")
    no_device = ClientPayload.FromString(build_login_payload(15551234567, None))
    assert not no_device.HasField("device")


def test_options_change_version_hash_push_name_and_country() -> None:
    opts = PayloadOptions(version=(2, 3000, 1043857760), country_code="DE", push_name="Bot")
    msg = ClientPayload.FromString(_registration(opts))
    assert msg.userAgent.appVersion.tertiary == 1043857760
    assert msg.devicePairingData.buildHash == hashlib.md5(b"2.3000.1043857760").digest()
    assert msg.pushName == "Bot"
    assert msg.userAgent.localeCountryIso31661Alpha2 == "DE"


@pytest.mark.parametrize(
    ("browser", "sync", "expected"),
    [
        (Browser.mac_os("Desktop"), True, ClientPayload.WebInfo.DARWIN),
        (Browser.windows("Desktop"), True, ClientPayload.WebInfo.WIN32),
        (Browser.ubuntu("Desktop"), True, ClientPayload.WebInfo.WEB_BROWSER),
        (Browser.mac_os("Desktop"), False, ClientPayload.WebInfo.WEB_BROWSER),
        (Browser.mac_os("Chrome"), True, ClientPayload.WebInfo.WEB_BROWSER),
    ],
)
def test_web_sub_platform_marks_full_history_desktop_apps(
    browser: Browser, sync: bool, expected: int
) -> None:
    opts = PayloadOptions(browser=browser, sync_full_history=sync)
    assert ClientPayload.FromString(_registration(opts)).webInfo.webSubPlatform == expected


def test_android_browser_claims_android_and_omits_web_info() -> None:
    msg = ClientPayload.FromString(_registration(PayloadOptions(browser=Browser.android("Pixel"))))
    assert msg.userAgent.platform == ClientPayload.UserAgent.ANDROID
    assert not msg.HasField("webInfo")
    props = DeviceProps.FromString(msg.devicePairingData.deviceProps)
    assert props.platformType == DeviceProps.ANDROID_PHONE
    assert props.os == "Pixel"


@pytest.mark.parametrize(
    ("name", "platform_type"),
    [
        ("Chrome", DeviceProps.CHROME),
        ("Firefox", DeviceProps.FIREFOX),
        ("Safari", DeviceProps.SAFARI),
        ("Edge", DeviceProps.EDGE),
        ("Desktop", DeviceProps.DESKTOP),
        ("Unknown", DeviceProps.CHROME),  # UNKNOWN (0) falls back to Chrome
        ("Netscape", DeviceProps.CHROME),
    ],
)
def test_device_props_platform_type_follows_browser_name(name: str, platform_type: int) -> None:
    msg = ClientPayload.FromString(_registration(PayloadOptions(browser=Browser.mac_os(name))))
    assert DeviceProps.FromString(msg.devicePairingData.deviceProps).platformType == platform_type


@pytest.mark.parametrize(
    ("browser", "platform_id"),
    [
        (Browser.mac_os("Chrome"), "1"),
        (Browser.mac_os("Edge"), "2"),
        (Browser.mac_os("Firefox"), "3"),
        (Browser.mac_os("IE"), "4"),
        (Browser.mac_os("Opera"), "5"),
        (Browser.mac_os("Safari"), "6"),
        (Browser.mac_os("Desktop"), "7"),
        (Browser.windows("Desktop"), "8"),
        (Browser.ubuntu("Vivaldi"), "9"),
    ],
)
def test_companion_platform_id_uses_web_client_numbers(browser: Browser, platform_id: str) -> None:
    assert companion_platform_id(browser) == platform_id


def test_default_browser_is_chrome_on_mac_os() -> None:
    assert Browser() == Browser.mac_os("Chrome") == Browser("Mac OS", "Chrome", "14.4.1")
    assert companion_platform_display(Browser()) == "Chrome (Mac OS)"
    assert PayloadOptions().browser == Browser()


@pytest.mark.parametrize(
    "make",
    [
        lambda: Browser("", "Chrome"),
        lambda: Browser("Mac OS", ""),
        lambda: Browser("Mac, OS", "Chrome"),
        lambda: PayloadOptions(version=(2, 3000)),  # type: ignore[arg-type]
        lambda: PayloadOptions(version=(2, 3000, -1)),
        lambda: PayloadOptions(version=(2, 3000, 2**32)),
        lambda: build_login_payload("+1555", 1),
        lambda: build_login_payload("", 1),
        lambda: build_login_payload("1555", -1),
        lambda: build_login_payload(str(2**64), 1),
    ],
)
def test_bad_arguments_raise_usage_error(make: object) -> None:
    with pytest.raises(UsageError):
        make()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("key", "bad", "match"),
    [
        ("identity_pub", b"\x05" + bytes(32), "identity public key must be 32 bytes"),
        ("signed_pre_key_pub", bytes(31), "signed pre-key public key must be 32 bytes"),
        ("signed_pre_key_signature", bytes(63), "signed pre-key signature must be 64 bytes"),
        ("registration_id", 2**32, "registration id"),
        ("signed_pre_key_id", 2**24, "signed pre-key id"),
    ],
)
def test_registration_rejects_bad_key_sizes_and_ids(key: str, bad: object, match: str) -> None:
    identity, spk, sig = _keys()
    args: dict[str, object] = {
        "registration_id": 1,
        "identity_pub": identity.public,
        "signed_pre_key_id": 1,
        "signed_pre_key_pub": spk.public,
        "signed_pre_key_signature": sig,
    }
    args[key] = bad
    with pytest.raises(UsageError, match=match):
        build_registration_payload(**args)  # type: ignore[arg-type]


# --- server side ------------------------------------------------------------------------


def test_parse_registration_returns_the_keys() -> None:
    identity, spk, sig = _keys()
    data = build_registration_payload(
        registration_id=77,
        identity_pub=identity.public,
        signed_pre_key_id=3,
        signed_pre_key_pub=spk.public,
        signed_pre_key_signature=sig,
        options=PayloadOptions(push_name="Me"),
    )
    parsed = parse_client_payload(data)
    assert isinstance(parsed, RegistrationPayload)
    assert parsed.registration_id == 77
    assert parsed.identity_pub == identity.public
    assert parsed.signed_pre_key_id == 3
    assert parsed.signed_pre_key_pub == spk.public
    assert parsed.signed_pre_key_signature == sig
    assert parsed.device_os == "Mac OS"
    assert parsed.platform_type == DeviceProps.CHROME
    assert parsed.require_full_sync is True
    assert parsed.app_version == DEFAULT_VERSION
    assert parsed.platform == ClientPayload.UserAgent.WEB
    assert parsed.push_name == "Me"


def test_parse_login_returns_user_and_device() -> None:
    parsed = parse_client_payload(build_login_payload("447700900123", 5))
    assert parsed == LoginPayload(
        username=447700900123,
        device=5,
        passive=True,
        pull=True,
        app_version=DEFAULT_VERSION,
        platform=ClientPayload.UserAgent.WEB,
        push_name=None,
    )


def _tampered(edit: object) -> bytes:
    msg = ClientPayload.FromString(_registration())
    edit(msg)  # type: ignore[operator]
    return msg.SerializeToString()


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda m: setattr(m.devicePairingData, "eIdent", b"\x01" * 31), "eIdent"),
        (lambda m: setattr(m.devicePairingData, "eKeytype", b"\x06"), "eKeytype"),
        (lambda m: setattr(m.devicePairingData, "eRegid", b"\x01\x02"), "eRegid"),
        (lambda m: setattr(m.devicePairingData, "eSkeyId", b"\x01"), "eSkeyId"),
        (lambda m: setattr(m.devicePairingData, "eSkeyVal", b""), "eSkeyVal"),
        (lambda m: setattr(m.devicePairingData, "eSkeySig", b"\x00" * 64), "does not verify"),
        (lambda m: setattr(m.devicePairingData, "buildHash", b"\x00"), "buildHash"),
        (lambda m: setattr(m.devicePairingData, "deviceProps", b"\xff\xff"), "deviceProps"),
        (lambda m: setattr(m, "username", 1555), "both"),
        (lambda m: m.ClearField("devicePairingData"), "neither"),
    ],
)
def test_parse_rejects_malformed_payloads_naming_the_field(edit: object, match: str) -> None:
    with pytest.raises(PairingError, match=match):
        parse_client_payload(_tampered(edit))


def test_parse_can_skip_the_signed_pre_key_check() -> None:
    data = _tampered(lambda m: setattr(m.devicePairingData, "eSkeySig", b"\x00" * 64))
    assert isinstance(parse_client_payload(data, verify_signed_pre_key=False), RegistrationPayload)


def test_parse_rejects_bytes_that_are_not_a_payload() -> None:
    with pytest.raises(PairingError, match="client payload"):
        parse_client_payload(b"\x0a\xff\xff\xff")
