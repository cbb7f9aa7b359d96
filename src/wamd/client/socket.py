"""One encrypted connection to the chat server: websocket, intro, Noise handshake, frames.

:func:`open_noise_socket` dials the websocket (``Origin`` header, binary messages only),
sends the intro header and ClientHello, checks the server's certificate chain strictly
(root key injectable) and sends the ClientFinish carrying the ClientPayload. The
returned :class:`NoiseSocket` then encrypts outgoing nodes and yields decoded incoming
nodes in order. It knows nothing of iqs, pairing or login: the connection does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from wamd.binary import Node, decode_node, encode_node
from wamd.crypto import KeyPair
from wamd.errors import ConnectionClosedError, ConnectionError_, HandshakeError
from wamd.noise import FrameReader, NoiseInitiator, TransportCipher

__all__ = ["ORIGIN", "NoiseSocket", "open_noise_socket"]

log = logging.getLogger(__name__)

ORIGIN = "https://web.whatsapp.com"
"""The HTTP ``Origin`` header WhatsApp Web sends."""

_MAX_MESSAGE = 16 * 1024 * 1024


class NoiseSocket:
    """A websocket after the Noise handshake: send nodes, iterate received nodes.

    ``last_received`` is the monotonic time of the last frame read (for keep-alive).
    Closing is idempotent; :attr:`close_code` holds the websocket close code, if any.
    """

    __slots__ = ("_cipher", "_reader", "_send_lock", "_ws", "last_received")

    def __init__(self, ws: ClientConnection, cipher: TransportCipher, reader: FrameReader) -> None:
        self._ws = ws
        self._cipher = cipher
        self._reader = reader
        self._send_lock = asyncio.Lock()
        self.last_received = time.monotonic()

    def __repr__(self) -> str:
        return f"NoiseSocket(state={self._ws.state.name}, cipher={self._cipher!r})"

    @property
    def open(self) -> bool:
        """True while the websocket is open."""
        return self._ws.close_code is None and self._ws.state.name == "OPEN"

    @property
    def close_code(self) -> int | None:
        """The websocket close code once closed."""
        return self._ws.close_code

    async def send(self, node: Node) -> None:
        """Encode, encrypt and send one node; :class:`ConnectionClosedError` if closed."""
        data = encode_node(node)
        async with self._send_lock:
            frame = self._cipher.encrypt_frame(data)
            try:
                await self._ws.send(frame)
            except ConnectionClosed:
                raise ConnectionClosedError("the connection is closed") from None

    async def nodes(self) -> AsyncIterator[Node]:
        """Every received node, in order, until the socket closes.

        A frame that fails to decrypt or decode raises its :class:`~wamd.errors.WamdError`
        (the stream cannot continue after it).
        """
        try:
            async for message in self._ws:
                if isinstance(message, str):
                    log.warning("ignored a text websocket message (%d chars)", len(message))
                    continue
                self.last_received = time.monotonic()
                for frame in self._reader.feed(message):
                    yield decode_node(self._cipher.decrypt(frame))
        except ConnectionClosed:
            return

    async def close(self) -> None:
        """Close the websocket (bounded wait); safe to call twice."""
        with contextlib.suppress(ConnectionClosed, OSError, asyncio.TimeoutError):
            await asyncio.wait_for(self._ws.close(), 2)
        if self._ws.state.name != "CLOSED":
            self._ws.transport.abort()


async def open_noise_socket(
    url: str,
    *,
    noise_key: KeyPair,
    payload: bytes,
    root_key: bytes,
    routing_info: bytes | None = None,
    timeout: float = 20.0,
    verify_chain: bool = True,
    now: Callable[[], float] = time.time,
) -> NoiseSocket:
    """Dial ``url``, run the Noise handshake and send the ClientPayload ``payload``.

    The payload is encrypted and sent only after the server's certificate chain
    verified, so nothing about the device reaches a server that failed the check. Raises
    :class:`~wamd.errors.CertificateError` for a bad chain,
    :class:`~wamd.errors.HandshakeError` for other handshake failures and
    :class:`~wamd.errors.ConnectionError_` when the server cannot be reached or
    closes early; everything is bounded by ``timeout`` seconds.
    """
    try:
        async with asyncio.timeout(timeout):
            ws = await ws_connect(
                url,
                origin=ORIGIN,  # type: ignore[arg-type]
                compression=None,
                ping_interval=None,
                max_size=_MAX_MESSAGE,
                max_queue=4,
                open_timeout=timeout,
                close_timeout=2,
                user_agent_header=None,
            )
    except TimeoutError:
        raise ConnectionError_(f"could not connect to {url} within {timeout} s") from None
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise ConnectionClosedError(f"{url} refused the websocket: HTTP {status}", status) from None
    except (OSError, InvalidHandshake) as exc:
        raise ConnectionError_(f"could not connect to {url}: {exc}") from None
    try:
        async with asyncio.timeout(timeout):
            return await _handshake(
                ws, noise_key, payload, root_key, routing_info, verify_chain, now
            )
    except TimeoutError:
        await _abort(ws)
        raise ConnectionClosedError(
            f"the server did not finish the handshake within {timeout} s", 408
        ) from None
    except BaseException:
        await _abort(ws)
        raise


async def _handshake(  # noqa: PLR0917 - private, called once
    ws: ClientConnection,
    noise_key: KeyPair,
    payload: bytes,
    root_key: bytes,
    routing_info: bytes | None,
    verify_chain: bool,
    now: Callable[[], float],
) -> NoiseSocket:
    initiator = NoiseInitiator(routing_info=routing_info)
    reader = FrameReader()
    try:
        await ws.send(initiator.client_hello())
        frames: list[bytes] = []
        while not frames:
            message = await ws.recv()
            if isinstance(message, str):
                raise HandshakeError("the server sent a text message during the handshake")
            frames = reader.feed(message)
    except ConnectionClosed:
        raise ConnectionClosedError(
            "the server closed the connection during the Noise handshake", 428
        ) from None
    if len(frames) > 1:
        raise HandshakeError("the server sent more frames before the handshake finished")
    # The chain is verified inside process_server_hello before the payload is encrypted;
    # when it fails, nothing about the device has been sent.
    finished = initiator.process_server_hello(
        frames[0],
        noise_key,
        payload,
        now=int(now()),
        root_key=root_key,
        verify_chain=verify_chain,
    )
    try:
        await ws.send(finished.message)
    except ConnectionClosed:
        raise ConnectionClosedError(
            "the server closed the connection during the Noise handshake", 428
        ) from None
    return NoiseSocket(ws, finished.transport, reader)


async def _abort(ws: ClientConnection) -> None:
    with contextlib.suppress(ConnectionClosed, OSError, asyncio.TimeoutError):
        await asyncio.wait_for(ws.close(), 1)
    if ws.state.name != "CLOSED":
        ws.transport.abort()
