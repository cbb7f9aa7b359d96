"""The :class:`Connection`: one linked (or linking) device talking to the server.

A connection runs one supervisor task. For each socket it reads frames in that task,
hands iq answers straight to whoever :meth:`~Connection.query` is waiting for them, and
queues every other node for a dispatcher task that runs the handler chosen from a table
keyed by (tag, type, first child). A keep-alive task pings and notices silence. When the
socket ends the supervisor decides, from the status code, whether to reconnect (with
backoff) or stop, and says so with events.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

from wamd._proto.message_pb2 import Message as MessageProto
from wamd.auth import AuthHandle, AuthState
from wamd.binary import S_WHATSAPP_NET, Node
from wamd.client import handlers as _handlers
from wamd.client import messaging as _messaging
from wamd.client.config import ClientConfig
from wamd.client.emitter import EventEmitter
from wamd.client.groups import Groups
from wamd.client.socket import NoiseSocket, open_noise_socket
from wamd.errors import (
    AuthStateError,
    CertificateError,
    ConnectionClosedError,
    ConnectionError_,
    HandshakeError,
    QueryError,
    TimeoutError_,
    WamdError,
)
from wamd.events import (
    CredsUpdate,
    Disconnected,
    DisconnectReason,
    Event,
    GroupMetadata,
    LoggedOut,
    RemoteSessionSaved,
    classify_disconnect,
)
from wamd.messages import text_message
from wamd.pairing import PayloadOptions, build_login_payload, build_registration_payload

__all__ = ["Connection"]

E = TypeVar("E", bound=Event)

_LOGGED_OUT_CODES = frozenset({401, 403})


class _SocketEnd(Exception):
    """Carried out of a served socket: why it ended."""

    def __init__(self, status: int, reason: str, *, stop: bool = False, immediate: bool = False):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.stop = stop
        self.immediate = immediate


class Connection:
    """A device's connection: events, requests, and its lifecycle (see :func:`wamd.connect`).

    Subscribe with :meth:`on` or iterate :meth:`events`; send with :meth:`send_node` and
    :meth:`query`; end with :meth:`close`. ``state`` is the auth state it runs on (its
    creds change as the device links and logs in; every change is announced with a
    :class:`~wamd.events.CredsUpdate`).
    """

    def __init__(self, state: AuthState | AuthHandle, config: ClientConfig) -> None:
        self.config = config
        self.log = config.logger or logging.getLogger("wamd.client")
        self._handle = state if isinstance(state, AuthHandle) else None
        self.state: AuthState = state.state if isinstance(state, AuthHandle) else state
        self._emitter = EventEmitter()
        if self._handle is not None:
            self._emitter.on(CredsUpdate, self._save_creds)
        self._remote_saved: str | None = None
        self._save_failed: AuthStateError | None = None
        self._sock: NoiseSocket | None = None
        self._waiters: dict[str, asyncio.Future[Node]] = {}
        self._ids: Iterator[str] = _new_ids()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._supervisor: asyncio.Task[None] | None = None
        self._end: _SocketEnd | None = None
        self._connected = asyncio.Event()
        self._stopped = asyncio.Event()
        self._closing = False
        self.stop_reason: DisconnectReason | None = None
        self.stop_status: int | None = None
        self.server_time_offset = 0.0
        self.linking = _handlers.LinkingState()
        self.link_unconfirmed = False
        self._messaging: _messaging.Messaging | None = None

    def __repr__(self) -> str:
        me = self.state.creds.me.id if self.state.creds.me else None
        state = (
            "stopped"
            if self._stopped.is_set()
            else "connected"
            if self._connected.is_set()
            else "connecting"
        )
        return f"<Connection {state} me={me!r}>"

    # -- public API --------------------------------------------------------------------

    def on(self, event_type: type[E], handler: Callable[[E], object]) -> Callable[[], None]:
        """Call ``handler`` (sync or async) for each event of ``event_type``.

        Handlers run in order and are awaited; one that raises is logged and never
        stops the connection. Returns a function that removes the handler.
        """
        return self._emitter.on(event_type, handler)

    def events(self) -> AsyncIterator[Event]:
        """Every event from now on; ends once the connection has stopped for good."""
        return self._emitter.events()

    @property
    def is_connected(self) -> bool:
        """True while logged in and ready."""
        return self._connected.is_set()

    @property
    def stopped(self) -> bool:
        """True once the connection has ended for good (closed, logged out, failed)."""
        return self._stopped.is_set()

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until logged in; raise :class:`~wamd.errors.ConnectionClosedError` if the
        connection stops first and :class:`~wamd.errors.TimeoutError_` after ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                while not self._connected.is_set():
                    if self._stopped.is_set():
                        raise ConnectionClosedError(
                            f"the connection stopped ({self._stop_text()}) before logging in",
                            self.stop_status,
                        )
                    waiters = [
                        asyncio.ensure_future(self._connected.wait()),
                        asyncio.ensure_future(self._stopped.wait()),
                    ]
                    try:
                        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        for w in waiters:
                            w.cancel()
                        await asyncio.gather(*waiters, return_exceptions=True)
        except TimeoutError:
            raise TimeoutError_(f"not connected within {timeout} s") from None

    async def wait_stopped(self, timeout: float | None = None) -> None:
        """Wait until the connection has ended for good."""
        try:
            async with asyncio.timeout(timeout):
                await self._stopped.wait()
        except TimeoutError:
            raise TimeoutError_(f"the connection did not stop within {timeout} s") from None

    async def send_node(self, node: Node) -> None:
        """Send one node as is; :class:`~wamd.errors.ConnectionClosedError` if offline."""
        sock = self._sock
        if sock is None:
            raise ConnectionClosedError("not connected")
        await sock.send(node)

    def next_id(self) -> str:
        """A fresh stanza id with this socket's prefix (``"12345.678-9"``)."""
        return next(self._ids)

    async def query(self, node: Node, timeout: float | None = None) -> Node:
        """Send an iq and return the server's answer.

        An ``id`` is added when missing. An answer with an ``<error>`` child raises
        :class:`~wamd.errors.QueryError` (with ``code`` and ``text``); no answer within
        ``timeout`` (default: the config's ``query_timeout``) raises
        :class:`~wamd.errors.TimeoutError_`; a socket that ends first raises
        :class:`~wamd.errors.ConnectionClosedError`.
        """
        iq_id = node.attrs.get("id") or self.next_id()
        node.attrs["id"] = iq_id
        future = self.expect_answer(iq_id)
        try:
            await self.send_node(node)
            async with asyncio.timeout(timeout or self.config.query_timeout):
                reply = await future
        except TimeoutError:
            raise TimeoutError_(
                f"no answer to iq {iq_id} (xmlns={node.attrs.get('xmlns')!r}) "
                f"within {timeout or self.config.query_timeout} s"
            ) from None
        finally:
            self.drop_answer(iq_id, future)
        error = reply.get_child("error")
        if reply.attrs.get("type") == "error" or error is not None:
            code_text = error.attrs.get("code") if error is not None else None
            text = error.attrs.get("text") if error is not None else None
            code = int(code_text) if code_text and code_text.isdigit() else None
            raise QueryError(
                f"the server refused iq {iq_id} (xmlns={node.attrs.get('xmlns')!r}): {code} {text}",
                code,
                text,
            )
        return reply

    async def send_text(self, chat: str, text: str) -> str:
        """Send the text ``text`` to ``chat`` (a user or group JID); returns the message id.

        Returns once the server acked the message; raises
        :class:`~wamd.errors.MessageRejectedError` (with the server's ``code``) if it
        refused it, :class:`~wamd.errors.TimeoutError_` if it did not answer.
        """
        return await self.messaging.send(chat, text_message(text))

    async def send_message(
        self, chat: str, message: MessageProto, *, message_id: str | None = None
    ) -> str:
        """Send a ``wamd._proto.message_pb2.Message`` to ``chat``; as :meth:`send_text`."""
        return await self.messaging.send(chat, message, message_id)

    async def mark_read(self, chat: str, ids: list[str], sender: str | None = None) -> None:
        """Tell ``chat`` the messages ``ids`` were read (``sender``: their author, in groups)."""
        now = int(self.clock() + self.server_time_offset)
        await self.send_node(_messaging.read_receipt(chat, ids, sender, now))

    @property
    def groups(self) -> Groups:
        """The linked device's groups: cached metadata, create, members, subject, leave."""
        return self.messaging.groups

    async def group_metadata(self, group: str, *, refresh: bool = False) -> GroupMetadata:
        """The metadata of ``group`` (cached; ``refresh`` asks the server again)."""
        return await self.messaging.groups.metadata(group, refresh=refresh)

    @property
    def messaging(self) -> _messaging.Messaging:
        """The messaging state (Signal repository, sender, receiver) of the linked device."""
        current = self._messaging
        if current is None or current.creds is not self.state.creds:
            current = self._messaging = _messaging.Messaging(self)
        return current

    def expect_answer(self, stanza_id: str) -> asyncio.Future[Node]:
        """A future the reader resolves with the ack or iq answer ``stanza_id`` gets.

        Failed with :class:`~wamd.errors.ConnectionClosedError` if the socket ends
        first; give it back with :meth:`drop_answer`.
        """
        future: asyncio.Future[Node] = asyncio.get_running_loop().create_future()
        self._waiters[stanza_id] = future
        return future

    def drop_answer(self, stanza_id: str, future: asyncio.Future[Node]) -> None:
        """Stop waiting for the answer :meth:`expect_answer` gave ``future`` for."""
        if self._waiters.get(stanza_id) is future:
            del self._waiters[stanza_id]
        if future.done() and not future.cancelled():
            # Failed by a close while its owner was still sending (not awaiting it): the
            # owner already has the close's error, so asyncio must not report this one.
            future.exception()

    async def close(self) -> None:
        """Close the connection for good; returns once no task or socket is left.

        Called from an event handler (which runs in one of the connection's own tasks),
        it starts the close and returns; the close finishes right after the handler.
        """
        current = asyncio.current_task()
        if current is not None and (current in self._tasks or current is self._supervisor):
            self._closing = True
            if self._sock is not None:
                self.end_socket(428, "closed by the application", stop=True)
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self.close()))
            return
        self._closing = True
        sock = self._sock
        if sock is not None:
            await sock.close()
        supervisor = self._supervisor
        if supervisor is not None and not supervisor.done():
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        await self._cancel_tasks()
        if not self._stopped.is_set():
            self._stopped.set()
        self._emitter.close()

    async def clear_auth_state(self) -> None:
        """Forget this device: fresh creds and no stored keys (after a logout).

        Announced with a :class:`~wamd.events.CredsUpdate` naming every field.
        """
        await _handlers.clear_auth_state(self)

    # -- internals used by the handler modules ------------------------------------------

    def clock(self) -> float:
        """The local wall clock, in Unix seconds."""
        return time.time()

    async def emit(self, event: Event) -> None:
        """Deliver ``event`` to handlers and iterators."""
        await self._emitter.emit(event)

    async def creds_changed(self, *names: str) -> None:
        """Announce that the creds fields ``names`` changed (awaits the handlers)."""
        await self.emit(CredsUpdate(frozenset(names), self.state.creds))
        failed, self._save_failed = self._save_failed, None
        if failed is not None:
            # Going on would tell the server about creds we could not keep (a link the
            # next start would not know): stop instead, and let the caller see why.
            self.end_socket(500, f"could not save the creds: {failed}", stop=True)
            raise failed
        if self._remote_saved is not None and self._handle is not None:
            kind, self._remote_saved = self._remote_saved, None
            client_id = str(getattr(self._handle.backend, "client_id", ""))
            await self.emit(RemoteSessionSaved(client_id, kind))

    async def _save_creds(self, event: CredsUpdate) -> None:
        """Persist the creds through the auth handle; note saves to a remote store."""
        assert self._handle is not None
        try:
            await self._handle.save_creds(event)
        except AuthStateError as exc:
            self._save_failed = exc
            raise
        except OSError as exc:
            self._save_failed = AuthStateError(f"saving the creds failed: {exc}")
            raise self._save_failed from exc
        # Remote backends (PostgreSQL, Redis) name themselves in ``remote_kind``.
        kind = getattr(self._handle.backend, "remote_kind", None)
        if isinstance(kind, str):
            self._remote_saved = kind

    def end_socket(
        self, status: int, reason: str, *, stop: bool = False, immediate: bool = False
    ) -> None:
        """End the current socket with ``status``; the supervisor decides what follows."""
        if self._end is None:
            self._end = _SocketEnd(status, reason, stop=stop, immediate=immediate)
        sock = self._sock
        if sock is not None:
            self.spawn(sock.close())

    def set_connected(self) -> None:
        """Mark the connection logged in (the login handler calls it)."""
        self._connected.set()

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run ``coro`` as a task owned by this connection (cancelled on close)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- connecting --------------------------------------------------------------------

    def _payload(self) -> bytes:
        creds = self.state.creds
        cfg = self.config
        options = PayloadOptions(
            browser=cfg.browser,
            version=cfg.version,
            sync_full_history=cfg.sync_full_history,
            country_code=cfg.country_code,
            push_name=cfg.push_name,
        )
        if _handlers.is_linked(creds) and creds.me is not None:
            user, device = _handlers.user_and_device(creds.me.id)
            return build_login_payload(user, device, options)
        spk = creds.signed_pre_key
        return build_registration_payload(
            registration_id=creds.registration_id,
            identity_pub=creds.signed_identity_key.public,
            signed_pre_key_id=spk.key_id,
            signed_pre_key_pub=spk.key_pair.public,
            signed_pre_key_signature=spk.signature,
            options=options,
        )

    async def _open(self) -> NoiseSocket:
        creds = self.state.creds
        sock = await open_noise_socket(
            self.config.url,
            noise_key=creds.noise_key,
            payload=self._payload(),
            root_key=self.config.server_root_key,
            routing_info=creds.routing_info,
            timeout=self.config.connect_timeout,
        )
        self._ids = _new_ids()
        self._end = None
        self.linking = _handlers.LinkingState(shown=self.linking.shown)
        return sock

    async def start(self) -> None:
        """Open the first socket (raising if that fails) and start the supervisor."""
        sock = await self._open()
        self._supervisor = asyncio.ensure_future(self._run(sock))

    async def _run(self, sock: NoiseSocket | None) -> None:
        attempt = 0
        try:
            while not self._closing:
                if sock is not None:
                    end = await self._serve(sock)
                    sock = None
                    if self._closing:
                        break
                    if self._connected.is_set():
                        attempt = 0
                    self._connected.clear()
                    if not await self._after_end(end):
                        return
                    if end.immediate:
                        sock = await self._try_open(attempt=0)
                        if sock is not None:
                            continue
                attempt += 1
                if self.config.reconnect.gives_up(attempt):
                    self.log.warning("giving up after %d reconnection attempts", attempt - 1)
                    self._stop(DisconnectReason.TIMED_OUT, 408)
                    await self.emit(Disconnected(DisconnectReason.TIMED_OUT, 408, False))
                    return
                delay = self.config.reconnect.delay(attempt)
                self.log.info("reconnecting in %.2f s (attempt %d)", delay, attempt)
                await asyncio.sleep(delay)
                sock = await self._try_open(attempt)
        finally:
            self._connected.clear()
            self._stopped.set()
            self._emitter.close()

    async def _try_open(self, attempt: int) -> NoiseSocket | None:
        try:
            return await self._open()
        except (CertificateError, HandshakeError) as exc:
            self.log.error("handshake refused: %s", exc)
            self._closing = True
            self._stop(DisconnectReason.BAD_SESSION, None)
            await self.emit(Disconnected(DisconnectReason.BAD_SESSION, None, False))
            return None
        except ConnectionError_ as exc:
            status = exc.status_code if isinstance(exc, ConnectionClosedError) else None
            reason, _ = classify_disconnect(status or 408)
            self.log.info("connection attempt %d failed: %s", attempt, exc)
            await self.emit(Disconnected(reason, status or 408, True))
            return None

    async def _after_end(self, end: _SocketEnd) -> bool:
        """Announce how a socket ended; True when the supervisor should reconnect."""
        if end.status == 401 and self.link_unconfirmed:
            # We linked on this connection, but the server never let the device log in:
            # the link did not complete (the socket dropped before its last step).
            self.link_unconfirmed = False
            await _handlers.forget_unconfirmed_link(self)
            end.immediate = True
            await self.emit(Disconnected(DisconnectReason.LOGGED_OUT, 401, True))
            return True
        reason, reconnect = classify_disconnect(end.status)
        if end.stop:
            reconnect = False
        if reconnect and not end.immediate and not self.config.reconnect.enabled:
            reconnect = False
        self.log.info("socket ended: %s (%d); reconnect=%s", end.reason, end.status, reconnect)
        if not reconnect:
            self._stop(reason, end.status)
        await self.emit(Disconnected(reason, end.status, reconnect))
        if end.status in _LOGGED_OUT_CODES and _handlers.is_linked(self.state.creds):
            await self.emit(LoggedOut(reason, end.status))
            if self.config.clear_on_logout:
                await self.clear_auth_state()
        return reconnect

    def _stop(self, reason: DisconnectReason, status: int | None) -> None:
        self.stop_reason, self.stop_status = reason, status

    def _stop_text(self) -> str:
        if self.stop_reason is None:
            return "closed"
        return f"{self.stop_reason.value}, {self.stop_status}"

    # -- serving one socket ------------------------------------------------------------

    async def _serve(self, sock: NoiseSocket) -> _SocketEnd:
        self._sock = sock
        queue: asyncio.Queue[Node | None] = asyncio.Queue()
        dispatcher = self.spawn(self._dispatch_loop(queue))
        keepalive = self.spawn(self._keepalive(sock))
        try:
            async for node in sock.nodes():
                if not self._resolve_waiter(node):
                    queue.put_nowait(node)
        except WamdError as exc:
            self.log.warning("bad frame from the server: %s", exc)
            self.end_socket(500, f"bad frame: {exc}")
        finally:
            # The socket is gone: requests in flight fail now, then the nodes already
            # received are still handled (a stream error among them says why it ended).
            self._sock = None
            self._fail_waiters()
            self.linking.cancel()
            queue.put_nowait(None)
            keepalive.cancel()
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(dispatcher), 5)
            dispatcher.cancel()
            await asyncio.gather(dispatcher, keepalive, return_exceptions=True)
            await sock.close()
            self.linking.cancel()
        if self._end is None:
            self._end = _SocketEnd(428, "the connection was closed")
        return self._end

    def _resolve_waiter(self, node: Node) -> bool:
        message_ack = node.tag == "ack" and node.attrs.get("class") == "message"
        if not message_ack and (
            node.tag not in ("iq", "ack") or node.attrs.get("type") not in ("result", "error")
        ):
            return False
        future = self._waiters.get(node.attrs.get("id", ""))
        if future is None or future.done():
            return False
        future.set_result(node)
        return True

    def _fail_waiters(self) -> None:
        for future in self._waiters.values():
            if not future.done():
                future.set_exception(ConnectionClosedError("the connection closed"))
        self._waiters.clear()

    async def _dispatch_loop(self, queue: asyncio.Queue[Node | None]) -> None:
        while (node := await queue.get()) is not None:
            handler = _handlers.find_handler(node)
            if handler is None:
                self.log.debug("no handler for <%s type=%s>", node.tag, node.attrs.get("type"))
                continue
            try:
                await handler(self, node)
            except ConnectionClosedError:
                self.log.debug("socket closed while handling <%s>", node.tag)
            except (WamdError, ValueError) as exc:
                self.log.warning("handling <%s> failed: %s", node.tag, exc)

    async def _keepalive(self, sock: NoiseSocket) -> None:
        interval = self.config.keepalive_interval
        limit = interval + self.config.keepalive_grace
        while True:
            await asyncio.sleep(interval)
            if time.monotonic() - sock.last_received > limit:
                self.log.info("no frame for %.1f s: connection lost", limit)
                self.end_socket(408, "keep-alive: the server went silent")
                return
            ping = Node(
                "iq",
                {"id": self.next_id(), "to": S_WHATSAPP_NET, "type": "get", "xmlns": "w:p"},
                [Node("ping")],
            )
            try:
                await sock.send(ping)
            except ConnectionClosedError:
                return

    async def _cancel_tasks(self) -> None:
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def _new_ids() -> Iterator[str]:
    raw = os.urandom(4)
    prefix = f"{int.from_bytes(raw[:2], 'big')}.{int.from_bytes(raw[2:], 'big')}-"
    return (f"{prefix}{n}" for n in itertools.count(1))
