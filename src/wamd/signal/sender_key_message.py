"""The two sender-key wire messages: ``skmsg`` and the sender key distribution message.

- :class:`SenderKeyMessage` (an ``<enc type="skmsg">`` body): ``0x33 || proto{id,
  iteration, ciphertext} || signature``, the 64-byte XEdDSA signature by the sender's
  signing key over everything before it.
- :class:`SenderKeyDistributionMessage` (the inner axolotl bytes WhatsApp wraps in
  ``Message.senderKeyDistributionMessage``): ``0x33 || proto{id, iteration, chainKey,
  signingKey}``.

protocol.md §6.6 has the facts. Parsing checks the version byte, the lengths and the
protobuf; it does not check the signature (that needs the sender's state, see
:mod:`wamd.signal.group`).
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError

from wamd._proto import signal_pb2
from wamd.crypto import prefixed, sign, unprefixed
from wamd.errors import InvalidKeyError, InvalidMessageError, InvalidVersionError

__all__ = [
    "SIGNATURE_LEN",
    "VERSION_BYTE",
    "SenderKeyDistributionMessage",
    "SenderKeyMessage",
]

VERSION_BYTE = 0x33
"""Message version 3 in both nibbles, as libsignal writes it."""

SIGNATURE_LEN = 64
_CHAIN_KEY_LEN = 32


def _check_version(data: bytes, what: str) -> None:
    if not data:
        raise InvalidMessageError(f"{what} is empty")
    if data[0] >> 4 != 3:
        raise InvalidVersionError(
            f"{what} has version {data[0] >> 4} (byte 0x{data[0]:02x}); only 3 is spoken"
        )


@dataclass(frozen=True, slots=True)
class SenderKeyMessage:
    """A parsed or built ``skmsg``: key id, iteration, ciphertext, and the signed bytes."""

    key_id: int
    iteration: int
    ciphertext: bytes
    signed: bytes
    """The bytes the signature covers (version byte and protobuf)."""
    signature: bytes

    def __repr__(self) -> str:
        return (
            f"SenderKeyMessage(key_id={self.key_id}, iteration={self.iteration}, "
            f"ciphertext={len(self.ciphertext)} bytes)"
        )

    @classmethod
    def build(
        cls,
        key_id: int,
        iteration: int,
        ciphertext: bytes,
        signing_private: bytes,
        nonce: bytes | None = None,
    ) -> SenderKeyMessage:
        """Make and sign a message with the sender's 32-byte signing private key.

        ``nonce`` is the 64 random bytes of the XEdDSA signature (fresh if omitted).
        """
        body = signal_pb2.SenderKeyMessage(id=key_id, iteration=iteration, ciphertext=ciphertext)
        signed = bytes((VERSION_BYTE,)) + body.SerializeToString()
        return cls(key_id, iteration, ciphertext, signed, sign(signing_private, signed, nonce))

    def serialize(self) -> bytes:
        """The wire bytes."""
        return self.signed + self.signature

    @classmethod
    def parse(cls, data: bytes) -> SenderKeyMessage:
        """Parse wire bytes; raises :class:`InvalidMessageError` (or its subclasses)."""
        data = bytes(data)
        _check_version(data, "sender key message")
        if len(data) < 1 + SIGNATURE_LEN + 1:
            raise InvalidMessageError(
                f"sender key message is truncated: {len(data)} bytes, "
                f"needs a version byte, a body and a {SIGNATURE_LEN}-byte signature"
            )
        signed, signature = data[:-SIGNATURE_LEN], data[-SIGNATURE_LEN:]
        body = signal_pb2.SenderKeyMessage()
        try:
            body.ParseFromString(signed[1:])
        except DecodeError as exc:
            raise InvalidMessageError(
                f"sender key message body ({len(signed) - 1} bytes) is not a valid protobuf"
            ) from exc
        if not body.HasField("ciphertext"):
            raise InvalidMessageError("sender key message has no ciphertext field")
        return cls(body.id, body.iteration, body.ciphertext, signed, signature)


@dataclass(frozen=True, slots=True)
class SenderKeyDistributionMessage:
    """A sender key as it is handed out: key id, iteration, chain key, signing public key.

    ``signing_key`` is kept in libsignal's 33-byte form (0x05 prefix).
    """

    key_id: int
    iteration: int
    chain_key: bytes
    signing_key: bytes

    def __post_init__(self) -> None:
        if len(self.chain_key) != _CHAIN_KEY_LEN:
            raise InvalidMessageError(
                f"sender key distribution message: chain key is {len(self.chain_key)} bytes, "
                f"expected {_CHAIN_KEY_LEN}"
            )
        try:
            object.__setattr__(self, "signing_key", prefixed(unprefixed(self.signing_key)))
        except InvalidKeyError as exc:
            raise InvalidMessageError(
                f"sender key distribution message: bad signing key ({exc})"
            ) from exc

    def __repr__(self) -> str:
        return (
            f"SenderKeyDistributionMessage(key_id={self.key_id}, iteration={self.iteration}, "
            f"signing_key={self.signing_key.hex()}, chain_key=<hidden>)"
        )

    def serialize(self) -> bytes:
        """The wire bytes (version byte and protobuf)."""
        body = signal_pb2.SenderKeyDistributionMessage(
            id=self.key_id,
            iteration=self.iteration,
            chainKey=self.chain_key,
            signingKey=self.signing_key,
        )
        return bytes((VERSION_BYTE,)) + body.SerializeToString()

    @classmethod
    def parse(cls, data: bytes) -> SenderKeyDistributionMessage:
        """Parse wire bytes; raises :class:`InvalidMessageError` (or its subclasses)."""
        data = bytes(data)
        _check_version(data, "sender key distribution message")
        body = signal_pb2.SenderKeyDistributionMessage()
        try:
            body.ParseFromString(data[1:])
        except DecodeError as exc:
            raise InvalidMessageError(
                f"sender key distribution message body ({len(data) - 1} bytes) "
                "is not a valid protobuf"
            ) from exc
        # id and iteration may be left out when zero (proto3 writers do that).
        for name in ("chainKey", "signingKey"):
            if not body.HasField(name):
                raise InvalidMessageError(f"sender key distribution message has no {name} field")
        return cls(body.id, body.iteration, body.chainKey, body.signingKey)
