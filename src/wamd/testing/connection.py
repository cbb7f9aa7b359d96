"""One client connection of the fake server: handshake, then stanzas in and out.

A :class:`FakeConnection` owns one websocket. Its reader feeds every frame through a
small state machine (intro and ClientHello, ClientFinish, then transport frames) and
never waits for the client: answers are sent right away, and anything that must wait
(the close after a stream error) runs as a task of the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from wamd._proto import decode_proto
from wamd._proto.client_payload_pb2 import ClientPayload
from wamd.binary import S_WHATSAPP_NET, Node, decode_node, encode_node
from wamd.errors import PairingError, ProtoDecodeError, WamdError
from wamd.noise import FrameReader, NoiseResponder, TransportCipher
from wamd.pairing import LoginPayload, RegistrationPayload, parse_client_payload
from wamd.testing.faults import Step
from wamd.testing.offline import acknowledge
from wamd.testing.records import HandshakeFailure, IqError, TranscriptEntry

if TYPE_CHECKING:
    from wamd.testing.linking import PendingLink
    from wamd.testing.offline import OfflineDelivery
    from wamd.testing.server import FakeServer
    from wamd.testing.state import Account, Device

__all__ = ["SERVER_JID", "FakeConnection", "Phase", "error_reply", "result"]

log = logging.getLogger(__name__)

SERVER_JID = S_WHATSAPP_NET
"""The server's JID as written in ``from`` attributes (a JID with an empty user)."""

CLOSE_DELAY = 0.15
"""Seconds between a stream end and closing the socket (lets the client read it)."""


class Phase(enum.Enum):
    """Where a connection is."""

    HANDSHAKE = "handshake"
    REGISTERING = "registering"
    LOGGED_IN = "logged-in"
    CLOSED = "closed"


def result(request: Node, content: list[Node] | None = None) -> Node:
    """The ``type="result"`` answer to ``request``."""
    return Node(
        "iq", {"from": SERVER_JID, "type": "result", "id": request.attrs.get("id", "")}, content
    )


def error_reply(request: Node, code: int, text: str) -> Node:
    """The ``type="error"`` answer to ``request`` with ``<error code text>``."""
    attrs = {"from": SERVER_JID, "type": "error", "id": request.attrs.get("id", "")}
    return Node("iq", attrs, [Node("error", {"code": str(code), "text": text})])


class FakeConnection:
    """The server side of one websocket: Noise responder, then stanza dispatch.

    ``transcript`` holds every stanza in and out (unless the server's
    ``record_transcripts`` is off); ``phase`` says where the connection
    is; after login ``account`` and ``device_id`` name the device; during registration
    ``registration`` holds the keys the client offered and ``refs`` the QR refs sent.
    Setting ``ignore_input`` makes the reader stop at the next frame (for drops).
    """

    def __init__(self, server: FakeServer, ws: ServerConnection, connection_id: int) -> None:
        self.server = server
        self.id = connection_id
        self.phase = Phase.HANDSHAKE
        self.transcript: list[TranscriptEntry] = []
        self.client_static: bytes | None = None
        self.registration: RegistrationPayload | None = None
        self.login: LoginPayload | None = None
        self.account: Account | None = None
        self.device_id: int | None = None
        self.refs: list[str] = []
        self.link: PendingLink | None = None
        self.offline: OfflineDelivery | None = None
        self.routing_info: bytes | None = None
        self.closed = asyncio.Event()
        self.ignore_input = False
        self._ws = ws
        self._reader = FrameReader(expect_intro=True)
        chain = server.cert_chain()
        self._responder: NoiseResponder | None = NoiseResponder(server.static_key, chain)
        self._handshake_step = 0
        self._cipher: TransportCipher | None = None
        self._send_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pending: dict[str, str] = {}
        self._current: Node | None = None

    def __repr__(self) -> str:
        who = f", device={self.jid}" if self.device_id is not None else ""
        return f"FakeConnection(id={self.id}, phase={self.phase.value}{who})"

    @property
    def jid(self) -> str | None:
        """The logged-in device's phone-number JID, or None."""
        if self.account is None or self.device_id is None:
            return None
        return self.account.pn_jid(self.device_id)

    # -- reading -----------------------------------------------------------------------

    async def run(self) -> None:
        """Serve this connection until the client or the server closes it."""
        self.spawn(self._handshake_deadline(self.server.handshake_timeout))
        try:
            async for message in self._ws:
                if isinstance(message, str):
                    self._handshake_failed("intro", "text websocket message")
                    break
                if not await self._feed(message):
                    break
        except ConnectionClosed:
            pass
        finally:
            await self._finish()

    async def _handshake_deadline(self, timeout: float) -> None:
        await asyncio.sleep(timeout)
        if self._cipher is None and not self.is_closed():
            self._handshake_failed("timeout", f"no complete handshake within {timeout} s")
            await self.close()

    async def _feed(self, message: bytes) -> bool:
        stage = "intro" if self._reader.intro_pending else "frame"
        try:
            frames = self._reader.feed(message)
        except WamdError as exc:
            if self._cipher is None:
                self._handshake_failed(stage, str(exc))
            else:
                self._handshake_failed("transport", str(exc))
            return False
        if self._reader.routing_info is not None:
            self.routing_info = self._reader.routing_info
        for frame in frames:
            if not await self._on_frame(frame):
                return False
        return True

    async def _on_frame(self, frame: bytes) -> bool:
        if self._cipher is not None:
            return await self._on_transport_frame(frame, self._cipher)
        responder = self._responder
        assert responder is not None
        faults = self.server.faults
        if self._handshake_step == 0:
            if faults.take_drop(Step.CLIENT_HELLO):
                return False
            try:
                hello = responder.process_client_hello(frame)
            except WamdError as exc:
                self._handshake_failed("client-hello", str(exc))
                return False
            self._handshake_step = 1
            await self._ws.send(hello)
            return not faults.take_drop(Step.SERVER_HELLO)
        try:
            finished = responder.process_client_finish(frame)
        except WamdError as exc:
            self._handshake_failed("client-finish", str(exc))
            return False
        self._responder = None
        self._cipher = finished.transport
        self.client_static = finished.client_static
        try:
            decode_proto(ClientPayload, finished.payload, "client payload")
        except ProtoDecodeError as exc:
            self._handshake_failed("payload", str(exc))
            return False
        if faults.take_drop(Step.HANDSHAKE):
            return False
        try:
            payload = parse_client_payload(finished.payload)
        except PairingError as exc:
            self._handshake_failed("payload", str(exc))
            await self.end_stream(Node("failure", {"reason": "400", "location": "fake"}))
            return True
        if isinstance(payload, RegistrationPayload):
            return await self.server.linking.on_registration(self, payload)
        return await self.server.on_login(self, payload)

    async def _on_transport_frame(self, frame: bytes, cipher: TransportCipher) -> bool:
        if self.ignore_input or self.phase is Phase.CLOSED:
            return False
        try:
            node = decode_node(cipher.decrypt(frame))
        except WamdError as exc:
            self._handshake_failed("transport", str(exc))
            return False
        if self.server.record_transcripts:
            self.transcript.append(TranscriptEntry("in", node))
        self.server.notify()
        self._current = node
        try:
            await self._dispatch(node)
        except WamdError as exc:
            log.warning("connection %d: bad %s stanza: %s", self.id, node.tag, exc)
        finally:
            self._current = None
        return not self.is_closed()

    async def _dispatch(self, node: Node) -> None:
        if node.tag == "iq":
            await self._on_iq(node)
        elif node.tag in ("ack", "receipt"):
            device = self._device()
            if device is not None and acknowledge(device, node.attrs.get("id", "")):
                self.server.notify()
            if node.tag == "receipt" and self.phase is Phase.LOGGED_IN:
                await self.server.messaging.on_receipt(self, node)
        elif node.tag == "message" and self.phase is Phase.LOGGED_IN:
            await self.server.messaging.on_message(self, node)
        elif node.tag == "ib":
            batch = node.get_child("offline_batch")
            if batch is not None and self.offline is not None:
                count = batch.attrs.get("count", "100")
                await self.offline.on_batch_request(int(count) if count.isdigit() else 100)
        elif node.tag == "presence":
            name = node.attrs.get("name")
            if name and self.account is not None and node.attrs.get("type") == "available":
                self.account.push_name = name
            if self.phase is Phase.LOGGED_IN:
                await self.server.presence.on_presence(self, node)
        elif node.tag == "chatstate" and self.phase is Phase.LOGGED_IN:
            await self.server.presence.on_chatstate(self, node)

    async def _on_iq(self, node: Node) -> None:
        kind = node.attrs.get("type")
        iq_id = node.attrs.get("id", "")
        if kind in ("result", "error"):
            what = self._pending.pop(iq_id, None)
            if what == "pair-success":
                await self.server.linking.on_pair_reply(self, node)
            return
        faults = self.server.faults
        xmlns = node.attrs.get("xmlns", "")
        if faults.silent or xmlns in faults.unanswered:
            return
        if xmlns == "w:p":
            if faults.answer_pings:
                await self.send(result(node))
            return
        reply: Node | None = None
        if self.phase is Phase.REGISTERING:
            if await self.server.linking.on_iq(self, node):
                return
        elif self.phase is Phase.LOGGED_IN:
            reply = self.server.handlers.handle(self, node)
        else:
            return
        if reply is None:
            reply = error_reply(node, 501, "feature-not-implemented")
        await self.send(reply)

    # -- writing -----------------------------------------------------------------------

    async def send(self, node: Node) -> bool:
        """Encrypt and send one stanza; False when the connection is already closed."""
        cipher = self._cipher
        if cipher is None or self.phase is Phase.CLOSED:
            return False
        async with self._send_lock:
            data = cipher.encrypt_frame(encode_node(node))
            if self.server.record_transcripts:
                self.transcript.append(TranscriptEntry("out", node))
            if node.tag == "iq" and node.attrs.get("type") == "error":
                self._record_error(node)
            try:
                await self._ws.send(data)
            except ConnectionClosed:
                return False
        self.server.notify()
        return True

    async def query(self, node: Node, what: str) -> None:
        """Send a server iq whose answer the reader will route to ``what``."""
        self._pending[node.attrs["id"]] = what
        await self.send(node)

    def _record_error(self, reply: Node) -> None:
        current = self._current
        same = current is not None and current.attrs.get("id") == reply.attrs.get("id")
        request = current if same and current is not None else reply
        error = reply.get_child("error")
        code = int(error.attrs.get("code", "0")) if error is not None else 0
        self.server.iq_errors.append(
            IqError(self.id, request.attrs.get("xmlns", ""), code, request)
        )
        if code == 501:
            self.server.unknown_iqs.append(request)

    async def end_stream(self, node: Node | None, delay: float = CLOSE_DELAY) -> None:
        """Send ``node`` (a stream error, failure, xmlstreamend; None: nothing), then close."""
        if node is not None:
            await self.send(node)
        self.spawn(self._close_later(delay))

    async def _close_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        await self.close()

    async def close(self) -> None:
        """Close the websocket now (no stanza); the reader then winds the connection up."""
        self._mark_closed()
        with contextlib.suppress(ConnectionClosed, OSError, TimeoutError):
            await asyncio.wait_for(self._ws.close(), 2)

    async def wait_closed(self, timeout: float = 5.0) -> None:
        """Wait until the connection has ended and its tasks are gone."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closed.wait(), timeout)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` as a task of this connection (cancelled when it ends)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- bookkeeping -------------------------------------------------------------------

    def _device(self) -> Device | None:
        if self.account is None or self.device_id is None:
            return None
        return self.account.devices.get(self.device_id)

    def is_closed(self) -> bool:
        """True once the connection is closed or closing."""
        return self.phase is Phase.CLOSED

    def now(self) -> int:
        """Server time, Unix seconds."""
        return int(time.time())

    def _handshake_failed(self, stage: str, reason: str) -> None:
        self.server.handshake_failures.append(HandshakeFailure(self.id, stage, reason))
        log.info("connection %d: %s failed: %s", self.id, stage, reason)
        self.server.notify()

    def _mark_closed(self) -> None:
        if self.phase is not Phase.CLOSED:
            self.phase = Phase.CLOSED
            self.server.on_closed(self)

    async def _finish(self) -> None:
        self._mark_closed()
        with contextlib.suppress(ConnectionClosed, OSError, TimeoutError):
            await asyncio.wait_for(self._ws.close(), 2)
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2)
        self.closed.set()
        self.server.notify()
