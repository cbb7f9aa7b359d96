"""The transport cipher used after the Noise handshake (protocol.md §1.6)."""

from __future__ import annotations

from wamd.crypto import aes_gcm_decrypt, aes_gcm_encrypt
from wamd.errors import CryptoError, FrameError
from wamd.noise.framing import MAX_FRAME_SIZE, encode_frame

__all__ = ["MAX_COUNTER", "TransportCipher", "nonce"]

MAX_COUNTER = (1 << 32) - 1
"""The last counter value a 4-byte IV field can carry; no frame is sent past it."""

_TAG_SIZE = 16
_ZERO_PREFIX = bytes(8)


def nonce(counter: int) -> bytes:
    """The 12-byte AES-GCM IV for ``counter``: 8 zero bytes, then the counter as BE32."""
    return _ZERO_PREFIX + counter.to_bytes(4, "big")


class TransportCipher:
    """AES-256-GCM for frames after the handshake, one key and counter per direction.

    Each direction counts frames from 0; frame ``n`` uses IV :func:`nonce` ``(n)`` and no
    associated data. :meth:`encrypt` and :meth:`decrypt` each advance their own counter
    by one on success.

    A frame that fails to decrypt (wrong key, tampered, truncated, or one frame lost or
    reordered) raises :class:`~wamd.errors.FrameError` and leaves the read counter where
    it was. Since the peer's counter has moved on, no later frame could decrypt either,
    so the cipher marks itself failed: every further :meth:`decrypt` raises
    ``FrameError`` at once and the connection must be closed. Sending stays possible
    (for example to close politely). Counters never wrap: once 2**32 frames went one way
    that direction refuses to continue, because reusing an IV would break AES-GCM.
    """

    __slots__ = ("_read_counter", "_read_failed", "_read_key", "_write_counter", "_write_key")

    def __init__(self, write_key: bytes, read_key: bytes) -> None:
        for name, key in (("write", write_key), ("read", read_key)):
            if len(key) != 32:
                raise FrameError(f"transport {name} key must be 32 bytes, got {len(key)}")
        self._write_key = bytes(write_key)
        self._read_key = bytes(read_key)
        self._write_counter = 0
        self._read_counter = 0
        self._read_failed = False

    def __repr__(self) -> str:
        state = ", read failed" if self._read_failed else ""
        return (
            f"TransportCipher(write_counter={self._write_counter}, "
            f"read_counter={self._read_counter}{state})"
        )

    @property
    def write_counter(self) -> int:
        """The counter the next :meth:`encrypt` will use."""
        return self._write_counter

    @property
    def read_counter(self) -> int:
        """The counter the next :meth:`decrypt` will use."""
        return self._read_counter

    @property
    def read_failed(self) -> bool:
        """True once a frame failed to decrypt; the read direction is then dead."""
        return self._read_failed

    def encrypt(self, plaintext: bytes) -> bytes:
        """Encrypt one outgoing frame payload (ciphertext followed by the 16-byte tag)."""
        if len(plaintext) + _TAG_SIZE > MAX_FRAME_SIZE:
            raise FrameError(
                f"plaintext of {len(plaintext)} bytes does not fit in one frame "
                f"(at most {MAX_FRAME_SIZE - _TAG_SIZE})"
            )
        counter = self._write_counter
        if counter > MAX_COUNTER:
            raise FrameError("write counter exhausted (2**32 frames); reconnect for new keys")
        out = aes_gcm_encrypt(self._write_key, nonce(counter), bytes(plaintext))
        self._write_counter = counter + 1
        return out

    def encrypt_frame(self, plaintext: bytes) -> bytes:
        """Encrypt one outgoing frame payload and add the 3-byte length header."""
        return encode_frame(self.encrypt(plaintext))

    def decrypt(self, frame: bytes) -> bytes:
        """Decrypt one incoming frame payload (as cut by a FrameReader)."""
        if self._read_failed:
            raise FrameError(
                "an earlier frame failed to decrypt; the read counter is out of step, "
                "close the connection"
            )
        counter = self._read_counter
        if counter > MAX_COUNTER:
            raise FrameError("read counter exhausted (2**32 frames); reconnect for new keys")
        try:
            out = aes_gcm_decrypt(self._read_key, nonce(counter), bytes(frame))
        except CryptoError as exc:
            self._read_failed = True
            raise FrameError(
                f"incoming frame #{counter} ({len(frame)} bytes) failed to decrypt: {exc}"
            ) from None
        self._read_counter = counter + 1
        return out
