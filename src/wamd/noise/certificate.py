"""The server's certificate chain: strict verification, and a builder for test chains.

The server proves who it is by sending, encrypted inside the handshake, a ``CertChain``
(protocol.md §1.5): an intermediate certificate signed by WhatsApp's long-term root key
and a leaf certificate, signed by the intermediate, whose key is the server's Noise
static key. :func:`verify_cert_chain` checks all of it (whatsmeow-lessons.md §3.3), where
Baileys in effect checks only presence and the intermediate's issuer serial.
:func:`make_cert_chain` issues chains from a test root, with knobs to produce each
defect, for the fake server and tests.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from wamd._proto import decode_proto
from wamd._proto.handshake_pb2 import CertChain
from wamd.crypto import KeyPair, generate_key_pair, sign, verify
from wamd.errors import CertificateError, CryptoError, ProtoDecodeError

__all__ = [
    "CHECKS",
    "DEFAULT_VALIDITY",
    "ROOT_SERIAL",
    "WA_ROOT_KEY",
    "CertDetails",
    "IssuedChain",
    "VerifiedChain",
    "make_cert_chain",
    "verify_cert_chain",
]

WA_ROOT_KEY = bytes.fromhex("142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b")
"""WhatsApp's long-term root public key ("WhatsAppLongTerm1", serial 0)."""

ROOT_SERIAL = 0
"""The root's serial: the issuer serial every intermediate must name."""

DEFAULT_VALIDITY = 30 * 24 * 3600
"""How long chains from :func:`make_cert_chain` stay valid by default (seconds)."""

CHECKS = (
    "malformed",
    "missing-field",
    "signature-length",
    "intermediate-signature",
    "issuer-serial",
    "intermediate-key",
    "leaf-signature",
    "not-yet-valid",
    "expired",
    "leaf-issuer-serial",
    "leaf-key-mismatch",
)
"""Every ``CertificateError.check`` name :func:`verify_cert_chain` can raise, in order."""

_SIGNATURE_SIZE = 64
_KEY_SIZE = 32
_Certificate = CertChain.NoiseCertificate
_Details = CertChain.NoiseCertificate.Details


@dataclass(frozen=True, slots=True)
class CertDetails:
    """What one certificate states. Absent numeric fields read as 0, as on the wire."""

    serial: int
    issuer_serial: int
    key: bytes
    not_before: int
    not_after: int

    def __repr__(self) -> str:
        return (
            f"CertDetails(serial={self.serial}, issuer_serial={self.issuer_serial}, "
            f"key={self.key.hex()}, not_before={self.not_before}, not_after={self.not_after})"
        )

    def encode(self) -> bytes:
        """The serialized ``NoiseCertificate.Details`` (every field written explicitly)."""
        return _Details(
            serial=self.serial,
            issuerSerial=self.issuer_serial,
            key=self.key,
            notBefore=self.not_before,
            notAfter=self.not_after,
        ).SerializeToString()


@dataclass(frozen=True, slots=True)
class VerifiedChain:
    """The details of a chain that passed :func:`verify_cert_chain`."""

    intermediate: CertDetails
    leaf: CertDetails


@dataclass(frozen=True, slots=True)
class IssuedChain:
    """A chain made by :func:`make_cert_chain` and the intermediate key that signed it."""

    chain: bytes = field(repr=False)
    intermediate: KeyPair


def verify_cert_chain(
    chain_bytes: bytes,
    server_static_pub: bytes,
    now: int,
    root_key: bytes = WA_ROOT_KEY,
) -> VerifiedChain:
    """Check the server's ``CertChain`` against ``root_key`` and the handshake's static key.

    ``server_static_pub`` is the server static key decrypted in the handshake and ``now``
    the current time in unix seconds. Checks: both certificates present with details and
    64-byte signatures; the intermediate signed by the root; its issuer serial is the
    root's (0) and its key 32 bytes; the leaf signed by the intermediate's key; both
    validity windows contain ``now``; the leaf's issuer serial is the intermediate's
    serial; the leaf key is ``server_static_pub``. The first failing check raises
    :class:`~wamd.errors.CertificateError` whose ``check`` is one of :data:`CHECKS`.
    """
    try:
        chain = decode_proto(CertChain, chain_bytes, "certificate chain")
    except ProtoDecodeError as exc:
        raise CertificateError("malformed", str(exc)) from None
    present = {"intermediate": chain.HasField("intermediate"), "leaf": chain.HasField("leaf")}
    for name, cert in (("intermediate", chain.intermediate), ("leaf", chain.leaf)):
        if not present[name]:
            raise CertificateError("missing-field", f"the chain has no {name} certificate")
        for part, has in (
            ("details", cert.HasField("details")),
            ("signature", cert.HasField("signature")),
        ):
            if not has:
                raise CertificateError("missing-field", f"the {name} certificate has no {part}")
        if len(cert.signature) != _SIGNATURE_SIZE:
            raise CertificateError(
                "signature-length",
                f"the {name} signature is {len(cert.signature)} bytes, expected 64",
            )
    inter_cert, leaf_cert = chain.intermediate, chain.leaf

    if not _verify(root_key, inter_cert.details, inter_cert.signature):
        raise CertificateError(
            "intermediate-signature", "the intermediate is not signed by the trusted root key"
        )
    inter = _details(inter_cert.details, "intermediate")
    if inter.issuer_serial != ROOT_SERIAL:
        raise CertificateError(
            "issuer-serial",
            f"the intermediate names issuer serial {inter.issuer_serial}, "
            f"the root's is {ROOT_SERIAL}",
        )
    if len(inter.key) != _KEY_SIZE:
        raise CertificateError(
            "intermediate-key", f"the intermediate key is {len(inter.key)} bytes, expected 32"
        )
    if not _verify(inter.key, leaf_cert.details, leaf_cert.signature):
        raise CertificateError("leaf-signature", "the leaf is not signed by the intermediate's key")
    _check_window(inter, now, "intermediate")
    leaf = _details(leaf_cert.details, "leaf")
    if leaf.issuer_serial != inter.serial:
        raise CertificateError(
            "leaf-issuer-serial",
            f"the leaf names issuer serial {leaf.issuer_serial}, "
            f"the intermediate's serial is {inter.serial}",
        )
    if not hmac.compare_digest(leaf.key, bytes(server_static_pub)):
        raise CertificateError(
            "leaf-key-mismatch", "the leaf key is not the static key the server used"
        )
    _check_window(leaf, now, "leaf")
    return VerifiedChain(intermediate=inter, leaf=leaf)


def make_cert_chain(
    root: KeyPair,
    server_static_pub: bytes,
    now: int,
    *,
    intermediate: KeyPair | None = None,
    intermediate_serial: int = 1,
    intermediate_issuer_serial: int = ROOT_SERIAL,
    intermediate_window: tuple[int, int] | None = None,
    leaf_serial: int = 2,
    leaf_issuer_serial: int | None = None,
    leaf_window: tuple[int, int] | None = None,
    leaf_signer: KeyPair | None = None,
) -> IssuedChain:
    """Issue a serialized ``CertChain`` for ``server_static_pub`` from the ``root`` key.

    With the defaults the chain passes :func:`verify_cert_chain` with ``root.public`` as
    the root key at ``now``: a fresh intermediate (serial 1, issuer 0) and a leaf (serial 2,
    issuer 1), both valid from ``now - 60`` to ``now + DEFAULT_VALIDITY``. Each keyword
    produces one defect: other serials, other ``(not_before, not_after)`` windows, a leaf
    signed by ``leaf_signer`` instead of the intermediate; a different root, or a leaf key
    other than the server's, come from the positional arguments.
    """
    inter_keys = intermediate if intermediate is not None else generate_key_pair()
    default_window = (now - 60, now + DEFAULT_VALIDITY)
    i_from, i_to = intermediate_window or default_window
    l_from, l_to = leaf_window or default_window
    inter_details = CertDetails(
        intermediate_serial, intermediate_issuer_serial, inter_keys.public, i_from, i_to
    ).encode()
    leaf_details = CertDetails(
        leaf_serial,
        intermediate_serial if leaf_issuer_serial is None else leaf_issuer_serial,
        bytes(server_static_pub),
        l_from,
        l_to,
    ).encode()
    signer = leaf_signer if leaf_signer is not None else inter_keys
    chain = CertChain(
        intermediate=_Certificate(
            details=inter_details, signature=sign(root.private, inter_details)
        ),
        leaf=_Certificate(details=leaf_details, signature=sign(signer.private, leaf_details)),
    )
    return IssuedChain(chain=chain.SerializeToString(), intermediate=inter_keys)


def _details(data: bytes, name: str) -> CertDetails:
    try:
        msg = decode_proto(_Details, data, f"{name} certificate details")
    except ProtoDecodeError as exc:
        raise CertificateError("malformed", str(exc)) from None
    return CertDetails(msg.serial, msg.issuerSerial, msg.key, msg.notBefore, msg.notAfter)


def _verify(public: bytes, message: bytes, signature: bytes) -> bool:
    try:
        return verify(public, message, signature)
    except CryptoError:  # a key of the wrong length or type cannot have signed anything
        return False


def _check_window(details: CertDetails, now: int, name: str) -> None:
    if now < details.not_before:
        raise CertificateError(
            "not-yet-valid",
            f"the {name} certificate is valid from {details.not_before}, it is now {now}",
        )
    if now > details.not_after:
        raise CertificateError(
            "expired", f"the {name} certificate expired at {details.not_after}, it is now {now}"
        )
