"""Linking a companion device: the pure maths and payloads, for both sides (sans-IO).

- :mod:`~wamd.pairing.payload`: the ClientPayload (login or registration), built by the
  client and parsed by a server; :class:`Browser` and the version it announces.
- :mod:`~wamd.pairing.qr`: the QR string, built by the client and parsed by the phone.
- :mod:`~wamd.pairing.adv`: the signed device identity of ``<pair-success>`` (phone),
  its verification and countersignature (client), the reply check (server).
- :mod:`~wamd.pairing.code`: linking by phone number and 8-character code.
- :mod:`~wamd.pairing.render`: :func:`print_qr` for terminals.

Nothing here does I/O except :func:`print_qr` (which writes to a stream it is given);
randomness comes from ``os.urandom`` unless passed in, times are passed in.
"""

from wamd.pairing.adv import (
    DeviceSignReply,
    PairSuccess,
    sign_device_identity,
    verify_device_sign_reply,
    verify_pair_success,
)
from wamd.pairing.code import (
    PAIRING_CODE_ALPHABET,
    CompanionFinish,
    PrimaryHello,
    companion_finish,
    derive_adv_secret,
    derive_code_key,
    generate_pairing_code,
    normalize_pairing_code,
    normalize_phone_number,
    open_key_bundle,
    primary_hello,
    unwrap_ephemeral_pub,
    validate_pairing_code,
    wrap_ephemeral_pub,
)
from wamd.pairing.payload import (
    DEFAULT_VERSION,
    AppVersion,
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
from wamd.pairing.qr import QRData, build_qr, decode_adv_secret, parse_qr
from wamd.pairing.render import print_qr, render_qr

__all__ = [
    "DEFAULT_VERSION",
    "PAIRING_CODE_ALPHABET",
    "AppVersion",
    "Browser",
    "CompanionFinish",
    "DeviceSignReply",
    "LoginPayload",
    "PairSuccess",
    "PayloadOptions",
    "PrimaryHello",
    "QRData",
    "RegistrationPayload",
    "build_login_payload",
    "build_qr",
    "build_registration_payload",
    "companion_finish",
    "companion_platform_display",
    "companion_platform_id",
    "decode_adv_secret",
    "derive_adv_secret",
    "derive_code_key",
    "generate_pairing_code",
    "normalize_pairing_code",
    "normalize_phone_number",
    "open_key_bundle",
    "parse_client_payload",
    "parse_qr",
    "primary_hello",
    "print_qr",
    "render_qr",
    "sign_device_identity",
    "unwrap_ephemeral_pub",
    "validate_pairing_code",
    "verify_device_sign_reply",
    "verify_pair_success",
    "wrap_ephemeral_pub",
]
