"""The exceptions wamd raises.

Every error wamd raises on purpose is a :class:`WamdError`. Each layer has one base
class (``CryptoError``, ``BinaryError``, ``NoiseError``, ``SignalError``,
``AuthStateError``, ``ConnectionError_``…) and specific subclasses below it, so callers
can catch as broadly or as narrowly as they need. Messages say what was wrong and where
(a field, a file, an offset), and never contain key material.
"""

from __future__ import annotations

__all__ = [
    "AuthStateError",
    "BinaryError",
    "CertificateError",
    "ConnectionClosedError",
    "ConnectionError_",
    "CorruptStoreError",
    "CryptoError",
    "DecryptionError",
    "DuplicateMessageError",
    "FrameError",
    "HandshakeError",
    "InsecureStoreError",
    "InvalidKeyError",
    "InvalidMessageError",
    "InvalidRecordError",
    "InvalidSignatureError",
    "InvalidVersionError",
    "JidError",
    "MessageError",
    "MessageRejectedError",
    "MigrationError",
    "NoSessionError",
    "NodeDecodeError",
    "NodeEncodeError",
    "NoiseError",
    "PairingCheckError",
    "PairingError",
    "PreKeyFetchError",
    "ProtoDecodeError",
    "QueryError",
    "SendError",
    "SignalError",
    "StanzaError",
    "StoreKeyError",
    "StoreLockedError",
    "StoreSchemaError",
    "StoreUnavailableError",
    "TimeoutError_",
    "UnknownPreKeyError",
    "UntrustedIdentityError",
    "UsageError",
    "WamdError",
]


class WamdError(Exception):
    """Base class of every error wamd raises on purpose."""


# --- crypto -----------------------------------------------------------------------------


class CryptoError(WamdError):
    """A cryptographic primitive was given bad input or failed a check."""


class InvalidKeyError(CryptoError):
    """A key has the wrong length or form."""


class InvalidSignatureError(CryptoError):
    """A signature did not verify, or is not 64 bytes."""


class DecryptionError(CryptoError):
    """A ciphertext failed to decrypt: bad tag or MAC, bad padding, or truncated."""


class ProtoDecodeError(WamdError):
    """Bytes that should hold a protobuf message could not be parsed as one."""


# --- binary nodes -------------------------------------------------------------------------


class BinaryError(WamdError):
    """A binary node (WABinary) could not be encoded or decoded."""


class NodeDecodeError(BinaryError):
    """Bytes that should hold a binary node are malformed; the message gives the offset."""


class NodeEncodeError(BinaryError):
    """A node cannot be written on the wire (bad tag, attribute or content type)."""


class JidError(BinaryError):
    """A string is not a valid JID."""


# --- noise transport -----------------------------------------------------------------------


class NoiseError(WamdError):
    """The Noise transport failed."""


class HandshakeError(NoiseError):
    """The Noise handshake failed (bad message, wrong state, decrypt failure)."""


class FrameError(NoiseError):
    """A frame is malformed or over the size limit, or failed to decrypt."""


class CertificateError(HandshakeError):
    """The server certificate chain failed a check; ``check`` names which one."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"certificate check '{check}' failed: {message}")
        self.check = check


# --- signal ------------------------------------------------------------------------------


class SignalError(WamdError):
    """The Signal protocol layer refused a message or a key."""


class InvalidMessageError(SignalError):
    """A Signal message is malformed, has a bad MAC or version, or cannot be decrypted."""


class InvalidVersionError(InvalidMessageError):
    """A Signal message carries a version byte other than the one spoken (3)."""


class DuplicateMessageError(InvalidMessageError):
    """A Signal message was already decrypted (replay or duplicate delivery)."""


class NoSessionError(SignalError):
    """There is no session (or sender key) for the address."""


class UntrustedIdentityError(SignalError):
    """A peer's identity key is not the one on record."""


class UnknownPreKeyError(SignalError):
    """A message names a one-time or signed pre-key we do not have (used up or never made)."""


class InvalidRecordError(SignalError):
    """Stored Signal record bytes or JSON are damaged or in an unknown form."""


# --- auth state ------------------------------------------------------------------------


class AuthStateError(WamdError):
    """An auth state could not be loaded or saved."""


class CorruptStoreError(AuthStateError):
    """A stored value or file is damaged or in an unknown form; the message names it."""


class StoreSchemaError(AuthStateError):
    """A store was written by a newer (or unknown) schema version."""


class StoreLockedError(AuthStateError):
    """Another process holds the store (or this account in it)."""


class MigrationError(AuthStateError):
    """A migration between auth-state backends could not be done; nothing was written."""


class StoreKeyError(AuthStateError):
    """A store's encryption key is missing, wrong, or not 32 bytes."""


class InsecureStoreError(AuthStateError):
    """A store file is readable or writable by other users; wamd refuses to use it."""


class StoreUnavailableError(AuthStateError):
    """A remote store (PostgreSQL, Redis) cannot be reached, or dropped the connection."""


# --- messages --------------------------------------------------------------------------


class MessageError(WamdError):
    """A message stanza could not be built, parsed or processed."""


class StanzaError(MessageError):
    """An incoming stanza is malformed: a missing attribute or child, or a bad length."""


class PreKeyFetchError(MessageError):
    """The server refused a device's pre-key bundle (an ``<error>`` in the key-fetch reply)."""

    def __init__(self, jid: str, code: str | None, text: str | None) -> None:
        super().__init__(f"no pre-key bundle for {jid}: error {code} {text or ''}".rstrip())
        self.jid = jid
        self.code = code
        self.text = text


class SendError(MessageError):
    """A message could not be encrypted for any of its recipient devices."""


class MessageRejectedError(SendError):
    """The server refused a message we sent (``<ack error=..>``); ``code`` is its error."""

    def __init__(self, message: str, code: int | None) -> None:
        super().__init__(message)
        self.code = code


# --- connection --------------------------------------------------------------------------


class ConnectionError_(WamdError):  # trailing _ avoids shadowing the builtin
    """The connection to the server failed or was closed."""


class ConnectionClosedError(ConnectionError_):
    """The connection is closed; ``status_code`` says why where the server told us."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class QueryError(ConnectionError_):
    """The server answered a request with ``<error code=.. text=..>``."""

    def __init__(self, message: str, code: int | None, text: str | None) -> None:
        super().__init__(message)
        self.code = code
        self.text = text


class TimeoutError_(ConnectionError_):  # trailing _ avoids shadowing the builtin
    """A request got no answer in time."""


class PairingError(ConnectionError_):
    """Linking a device failed: a bad pair-success, signature, HMAC or pairing code."""


class PairingCheckError(PairingError):
    """A pairing record failed a check; ``check`` names which (``hmac``, ``account-signature``…)."""

    def __init__(self, check: str, message: str) -> None:
        super().__init__(f"pairing check '{check}' failed: {message}")
        self.check = check


# --- command line ------------------------------------------------------------------------


class UsageError(WamdError):
    """A command-line argument or API argument is invalid."""
