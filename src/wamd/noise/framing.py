"""The WA intro header and 3-byte length-prefixed framing (protocol.md §1.2–1.3).

The client sends the intro once, in front of its first frame: an optional edge-routing
block (``ED``, 0, 1, a 3-byte length, the routing info) and then the 4-byte WA header.
Every frame after that, in both directions, is a 3-byte big-endian length followed by
that many bytes. One websocket message may carry several frames or part of one, so the
receiving side keeps a buffer: :class:`FrameReader`.
"""

from __future__ import annotations

from wamd.errors import FrameError

__all__ = [
    "FRAME_HEADER_SIZE",
    "MAX_FRAME_SIZE",
    "ROUTING_PREFIX",
    "WA_HEADER",
    "FrameReader",
    "encode_frame",
    "intro_header",
]

WA_HEADER = b"WA\x06\x03"
"""``W``, ``A``, protocol version 6, dictionary version 3; also the Noise prologue."""

ROUTING_PREFIX = b"ED\x00\x01"
"""Start of the optional edge-routing block in front of the WA header."""

FRAME_HEADER_SIZE = 3
MAX_FRAME_SIZE = (1 << 24) - 1
"""The largest length a 3-byte frame header can state."""

_ROUTING_HEADER_SIZE = len(ROUTING_PREFIX) + FRAME_HEADER_SIZE


def intro_header(routing_info: bytes | None = None) -> bytes:
    """The bytes the client sends once before its first frame.

    With ``routing_info`` (the server's ``edge_routing`` bytes) the WA header is preceded
    by the ``ED`` block; only the WA header itself is part of the Noise prologue.
    """
    if not routing_info:
        return WA_HEADER
    if len(routing_info) > MAX_FRAME_SIZE:
        raise FrameError(
            f"routing info is {len(routing_info)} bytes; its 3-byte length field holds at "
            f"most {MAX_FRAME_SIZE}"
        )
    return b"".join(
        (ROUTING_PREFIX, len(routing_info).to_bytes(3, "big"), bytes(routing_info), WA_HEADER)
    )


def encode_frame(payload: bytes) -> bytes:
    """``payload`` with its 3-byte big-endian length in front."""
    size = len(payload)
    if size > MAX_FRAME_SIZE:
        raise FrameError(f"frame payload is {size} bytes; the limit is {MAX_FRAME_SIZE}")
    return size.to_bytes(3, "big") + bytes(payload)


class FrameReader:
    """Turns a stream of received bytes into whole frame payloads.

    :meth:`feed` accepts websocket messages however they were split or coalesced and
    returns the frames they complete, in order; a partial frame stays buffered until the
    rest arrives. With ``expect_intro=True`` (the server side) the stream must start
    with the intro header, which is checked and removed; :attr:`routing_info` then holds
    the routing bytes of an ``ED`` block, if the client sent one.

    A frame whose header states more than ``max_frame_size`` bytes, or a bad intro, raises
    :class:`~wamd.errors.FrameError` as soon as the header is seen, without waiting for
    (or buffering) the body; the buffer therefore never holds more than one partial
    frame (at most ``3 + max_frame_size`` bytes) between calls. Such a stream cannot be
    resynchronised, so after an error every later :meth:`feed` raises too.
    """

    __slots__ = ("_buf", "_error", "_intro_pending", "_max", "_routing_info")

    def __init__(self, *, expect_intro: bool = False, max_frame_size: int = MAX_FRAME_SIZE):
        if not 0 <= max_frame_size <= MAX_FRAME_SIZE:
            raise FrameError(f"max_frame_size must be 0..{MAX_FRAME_SIZE}, got {max_frame_size}")
        self._buf = bytearray()
        self._max = max_frame_size
        self._intro_pending = expect_intro
        self._routing_info: bytes | None = None
        self._error: str | None = None

    def __repr__(self) -> str:
        state = "failed" if self._error else "intro" if self._intro_pending else "frames"
        return f"FrameReader(state={state}, buffered={len(self._buf)})"

    @property
    def buffered(self) -> int:
        """How many received bytes wait for the rest of their frame."""
        return len(self._buf)

    @property
    def routing_info(self) -> bytes | None:
        """The routing info of the client's ``ED`` block, once the intro has been read."""
        return self._routing_info

    @property
    def intro_pending(self) -> bool:
        """True while an expected intro header has not been read completely."""
        return self._intro_pending

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes; return the payloads of every frame now complete."""
        if self._error is not None:
            raise FrameError(f"frame stream already failed ({self._error}); close the connection")
        try:
            return self._feed(data)
        except FrameError as exc:
            self._error = str(exc)
            self._buf.clear()
            raise

    def _feed(self, data: bytes) -> list[bytes]:
        buf = self._buf
        buf += data
        if self._intro_pending and not self._read_intro():
            return []
        frames: list[bytes] = []
        pos = 0
        end = len(buf)
        limit = self._max
        while end - pos >= FRAME_HEADER_SIZE:
            size = (buf[pos] << 16) | (buf[pos + 1] << 8) | buf[pos + 2]
            if size > limit:
                raise FrameError(
                    f"incoming frame at stream offset +{pos} states {size} bytes; "
                    f"the limit is {limit}"
                )
            stop = pos + FRAME_HEADER_SIZE + size
            if stop > end:
                break
            frames.append(bytes(buf[pos + FRAME_HEADER_SIZE : stop]))
            pos = stop
        if pos:
            del buf[:pos]
        return frames

    def _read_intro(self) -> bool:
        """Consume the intro from the buffer; False if more bytes are needed."""
        buf = self._buf
        head = bytes(buf[: len(WA_HEADER)])
        if WA_HEADER.startswith(head):
            if len(head) < len(WA_HEADER):
                return False
            del buf[: len(WA_HEADER)]
            self._intro_pending = False
            return True
        if not ROUTING_PREFIX.startswith(head):
            raise FrameError(
                f"stream does not start with the WA intro: got {head.hex()}, expected "
                f"{WA_HEADER.hex()} or an edge-routing block {ROUTING_PREFIX.hex()}"
            )
        if len(buf) < _ROUTING_HEADER_SIZE:
            return False
        size = int.from_bytes(buf[len(ROUTING_PREFIX) : _ROUTING_HEADER_SIZE], "big")
        if size > self._max:
            raise FrameError(f"intro routing info states {size} bytes; the limit is {self._max}")
        header_at = _ROUTING_HEADER_SIZE + size
        if len(buf) < header_at + len(WA_HEADER):
            return False
        header = bytes(buf[header_at : header_at + len(WA_HEADER)])
        if header != WA_HEADER:
            raise FrameError(
                f"WA header after the {size}-byte routing info is {header.hex()}, "
                f"expected {WA_HEADER.hex()}"
            )
        self._routing_info = bytes(buf[_ROUTING_HEADER_SIZE:header_at])
        del buf[: header_at + len(WA_HEADER)]
        self._intro_pending = False
        return True
