"""The Noise transport: WA intro header, framing, XX handshake (both roles), certificates.

Sans-IO: bytes in, bytes and values out; the caller owns the websocket and the clock.

- :mod:`~wamd.noise.framing`: :func:`intro_header`, :func:`encode_frame`,
  :class:`FrameReader` (split and coalesced websocket messages in, whole frames out).
- :mod:`~wamd.noise.handshake`: :class:`NoiseInitiator` (the client) and
  :class:`NoiseResponder` (the fake server).
- :mod:`~wamd.noise.transport`: :class:`TransportCipher`, used after the handshake.
- :mod:`~wamd.noise.certificate`: :func:`verify_cert_chain` (strict) and
  :func:`make_cert_chain` (test chains from a test root).
"""

from wamd.noise.certificate import (
    CHECKS,
    DEFAULT_VALIDITY,
    ROOT_SERIAL,
    WA_ROOT_KEY,
    CertDetails,
    IssuedChain,
    VerifiedChain,
    make_cert_chain,
    verify_cert_chain,
)
from wamd.noise.framing import (
    FRAME_HEADER_SIZE,
    MAX_FRAME_SIZE,
    ROUTING_PREFIX,
    WA_HEADER,
    FrameReader,
    encode_frame,
    intro_header,
)
from wamd.noise.handshake import ClientFinished, NoiseInitiator, NoiseResponder, ServerFinished
from wamd.noise.symmetric import PROTOCOL_NAME, SymmetricState
from wamd.noise.transport import MAX_COUNTER, TransportCipher, nonce

__all__ = [
    "CHECKS",
    "DEFAULT_VALIDITY",
    "FRAME_HEADER_SIZE",
    "MAX_COUNTER",
    "MAX_FRAME_SIZE",
    "PROTOCOL_NAME",
    "ROOT_SERIAL",
    "ROUTING_PREFIX",
    "WA_HEADER",
    "WA_ROOT_KEY",
    "CertDetails",
    "ClientFinished",
    "FrameReader",
    "IssuedChain",
    "NoiseInitiator",
    "NoiseResponder",
    "ServerFinished",
    "SymmetricState",
    "TransportCipher",
    "VerifiedChain",
    "encode_frame",
    "intro_header",
    "make_cert_chain",
    "nonce",
    "verify_cert_chain",
]
