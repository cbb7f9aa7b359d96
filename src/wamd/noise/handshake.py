"""The Noise XX handshake, both roles (protocol.md §1.4, fake-server.md §1.2).

Sans-IO: each step takes the payload of one received frame (as cut by a
:class:`~wamd.noise.framing.FrameReader`) and returns the bytes to send, framed and
ready for the websocket. The client (:class:`NoiseInitiator`)::

    hello = initiator.client_hello()                   # intro + ClientHello frame
    done = initiator.process_server_hello(frame, noise_key, payload, now=now)
    send(done.message); cipher = done.transport        # ClientFinish, then transport

The server (:class:`NoiseResponder`, used by :mod:`wamd.testing`) reads the intro with
``FrameReader(expect_intro=True)``, answers the ClientHello, and gets the client's static
key and ClientPayload from the ClientFinish. Any failure raises
:class:`~wamd.errors.HandshakeError` (a :class:`~wamd.errors.CertificateError` for the
certificate chain) and leaves the object failed; a connection starts a new one.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from wamd._proto import decode_proto
from wamd._proto.handshake_pb2 import HandshakeMessage
from wamd.crypto import KeyPair, generate_key_pair, shared_secret
from wamd.errors import CryptoError, HandshakeError, ProtoDecodeError
from wamd.noise.certificate import WA_ROOT_KEY, VerifiedChain, verify_cert_chain
from wamd.noise.framing import WA_HEADER, encode_frame, intro_header
from wamd.noise.symmetric import SymmetricState
from wamd.noise.transport import TransportCipher

__all__ = ["ClientFinished", "NoiseInitiator", "NoiseResponder", "ServerFinished"]

_KEY_SIZE = 32
_T = TypeVar("_T")


class _Step(enum.Enum):
    START = "start"
    HELLO_SENT = "hello sent"
    HELLO_ANSWERED = "hello answered"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ClientFinished:
    """The client's side of a completed handshake.

    ``message`` is the framed ClientFinish to send; ``transport`` encrypts and decrypts
    every frame after it. ``chain`` holds the verified certificate details, or None when
    verification was switched off.
    """

    message: bytes = field(repr=False)
    transport: TransportCipher
    server_static: bytes
    chain: VerifiedChain | None


@dataclass(frozen=True, slots=True)
class ServerFinished:
    """The server's side of a completed handshake.

    ``client_static`` is the client's long-term Noise public key, ``payload`` the
    serialized ClientPayload it sent (not yet parsed), ``transport`` the cipher for every
    frame after the handshake.
    """

    client_static: bytes
    payload: bytes = field(repr=False)
    transport: TransportCipher


class NoiseInitiator:
    """The client side of the WA Noise XX handshake.

    ``ephemeral`` (fresh per connection) is generated when not given. ``routing_info``
    is the server's ``edge_routing`` value, sent in the intro header if present.
    """

    __slots__ = ("_ephemeral", "_routing_info", "_state", "_step")

    def __init__(
        self, *, ephemeral: KeyPair | None = None, routing_info: bytes | None = None
    ) -> None:
        self._ephemeral = ephemeral if ephemeral is not None else generate_key_pair()
        self._routing_info = routing_info
        self._state = SymmetricState(WA_HEADER)
        self._step = _Step.START

    def __repr__(self) -> str:
        return f"NoiseInitiator(step={self._step.value!r})"

    def client_hello(self) -> bytes:
        """The first websocket message: the intro header and the ClientHello frame."""
        _expect(self._step, _Step.START, "client_hello")
        intro = intro_header(self._routing_info)
        hello = HandshakeMessage(
            clientHello=HandshakeMessage.ClientHello(ephemeral=self._ephemeral.public)
        )
        self._state.mix_hash(self._ephemeral.public)
        self._step = _Step.HELLO_SENT
        return intro + encode_frame(hello.SerializeToString())

    def process_server_hello(
        self,
        frame: bytes,
        static_key: KeyPair,
        payload: bytes,
        *,
        now: int,
        root_key: bytes = WA_ROOT_KEY,
        verify_chain: bool = True,
    ) -> ClientFinished:
        """Read the ServerHello frame; return the ClientFinish and the transport cipher.

        ``static_key`` is the device's long-term Noise key pair, ``payload`` the
        serialized ClientPayload (login or registration). The server's certificate chain
        is checked against ``root_key`` at ``now`` (unix seconds) unless
        ``verify_chain`` is False, which is only for talking to servers that cannot
        present a real chain.
        """
        _expect(self._step, _Step.HELLO_SENT, "process_server_hello")
        return _run_step(
            self,
            _Step.DONE,
            lambda: self._server_hello(
                frame, static_key, payload, now=now, root_key=root_key, verify_chain=verify_chain
            ),
        )

    def _server_hello(
        self,
        frame: bytes,
        static_key: KeyPair,
        payload: bytes,
        *,
        now: int,
        root_key: bytes,
        verify_chain: bool,
    ) -> ClientFinished:
        msg = _decode(frame, "ServerHello frame")
        if not msg.HasField("serverHello"):
            raise HandshakeError(f"expected a ServerHello, got {_which(msg)}")
        hello = msg.serverHello
        ephemeral = _field(
            hello.ephemeral, hello.HasField("ephemeral"), "ServerHello.ephemeral", key=True
        )
        static_ct = _field(hello.static, hello.HasField("static"), "ServerHello.static")
        chain_ct = _field(hello.payload, hello.HasField("payload"), "ServerHello.payload")
        state = self._state
        state.mix_hash(ephemeral)
        state.mix_key(_dh(self._ephemeral.private, ephemeral, "ephemeral-ephemeral"))
        server_static = _key(
            state.decrypt_and_hash(static_ct, "ServerHello.static"), "server static key"
        )
        state.mix_key(_dh(self._ephemeral.private, server_static, "ephemeral-static"))
        chain_bytes = state.decrypt_and_hash(chain_ct, "ServerHello.payload")
        chain = (
            verify_cert_chain(chain_bytes, server_static, now, root_key) if verify_chain else None
        )
        static_out = state.encrypt_and_hash(static_key.public)
        state.mix_key(_dh(static_key.private, ephemeral, "static-ephemeral"))
        payload_out = state.encrypt_and_hash(payload)
        finish = HandshakeMessage(
            clientFinish=HandshakeMessage.ClientFinish(static=static_out, payload=payload_out)
        )
        write_key, read_key = state.split()
        return ClientFinished(
            message=encode_frame(finish.SerializeToString()),
            transport=TransportCipher(write_key, read_key),
            server_static=server_static,
            chain=chain,
        )


class NoiseResponder:
    """The server side of the WA Noise XX handshake (the fake server's).

    ``static_key`` is the server's long-term Noise key pair; ``cert_chain`` the serialized
    ``CertChain`` whose leaf key is ``static_key.public`` (see
    :func:`~wamd.noise.certificate.make_cert_chain`). ``ephemeral`` is generated when
    not given. The intro header is not this class's business: read it with
    ``FrameReader(expect_intro=True)`` and pass the frames.
    """

    __slots__ = ("_chain", "_client_ephemeral", "_ephemeral", "_state", "_static", "_step")

    def __init__(
        self, static_key: KeyPair, cert_chain: bytes, *, ephemeral: KeyPair | None = None
    ) -> None:
        self._static = static_key
        self._chain = bytes(cert_chain)
        self._ephemeral = ephemeral if ephemeral is not None else generate_key_pair()
        self._client_ephemeral = b""
        self._state = SymmetricState(WA_HEADER)
        self._step = _Step.START

    def __repr__(self) -> str:
        return f"NoiseResponder(step={self._step.value!r})"

    def process_client_hello(self, frame: bytes) -> bytes:
        """Read the ClientHello frame; return the framed ServerHello to send."""
        _expect(self._step, _Step.START, "process_client_hello")
        return _run_step(self, _Step.HELLO_ANSWERED, lambda: self._client_hello(frame))

    def process_client_finish(self, frame: bytes) -> ServerFinished:
        """Read the ClientFinish frame; return the client's static key and payload."""
        _expect(self._step, _Step.HELLO_ANSWERED, "process_client_finish")
        return _run_step(self, _Step.DONE, lambda: self._client_finish(frame))

    def _client_hello(self, frame: bytes) -> bytes:
        msg = _decode(frame, "ClientHello frame")
        if not msg.HasField("clientHello"):
            raise HandshakeError(f"expected a ClientHello, got {_which(msg)}")
        hello = msg.clientHello
        client_eph = _field(
            hello.ephemeral, hello.HasField("ephemeral"), "ClientHello.ephemeral", key=True
        )
        state = self._state
        state.mix_hash(client_eph)
        state.mix_hash(self._ephemeral.public)
        state.mix_key(_dh(self._ephemeral.private, client_eph, "ephemeral-ephemeral"))
        static_ct = state.encrypt_and_hash(self._static.public)
        state.mix_key(_dh(self._static.private, client_eph, "static-ephemeral"))
        chain_ct = state.encrypt_and_hash(self._chain)
        self._client_ephemeral = client_eph
        reply = HandshakeMessage(
            serverHello=HandshakeMessage.ServerHello(
                ephemeral=self._ephemeral.public, static=static_ct, payload=chain_ct
            )
        )
        return encode_frame(reply.SerializeToString())

    def _client_finish(self, frame: bytes) -> ServerFinished:
        msg = _decode(frame, "ClientFinish frame")
        if not msg.HasField("clientFinish"):
            raise HandshakeError(f"expected a ClientFinish, got {_which(msg)}")
        finish = msg.clientFinish
        static_ct = _field(finish.static, finish.HasField("static"), "ClientFinish.static")
        payload_ct = _field(finish.payload, finish.HasField("payload"), "ClientFinish.payload")
        state = self._state
        client_static = _key(
            state.decrypt_and_hash(static_ct, "ClientFinish.static"), "client static key"
        )
        state.mix_key(_dh(self._ephemeral.private, client_static, "ephemeral-static"))
        payload = state.decrypt_and_hash(payload_ct, "ClientFinish.payload")
        client_write, server_write = state.split()
        return ServerFinished(
            client_static=client_static,
            payload=payload,
            transport=TransportCipher(server_write, client_write),
        )


def _expect(step: _Step, wanted: _Step, call: str) -> None:
    if step is not wanted:
        raise HandshakeError(f"{call}() called in handshake step '{step.value}'")


def _run_step(owner: NoiseInitiator | NoiseResponder, then: _Step, step: Callable[[], _T]) -> _T:
    """Run one handshake step: ``owner`` moves to ``then``, or to FAILED if ``step`` raises."""
    try:
        out = step()
    except BaseException:
        owner._step = _Step.FAILED
        raise
    owner._step = then
    return out


def _decode(frame: bytes, what: str) -> HandshakeMessage:
    try:
        return decode_proto(HandshakeMessage, bytes(frame), what)
    except ProtoDecodeError as exc:
        raise HandshakeError(str(exc)) from None


def _which(msg: HandshakeMessage) -> str:
    present = (
        ("clientHello", msg.HasField("clientHello")),
        ("serverHello", msg.HasField("serverHello")),
        ("clientFinish", msg.HasField("clientFinish")),
    )
    names = [name for name, has in present if has]
    return " and ".join(names) or "an empty HandshakeMessage"


def _field(value: bytes, present: bool, what: str, *, key: bool = False) -> bytes:
    """``value`` if the field is present (and, for a ``key``, 32 bytes long)."""
    if not present:
        raise HandshakeError(f"{what} is missing")
    return _key(value, what) if key else value


def _key(value: bytes, what: str) -> bytes:
    """``value`` if it is a 32-byte public key."""
    if len(value) != _KEY_SIZE:
        raise HandshakeError(f"{what} is {len(value)} bytes, expected {_KEY_SIZE}")
    return value


def _dh(private: bytes, public: bytes, what: str) -> bytes:
    try:
        return shared_secret(private, public)
    except CryptoError as exc:
        raise HandshakeError(f"{what} key agreement failed: {exc}") from None
