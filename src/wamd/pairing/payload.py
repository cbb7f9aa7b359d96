"""The ClientPayload a companion sends inside the Noise handshake: login or registration.

Both sides use this module: the client builds the payload bytes (protocol.md §2), and a
server (our fake one) parses them back into :class:`LoginPayload` or
:class:`RegistrationPayload` to decide what to do with the connection.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Final

from wamd._proto import decode_proto
from wamd._proto.client_payload_pb2 import ClientPayload, DeviceProps
from wamd.crypto import DJB_TYPE, prefixed, verify
from wamd.errors import PairingError, ProtoDecodeError, UsageError
from wamd.pairing._checks import check_len

__all__ = [
    "DEFAULT_VERSION",
    "AppVersion",
    "Browser",
    "LoginPayload",
    "PayloadOptions",
    "RegistrationPayload",
    "build_login_payload",
    "build_registration_payload",
    "companion_platform_display",
    "companion_platform_id",
    "parse_client_payload",
]

AppVersion = tuple[int, int, int]
"""A WhatsApp Web version as (primary, secondary, tertiary), e.g. (2, 3000, 1035194821)."""

DEFAULT_VERSION: Final[AppVersion] = (2, 3000, 1035194821)
"""The WhatsApp Web version wamd announces unless told otherwise."""

_KEY_LEN: Final = 32
_SIG_LEN: Final = 64
_UINT32_MAX: Final = 0xFFFFFFFF
_UINT24_MAX: Final = 0xFFFFFF

# CompanionWebClientType numbers (protocol.md §2.4), by browser name.
_COMPANION_WEB_CLIENT: Final = {
    "Chrome": 1,
    "Edge": 2,
    "Firefox": 3,
    "IE": 4,
    "Opera": 5,
    "Safari": 6,
}
_ELECTRON: Final = 7
_UWP: Final = 8
_OTHER_WEB_CLIENT: Final = 9

# webSubPlatform for a full-history desktop app, by OS name.
_DESKTOP_SUB_PLATFORM: Final = {
    "Mac OS": ClientPayload.WebInfo.DARWIN,
    "Windows": ClientPayload.WebInfo.WIN32,
}


@dataclass(frozen=True, slots=True)
class Browser:
    """How the companion describes itself: operating system, browser name, OS version.

    WhatsApp shows ``"<name> (<os>)"`` in the phone's list of linked devices.
    """

    os: str = "Mac OS"
    name: str = "Chrome"
    os_version: str = "14.4.1"

    def __post_init__(self) -> None:
        for what, value in (("os", self.os), ("name", self.name)):
            if not isinstance(value, str) or not value:
                raise UsageError(f"Browser.{what} must be a non-empty string, got {value!r}")
            if "," in value:
                raise UsageError(f"Browser.{what} must not contain a comma, got {value!r}")
        if not isinstance(self.os_version, str):
            raise UsageError(f"Browser.os_version must be a string, got {self.os_version!r}")

    @classmethod
    def mac_os(cls, name: str = "Chrome") -> Browser:
        """``name`` on Mac OS 14.4.1 (the default browser is Chrome on Mac OS)."""
        return cls("Mac OS", name, "14.4.1")

    @classmethod
    def windows(cls, name: str = "Chrome") -> Browser:
        """``name`` on Windows 10.0.22631."""
        return cls("Windows", name, "10.0.22631")

    @classmethod
    def ubuntu(cls, name: str = "Chrome") -> Browser:
        """``name`` on Ubuntu 22.04.4."""
        return cls("Ubuntu", name, "22.04.4")

    @classmethod
    def android(cls, device_name: str) -> Browser:
        """An Android companion named ``device_name`` (experimental in every client)."""
        return cls(device_name, "Android", "")

    @property
    def is_android(self) -> bool:
        """True when the browser name says Android: the payload then claims that platform."""
        return "android" in self.name.lower()


def companion_platform_id(browser: Browser) -> str:
    """The companion platform id (a decimal string) used in the QR and in pairing by code."""
    if browser.name == "Desktop":
        return str(_UWP if browser.os == "Windows" else _ELECTRON)
    return str(_COMPANION_WEB_CLIENT.get(browser.name, _OTHER_WEB_CLIENT))


def companion_platform_display(browser: Browser) -> str:
    """The name the phone shows for the companion, e.g. ``"Chrome (Mac OS)"``."""
    return f"{browser.name} ({browser.os})"


@dataclass(frozen=True, slots=True)
class PayloadOptions:
    """Settings shared by the login and registration payloads.

    ``sync_full_history`` asks the phone for the full chat history at linking time;
    ``country_code`` is the ISO 3166 alpha-2 code of the user agent's locale;
    ``push_name`` (if set) is announced as the user's display name.
    """

    browser: Browser = field(default_factory=Browser)
    version: AppVersion = DEFAULT_VERSION
    sync_full_history: bool = True
    country_code: str = "US"
    push_name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.browser, Browser):
            raise UsageError(f"browser must be a Browser, got {type(self.browser).__name__}")
        version = tuple(self.version)
        if len(version) != 3 or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= _UINT32_MAX
            for v in version
        ):
            raise UsageError(f"version must be three integers in 0..2**32-1, got {self.version!r}")
        object.__setattr__(self, "version", version)

    @property
    def version_string(self) -> str:
        """The version as WhatsApp writes it, e.g. ``"2.3000.1035194821"``."""
        return ".".join(str(v) for v in self.version)


def _base_payload(options: PayloadOptions) -> ClientPayload:
    payload = ClientPayload()
    payload.connectType = ClientPayload.WIFI_UNKNOWN
    payload.connectReason = ClientPayload.USER_ACTIVATED
    agent = payload.userAgent
    agent.platform = (
        ClientPayload.UserAgent.ANDROID
        if options.browser.is_android
        else ClientPayload.UserAgent.WEB
    )
    agent.appVersion.primary, agent.appVersion.secondary, agent.appVersion.tertiary = (
        options.version
    )
    agent.mcc = "000"
    agent.mnc = "000"
    agent.osVersion = "0.1"
    agent.device = "Desktop"
    agent.osBuildNumber = "0.1"
    agent.releaseChannel = ClientPayload.UserAgent.RELEASE
    agent.localeLanguageIso6391 = "en"
    agent.localeCountryIso31661Alpha2 = options.country_code
    if not options.browser.is_android:
        sub_platform = ClientPayload.WebInfo.WEB_BROWSER
        if options.sync_full_history and options.browser.name == "Desktop":
            sub_platform = _DESKTOP_SUB_PLATFORM.get(options.browser.os, sub_platform)
        payload.webInfo.webSubPlatform = sub_platform
    if options.push_name:
        payload.pushName = options.push_name
    return payload


def build_login_payload(
    user: str | int, device: int | None, options: PayloadOptions | None = None
) -> bytes:
    """The ClientPayload bytes that log an already linked device in.

    ``user`` is the phone-number user part of our JID (``me.id``) and ``device`` its
    device number (``None`` when the JID has none).
    """
    opts = options or PayloadOptions()
    text = str(user)
    if not text.isdigit() or not text.isascii():
        raise UsageError(f"login user must be the phone-number part of a JID, got {text!r}")
    username = int(text)
    if username > 0xFFFFFFFFFFFFFFFF:
        raise UsageError(f"login user {text!r} does not fit in 64 bits")
    payload = _base_payload(opts)
    payload.passive = True
    payload.pull = True
    payload.username = username
    if device is not None:
        if not 0 <= device <= _UINT32_MAX:
            raise UsageError(f"login device must be in 0..2**32-1, got {device}")
        payload.device = device
    payload.lidDbMigrated = False
    return payload.SerializeToString()


def _device_props(options: PayloadOptions) -> bytes:
    props = DeviceProps()
    props.os = options.browser.os
    props.version.primary, props.version.secondary, props.version.tertiary = 10, 15, 7
    props.platformType = _platform_type(options.browser.name)
    props.requireFullSync = options.sync_full_history
    sync = props.historySyncConfig
    sync.storageQuotaMb = 10240
    sync.inlineInitialPayloadInE2EeMsg = True
    sync.supportCallLogHistory = False
    sync.supportBotUserAgentChatHistory = True
    sync.supportCagReactionsAndPolls = True
    sync.supportBizHostedMsg = True
    sync.supportRecentSyncChunkMessageCountTuning = True
    sync.supportHostedGroupMsg = True
    sync.supportFbidBotChatHistory = True
    sync.supportMessageAssociation = True
    sync.supportGroupHistory = False
    return props.SerializeToString()


def _platform_type(browser_name: str) -> DeviceProps.PlatformType.ValueType:
    upper = browser_name.upper()
    if upper == "ANDROID":
        return DeviceProps.ANDROID_PHONE
    try:
        value = DeviceProps.PlatformType.Value(upper)
    except ValueError:
        return DeviceProps.CHROME
    return value or DeviceProps.CHROME  # UNKNOWN (0) also falls back to Chrome


def build_registration_payload(
    *,
    registration_id: int,
    identity_pub: bytes,
    signed_pre_key_id: int,
    signed_pre_key_pub: bytes,
    signed_pre_key_signature: bytes,
    options: PayloadOptions | None = None,
) -> bytes:
    """The ClientPayload bytes that ask to register (link) a new companion device.

    The keys are our Signal identity public key and signed pre-key (32-byte public keys
    without the 0x05 prefix, and the pre-key's 64-byte signature).
    """
    opts = options or PayloadOptions()
    if not 0 <= registration_id <= _UINT32_MAX:
        raise UsageError(f"registration id must be in 0..2**32-1, got {registration_id}")
    if not 0 <= signed_pre_key_id <= _UINT24_MAX:
        raise UsageError(f"signed pre-key id must be in 0..2**24-1, got {signed_pre_key_id}")
    check_len(identity_pub, _KEY_LEN, "identity public key", UsageError)
    check_len(signed_pre_key_pub, _KEY_LEN, "signed pre-key public key", UsageError)
    check_len(signed_pre_key_signature, _SIG_LEN, "signed pre-key signature", UsageError)
    payload = _base_payload(opts)
    payload.passive = False
    payload.pull = False
    reg = payload.devicePairingData
    reg.eRegid = registration_id.to_bytes(4, "big")
    reg.eKeytype = bytes((DJB_TYPE,))
    reg.eIdent = bytes(identity_pub)
    reg.eSkeyId = signed_pre_key_id.to_bytes(3, "big")
    reg.eSkeyVal = bytes(signed_pre_key_pub)
    reg.eSkeySig = bytes(signed_pre_key_signature)
    reg.buildHash = hashlib.md5(opts.version_string.encode(), usedforsecurity=False).digest()
    reg.deviceProps = _device_props(opts)
    return payload.SerializeToString()


# --- server side ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginPayload:
    """A parsed login payload: which account (``username``) and device want to log in."""

    username: int
    device: int
    passive: bool
    pull: bool
    app_version: AppVersion
    platform: int
    push_name: str | None


@dataclass(frozen=True, slots=True)
class RegistrationPayload:
    """A parsed registration payload: the keys and description of a device to link.

    ``identity_pub`` and ``signed_pre_key_pub`` are 32 bytes without the 0x05 prefix;
    ``device_os`` and ``platform_type`` come from the embedded DeviceProps.
    """

    registration_id: int
    identity_pub: bytes
    signed_pre_key_id: int
    signed_pre_key_pub: bytes
    signed_pre_key_signature: bytes
    build_hash: bytes
    device_os: str
    platform_type: int
    require_full_sync: bool
    app_version: AppVersion
    platform: int
    push_name: str | None


def parse_client_payload(
    data: bytes, *, verify_signed_pre_key: bool = True
) -> LoginPayload | RegistrationPayload:
    """Parse ClientPayload bytes as a server does: a login or a registration.

    A payload with ``devicePairingData`` and no ``username`` is a registration; one with
    a ``username`` and no pairing data is a login. Anything else, or a registration with
    malformed keys (or, when ``verify_signed_pre_key``, a signed pre-key signature that
    does not verify), raises :class:`~wamd.errors.PairingError` naming the field.
    """
    try:
        payload = decode_proto(ClientPayload, data, "client payload")
    except ProtoDecodeError as exc:
        raise PairingError(str(exc)) from exc
    version = payload.userAgent.appVersion
    app_version = (version.primary, version.secondary, version.tertiary)
    push_name = payload.pushName if payload.HasField("pushName") else None
    platform = payload.userAgent.platform
    has_user = payload.HasField("username")
    has_reg = payload.HasField("devicePairingData")
    if has_user and not has_reg:
        return LoginPayload(
            username=payload.username,
            device=payload.device,
            passive=payload.passive,
            pull=payload.pull,
            app_version=app_version,
            platform=platform,
            push_name=push_name,
        )
    if has_reg and not has_user:
        return _parse_registration(payload, app_version, platform, push_name, verify_signed_pre_key)
    if has_reg:
        raise PairingError("client payload has both username (login) and devicePairingData")
    raise PairingError("client payload has neither username (login) nor devicePairingData")


def _parse_registration(
    payload: ClientPayload,
    app_version: AppVersion,
    platform: int,
    push_name: str | None,
    verify_signed_pre_key: bool,
) -> RegistrationPayload:
    reg = payload.devicePairingData
    where = "client payload devicePairingData"
    check_len(reg.eRegid, 4, f"{where}.eRegid")
    if reg.eKeytype != bytes((DJB_TYPE,)):
        raise PairingError(f"{where}.eKeytype must be the single byte 05, got {reg.eKeytype.hex()}")
    check_len(reg.eIdent, _KEY_LEN, f"{where}.eIdent")
    check_len(reg.eSkeyId, 3, f"{where}.eSkeyId")
    check_len(reg.eSkeyVal, _KEY_LEN, f"{where}.eSkeyVal")
    check_len(reg.eSkeySig, _SIG_LEN, f"{where}.eSkeySig")
    check_len(reg.buildHash, 16, f"{where}.buildHash")
    if verify_signed_pre_key and not verify(reg.eIdent, prefixed(reg.eSkeyVal), reg.eSkeySig):
        raise PairingError(f"{where}.eSkeySig: signed pre-key signature does not verify")
    try:
        props = decode_proto(DeviceProps, reg.deviceProps, f"{where}.deviceProps")
    except ProtoDecodeError as exc:
        raise PairingError(str(exc)) from exc
    return RegistrationPayload(
        registration_id=int.from_bytes(reg.eRegid, "big"),
        identity_pub=reg.eIdent,
        signed_pre_key_id=int.from_bytes(reg.eSkeyId, "big"),
        signed_pre_key_pub=reg.eSkeyVal,
        signed_pre_key_signature=reg.eSkeySig,
        build_hash=reg.buildHash,
        device_os=props.os,
        platform_type=props.platformType,
        require_full_sync=props.requireFullSync,
        app_version=app_version,
        platform=platform,
        push_name=push_name,
    )
