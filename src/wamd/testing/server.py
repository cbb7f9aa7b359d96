"""FakeServer: a local WhatsApp chat server for tests, on 127.0.0.1.

It speaks the real protocol from the server side (fake-server.md): the intro and Noise
responder with a certificate chain from a test root, registration (QR refs, pairing
code) or login, pre-keys and the other first-second iqs, stream errors, and faults on
demand. Real Baileys clients pair and log in through it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from http import HTTPStatus
from types import TracebackType
from typing import TYPE_CHECKING

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from wamd.binary import Node
from wamd.crypto import KeyPair, generate_key_pair
from wamd.errors import TimeoutError_
from wamd.pairing import LoginPayload
from wamd.testing.connection import SERVER_JID, FakeConnection, Phase
from wamd.testing.directory import Directory
from wamd.testing.faults import Faults, Step, build_chain
from wamd.testing.groups import GroupRegistry
from wamd.testing.handlers import IqHandlers
from wamd.testing.linking import Linker
from wamd.testing.messaging import MessageRouter
from wamd.testing.offline import OfflineDelivery
from wamd.testing.phone import FakePhone
from wamd.testing.presence import PresenceHub
from wamd.testing.records import HandshakeFailure, IqError, PairingFailure
from wamd.testing.state import Account, Device

if TYPE_CHECKING:
    from wamd.testing.threaded import ServerThread

__all__ = ["WS_PATH", "FakeServer", "LoginRecord"]

log = logging.getLogger(__name__)

WS_PATH = "/ws/chat"
"""The websocket path clients connect to."""

MAX_MESSAGE = 4 * 1024 * 1024


class LoginRecord:
    """One login attempt: who, and the outcome (``success`` or ``failure N``)."""

    __slots__ = ("connection_id", "device", "outcome", "phone_number")

    def __init__(self, connection_id: int, phone_number: str, device: int, outcome: str) -> None:
        self.connection_id = connection_id
        self.phone_number = phone_number
        self.device = device
        self.outcome = outcome

    def __repr__(self) -> str:
        return (
            f"LoginRecord(connection_id={self.connection_id}, "
            f"device={self.phone_number}:{self.device}, outcome={self.outcome!r})"
        )


class FakeServer:
    """A local stand-in for WhatsApp's chat servers (use ``async with FakeServer() as s``).

    ``root`` is the test root key pair the certificate chain comes from (fresh if not
    given; clients trust :attr:`root_public_key`). ``strict_login=False`` creates
    unknown accounts and devices at login (load tests). ``pair_refs`` is how many QR
    refs each registering client gets; ``handshake_timeout`` how long a connection may
    take to finish the Noise handshake before it is closed (and recorded);
    ``offline_preview`` delivers offline queues in the preview/batch form;
    ``record_transcripts=False`` keeps no transcripts (many long-lived clients);
    ``registration_timeout`` closes registering connections no phone linked in time.

    Records for tests: :attr:`connections` (each with its ``transcript``),
    :attr:`handshake_failures`, :attr:`iq_errors`, :attr:`unknown_iqs`,
    :attr:`pairing_failures`, :attr:`logins`; messaging (fake-server.md §7):
    :attr:`directory` (JIDs, usync, bundles), :attr:`messaging` (routing, with its
    ``deliveries`` and ``phone_inbox``), :attr:`groups`, :attr:`presence`. Faults:
    :attr:`faults` and the ``send_stream_error`` / ``send_xmlstreamend`` / ``drop``
    methods.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        root: KeyPair | None = None,
        static_key: KeyPair | None = None,
        strict_login: bool = True,
        pair_refs: int = 6,
        handshake_timeout: float = 20.0,
        offline_preview: bool = False,
        record_transcripts: bool = True,
        registration_timeout: float | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.root = root if root is not None else generate_key_pair()
        self.static_key = static_key if static_key is not None else generate_key_pair()
        self.strict_login = strict_login
        self.pair_refs = pair_refs
        self.handshake_timeout = handshake_timeout
        self.offline_preview = offline_preview
        self.record_transcripts = record_transcripts
        self.registration_timeout = registration_timeout
        self._chain: bytes | None = None
        self.faults = Faults()
        self.accounts: dict[str, Account] = {}
        self.connections: list[FakeConnection] = []
        self.handshake_failures: list[HandshakeFailure] = []
        self.iq_errors: list[IqError] = []
        self.unknown_iqs: list[Node] = []
        self.pairing_failures: list[PairingFailure] = []
        self.logins: list[LoginRecord] = []
        self.linking = Linker(self)
        self.handlers = IqHandlers(self)
        self.directory = Directory(self)
        self.messaging = MessageRouter(self)
        self.groups = GroupRegistry(self)
        self.presence = PresenceHub(self)
        self._online: dict[tuple[str, int], FakeConnection] = {}
        self._ws_server: Server | None = None
        self._changed = asyncio.Event()
        self._ids = 0
        self._conn_ids = 0

    def __repr__(self) -> str:
        return f"FakeServer(url={self.url!r}, accounts={len(self.accounts)})"

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def root_public_key(self) -> bytes:
        """The 32-byte test root public key clients must trust."""
        return self.root.public

    @property
    def url(self) -> str:
        """``ws://host:port/ws/chat`` (the port is known once started)."""
        return f"ws://{self.host}:{self.port}{WS_PATH}"

    async def start(self) -> None:
        """Start listening (binds the port; ``port=0`` picks a free one)."""
        if self._ws_server is not None:
            return
        self._ws_server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=_check_path,
            max_size=MAX_MESSAGE,
            ping_interval=None,
            compression=None,
            close_timeout=1,
        )
        self.port = self._ws_server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Close every connection and stop listening; nothing is left running."""
        server, self._ws_server = self._ws_server, None
        if server is None:
            return
        server.close(close_connections=False)
        open_connections = [c for c in self.connections if not c.closed.is_set()]
        await asyncio.gather(*(c.close() for c in open_connections), return_exceptions=True)
        await asyncio.gather(*(c.wait_closed() for c in open_connections))
        await asyncio.wait_for(server.wait_closed(), 5)

    async def __aenter__(self) -> FakeServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @classmethod
    def start_in_thread(cls, **kwargs: object) -> ServerThread:
        """Run a FakeServer on its own event loop in a thread (for blocking test code).

        Returns a started :class:`~wamd.testing.ServerThread`; use it as a context
        manager or call ``stop()``.
        """
        from wamd.testing.threaded import ServerThread  # noqa: PLC0415 - avoids a cycle

        return ServerThread(**kwargs).start()

    def cert_chain(self) -> bytes:
        """The certificate chain for a new connection (with ``faults.chain``'s defect)."""
        if self.faults.chain is not None:
            return build_chain(self.root, self.static_key.public, self.faults.chain)
        if self._chain is None:
            self._chain = build_chain(self.root, self.static_key.public, None)
        return self._chain

    async def _handle(self, ws: ServerConnection) -> None:
        self._conn_ids += 1
        conn = FakeConnection(self, ws, self._conn_ids)
        self.connections.append(conn)
        self.notify()
        await conn.run()

    # -- accounts and lookups ----------------------------------------------------------

    def phone(
        self,
        phone_number: str = "15550001111",
        *,
        push_name: str = "Fake Phone",
        platform: str = "android",
        biz_name: str | None = None,
    ) -> FakePhone:
        """The phone of ``phone_number`` (its account is created when new).

        ``push_name``, ``platform`` and ``biz_name`` apply when the account is created.
        """
        return FakePhone(
            self, phone_number, push_name=push_name, platform=platform, biz_name=biz_name
        )

    def devices(self, phone_number: str) -> dict[int, Device]:
        """The linked devices of an account (empty if there is no such account)."""
        account = self.accounts.get(phone_number)
        return account.devices if account is not None else {}

    def connection_of(self, phone_number: str, device: int) -> FakeConnection | None:
        """The open, logged-in connection of a device, or None."""
        return self._online.get((phone_number, device))

    def online_connections(self) -> list[FakeConnection]:
        """The open, logged-in connections (one per connected device)."""
        return list(self._online.values())

    def next_id(self) -> str:
        """A fresh id for a server-initiated stanza (never like a client's)."""
        self._ids += 1
        return f"srv.{self._ids}"

    # -- waiting -----------------------------------------------------------------------

    def notify(self) -> None:
        """Wake everything in :meth:`wait_for` (called on every state change)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], object], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` is true; :class:`~wamd.errors.TimeoutError_` if not."""
        try:
            async with asyncio.timeout(timeout):
                while not predicate():
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError_(f"fake server: condition not met within {timeout} s") from None

    # -- login -------------------------------------------------------------------------

    async def on_login(self, conn: FakeConnection, payload: LoginPayload) -> bool:
        """A login payload arrived on ``conn``: ``<success>`` or ``<failure>``."""
        number, device_id = str(payload.username), payload.device
        account = self.accounts.get(number)
        device = account.devices.get(device_id) if account is not None else None
        if device is None and not self.strict_login and device_id != 0:
            account, device = self._create_on_the_fly(conn, number, device_id)
        if account is None or device is None:
            return await self._fail(conn, number, device_id, 401)
        if device.noise_pub != conn.client_static:
            return await self._fail(conn, number, device_id, 401)
        if self.faults.min_version is not None and payload.app_version < self.faults.min_version:
            return await self._fail(conn, number, device_id, 405)
        injected = self.faults.take_login_failure(number, device_id)
        if injected is not None:
            return await self._fail(conn, number, device_id, injected.reason, injected.attrs)
        old = self._online.get((number, device_id))
        if old is not None and old is not conn:
            conflict = Node("stream:error", {}, [Node("conflict", {"type": "replaced"})])
            await old.end_stream(conflict)
        if payload.push_name:
            account.push_name = payload.push_name
        conn.login = payload
        conn.account, conn.device_id = account, device_id
        conn.phase = Phase.LOGGED_IN
        self._online[(number, device_id)] = conn
        device.logged_in_count += 1
        self.logins.append(LoginRecord(conn.id, number, device_id, "success"))
        now = str(conn.now())
        success = Node(
            "success",
            {
                "t": now,
                "props": "1",
                "abprops": "1",
                "location": "fake",
                "creation": now,
                "companion_enc_static": os.urandom(24).hex(),
                "lid": account.lid_jid(device_id),
            },
        )
        await conn.send(success)
        if self.faults.take_drop(Step.SUCCESS):
            return False
        conn.offline = OfflineDelivery(conn, device, self.offline_preview)
        await conn.offline.start()
        self.notify()
        return True

    def _create_on_the_fly(
        self, conn: FakeConnection, number: str, device_id: int
    ) -> tuple[Account, Device]:
        account = self.accounts.get(number)
        if account is None:
            account = Account.create(number)
            self.accounts[number] = account
        assert conn.client_static is not None
        _, key_index = account.reserve_device()
        account.next_device_id = max(account.next_device_id, device_id + 1)
        device = Device(device_id, conn.client_static, b"", 0, None, key_index)
        account.devices[device_id] = device
        return account, device

    async def _fail(
        self,
        conn: FakeConnection,
        number: str,
        device_id: int,
        reason: int,
        attrs: tuple[tuple[str, str], ...] = (),
    ) -> bool:
        self.logins.append(LoginRecord(conn.id, number, device_id, f"failure {reason}"))
        failure = {"reason": str(reason), "location": "fake", **dict(attrs)}
        await conn.end_stream(Node("failure", failure))
        return True

    def on_closed(self, conn: FakeConnection) -> None:
        """Forget a closed connection's login and refs."""
        if conn.account is not None and conn.device_id is not None:
            key = (conn.account.phone_number, conn.device_id)
            if self._online.get(key) is conn:
                del self._online[key]
        self.linking.forget(conn)
        self.notify()

    # -- faults on a connected device --------------------------------------------------

    async def send_stream_error(
        self,
        phone_number: str,
        device: int,
        *,
        code: int | None = 515,
        conflict: str | None = None,
    ) -> bool:
        """Send ``<stream:error code=..>[<conflict type=..>]`` to a device, then close.

        ``conflict="replaced"`` without a code is what a replaced login gets (440);
        ``code=401, conflict="device_removed"`` is an unlink. False if not connected.
        """
        conn = self.connection_of(phone_number, device)
        if conn is None:
            return False
        attrs = {"code": str(code)} if code is not None else {}
        children = [Node("conflict", {"type": conflict})] if conflict else None
        await conn.end_stream(Node("stream:error", attrs, children))
        return True

    async def send_xmlstreamend(self, phone_number: str, device: int) -> bool:
        """End a device's stream with ``<xmlstreamend/>`` (Baileys: 428), then close."""
        conn = self.connection_of(phone_number, device)
        if conn is None:
            return False
        await conn.end_stream(Node("xmlstreamend"))
        return True

    def queue_offline(self, phone_number: str, device: int, node: Node) -> None:
        """Queue ``node`` for a device's next login (it needs a unique ``id``)."""
        self.devices(phone_number)[device].offline_queue.append(node)
        self.notify()

    async def send_to(self, phone_number: str, device: int, node: Node) -> bool:
        """Send any stanza to a connected device; False if it is not connected."""
        conn = self.connection_of(phone_number, device)
        return conn is not None and await conn.send(node)

    async def send_dirty(
        self, phone_number: str, device: int, kind: str = "account_sync", timestamp: int = 0
    ) -> bool:
        """Send ``<ib><dirty type=kind timestamp=..>`` (Baileys answers with ``clean``)."""
        stamp = str(timestamp or int(time.time()))
        dirty = Node("dirty", {"type": kind, "timestamp": stamp})
        return await self.send_to(phone_number, device, Node("ib", {}, [dirty]))

    async def send_edge_routing(self, phone_number: str, device: int, routing_info: bytes) -> bool:
        """Send ``<ib><edge_routing>``; the client's next intros carry it in an ED block."""
        info = Node("routing_info", {}, bytes(routing_info))
        node = Node("ib", {}, [Node("edge_routing", {}, [info])])
        return await self.send_to(phone_number, device, node)

    async def send_prekey_low(
        self, phone_number: str, device: int, count: int | None = None
    ) -> bool:
        """Send the pre-key-low notification (``count`` defaults to the keys held)."""
        known = self.devices(phone_number).get(device)
        held = len(known.pre_keys) if known is not None else 0
        value = str(held if count is None else count)
        attrs = {
            "from": SERVER_JID,
            "type": "encrypt",
            "id": self.next_id(),
            "t": str(int(time.time())),
        }
        node = Node("notification", attrs, [Node("count", {"value": value})])
        return await self.send_to(phone_number, device, node)

    async def drop(self, phone_number: str, device: int) -> bool:
        """Close a device's websocket with no stanza at all."""
        conn = self.connection_of(phone_number, device)
        if conn is None:
            return False
        await conn.close()
        return True


def _check_path(connection: ServerConnection, request: Request) -> Response | None:
    if request.path.partition("?")[0] != WS_PATH:
        return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
    return None
