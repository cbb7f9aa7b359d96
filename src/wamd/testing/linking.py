"""Linking a companion on the fake server: QR refs, pairing code, pair-success, 515.

The server half of fake-server.md §2–§3. A registering connection gets ``pair-device``
with its refs; the phone (:class:`~wamd.testing.FakePhone`) then either scans a QR
naming one of those refs or answers a pairing-code request, and :meth:`Linker.link`
sends the signed ``pair-success``. The client's ``pair-device-sign`` is checked for real
before the device exists; then comes the 515 restart.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wamd.binary import Node
from wamd.errors import PairingCheckError, PairingError
from wamd.pairing import (
    PrimaryHello,
    RegistrationPayload,
    normalize_pairing_code,
    open_key_bundle,
    primary_hello,
    sign_device_identity,
    verify_device_sign_reply,
)
from wamd.testing.connection import SERVER_JID, FakeConnection, Phase, error_reply, result
from wamd.testing.faults import PairSuccessDefect, Step
from wamd.testing.records import PairingFailure
from wamd.testing.state import Account, Device, SignedPreKey

if TYPE_CHECKING:
    from wamd.testing.server import FakeServer

__all__ = ["CodeRequest", "Linker", "PendingLink"]


@dataclass(slots=True)
class PendingLink:
    """A pair-success sent and not yet answered: who is being linked and what was signed."""

    account: Account
    device_id: int
    key_index: int
    device_identity: bytes


@dataclass(slots=True)
class CodeRequest:
    """A client's ``companion_hello``: the phone number it wants to link with, and state."""

    connection: FakeConnection
    phone_number: str
    wrapped_ephemeral: bytes
    ref: str
    platform_id: str
    platform_display: str
    hello: PrimaryHello | None = None


def _text(node: Node | None) -> str:
    if node is None:
        return ""
    raw = node.content_bytes()
    return raw.decode("utf-8", "replace") if raw is not None else ""


def _bytes(node: Node, tag: str) -> bytes:
    child = node.get_child(tag)
    raw = child.content_bytes() if child is not None else None
    if raw is None:
        raise PairingError(f"<{node.tag}> has no <{tag}> bytes")
    return raw


class Linker:
    """The linking state of one server: refs issued, code requests, links in flight."""

    def __init__(self, server: FakeServer) -> None:
        self._server = server
        self.refs: dict[str, FakeConnection] = {}
        self.code_requests: dict[str, CodeRequest] = {}
        self._ref_counter = 0

    def new_ref(self, connection: FakeConnection) -> str:
        """A fresh pairing ref owned by ``connection``."""
        self._ref_counter += 1
        ref = f"2@fake{connection.id}x{self._ref_counter}{os.urandom(8).hex()}"
        self.refs[ref] = connection
        return ref

    def forget(self, connection: FakeConnection) -> None:
        """Drop the refs and code requests of a closed connection.

        A pair-success still unanswered is recorded as a ``client-closed`` failure.
        """
        if connection.link is not None:
            connection.link = None
            self._failed(connection, "client-closed", "closed before answering pair-success")
        for ref in connection.refs:
            self.refs.pop(ref, None)
        for number, request in list(self.code_requests.items()):
            if request.connection is connection:
                del self.code_requests[number]

    # -- registration ------------------------------------------------------------------

    async def on_registration(self, conn: FakeConnection, payload: RegistrationPayload) -> bool:
        """A registration payload arrived: send ``pair-device`` with the refs."""
        conn.registration = payload
        conn.phase = Phase.REGISTERING
        conn.refs = [self.new_ref(conn) for _ in range(self._server.pair_refs)]
        refs = [Node("ref", {}, ref.encode("ascii")) for ref in conn.refs]
        iq = Node(
            "iq",
            {"from": SERVER_JID, "type": "set", "id": self._server.next_id(), "xmlns": "md"},
            [Node("pair-device", {}, refs)],
        )
        await conn.query(iq, "pair-device")
        self._server.notify()
        timeout = self._server.registration_timeout
        if timeout is not None:
            conn.spawn(self._registration_deadline(conn, timeout))
        return not self._server.faults.take_drop(Step.PAIR_DEVICE)

    async def _registration_deadline(self, conn: FakeConnection, timeout: float) -> None:
        await asyncio.sleep(timeout)
        if conn.phase is Phase.REGISTERING and conn.link is None:
            self._failed(conn, "timeout", f"no device linked within {timeout} s")
            await conn.close()

    async def link(
        self,
        conn: FakeConnection,
        account: Account,
        adv_secret: bytes,
        defect: PairSuccessDefect | None = None,
    ) -> None:
        """The phone accepted ``conn``'s device: sign its identity, send ``pair-success``.

        ``defect`` spoils the signed identity on purpose (the client must refuse it).
        """
        registration = conn.registration
        if registration is None or conn.phase is not Phase.REGISTERING:
            raise PairingError(f"connection {conn.id} is not registering a device")
        device_id, key_index = account.reserve_device()
        now = conn.now()
        signed_identity = registration.identity_pub
        if defect is PairSuccessDefect.BAD_ACCOUNT_SIGNATURE:
            signed_identity = os.urandom(32)
        if defect is PairSuccessDefect.BAD_HMAC:
            adv_secret = os.urandom(32)
        identity = sign_device_identity(
            account=account.key,
            companion_identity_pub=signed_identity,
            adv_secret=adv_secret,
            key_index=key_index,
            timestamp=now,
            raw_id=account.raw_id,
        )
        conn.link = PendingLink(account, device_id, key_index, identity)
        children = [
            Node("device-identity", {}, identity),
            Node("platform", {"name": account.platform}),
            Node("device", {"jid": account.pn_jid(device_id), "lid": account.lid_jid(device_id)}),
        ]
        if account.biz_name:
            children.append(Node("biz", {"name": account.biz_name}))
        iq = Node(
            "iq",
            {
                "from": SERVER_JID,
                "type": "set",
                "id": self._server.next_id(),
                "xmlns": "md",
                "t": str(now),
            },
            [Node("pair-success", {}, children)],
        )
        drop = self._server.faults.take_drop(Step.PAIR_SUCCESS)
        conn.ignore_input = drop
        await conn.query(iq, "pair-success")
        if drop:
            await conn.close()

    async def on_pair_reply(self, conn: FakeConnection, reply: Node) -> None:
        """The client answered ``pair-success``: verify, create the device, send 515."""
        link, registration = conn.link, conn.registration
        if link is None or registration is None or conn.client_static is None:
            return
        conn.link = None
        try:
            if reply.attrs.get("type") == "error":
                error = reply.get_child("error")
                text = error.attrs.get("text", "") if error is not None else ""
                raise PairingCheckError("client-refused", f"client answered error {text!r}")
            sign = reply.get_child("pair-device-sign")
            identity = sign.get_child("device-identity") if sign is not None else None
            content = identity.content_bytes() if identity is not None else None
            if identity is None or content is None:
                raise PairingCheckError("format", "no <pair-device-sign><device-identity>")
            verify_device_sign_reply(
                content,
                sent_device_identity=link.device_identity,
                companion_identity_pub=registration.identity_pub,
                key_index_attr=identity.attrs.get("key-index"),
            )
        except PairingCheckError as exc:
            self._failed(conn, exc.check, str(exc))
            await conn.close()
            return
        spk = SignedPreKey(
            registration.signed_pre_key_id,
            registration.signed_pre_key_pub,
            registration.signed_pre_key_signature,
        )
        link.account.devices[link.device_id] = Device(
            device_id=link.device_id,
            noise_pub=conn.client_static,
            identity_pub=registration.identity_pub,
            registration_id=registration.registration_id,
            signed_pre_key=spk,
            key_index=link.key_index,
        )
        self._server.notify()
        await self._server.messaging.announce_devices(link.account, "add", link.device_id)
        if self._server.faults.take_drop(Step.PAIR_DEVICE_SIGN):
            await conn.close()
            return
        conn.spawn(self._restart(conn))

    async def _restart(self, conn: FakeConnection) -> None:
        await asyncio.sleep(self._server.faults.pair_sign_delay)
        await conn.end_stream(Node("stream:error", {"code": "515"}))

    def _failed(self, conn: FakeConnection, check: str, reason: str) -> None:
        self._server.pairing_failures.append(PairingFailure(conn.id, check, reason))
        self._server.notify()

    # -- pairing code ------------------------------------------------------------------

    async def on_iq(self, conn: FakeConnection, node: Node) -> bool:
        """Answer an iq on a registering connection (pairing-code stages); False: unknown."""
        reg = node.get_child("link_code_companion_reg")
        if node.attrs.get("xmlns") != "md" or reg is None:
            return False
        stage = reg.attrs.get("stage")
        try:
            if stage == "companion_hello":
                await conn.send(self._companion_hello(conn, node, reg))
                return True
            if stage == "companion_finish":
                await self._companion_finish(conn, node, reg)
                return True
        except PairingCheckError as exc:
            self._failed(conn, exc.check, str(exc))
            await conn.send(error_reply(node, 400, "bad-request"))
            return True
        except PairingError as exc:
            self._failed(conn, "format", str(exc))
            await conn.send(error_reply(node, 400, "bad-request"))
            return True
        return False

    def _companion_hello(self, conn: FakeConnection, node: Node, reg: Node) -> Node:
        number = reg.attrs.get("jid", "").partition("@")[0]
        if _bytes(reg, "companion_server_auth_key_pub") != conn.client_static:
            raise PairingCheckError("noise-key", "companion_server_auth_key_pub != noise static")
        wrapped = _bytes(reg, "link_code_pairing_wrapped_companion_ephemeral_pub")
        if number not in self._server.accounts:
            self._failed(conn, "unknown-number", f"no account for {number!r}")
            return error_reply(node, 404, "item-not-found")
        ref = self.new_ref(conn)
        conn.refs.append(ref)
        self.code_requests[number] = CodeRequest(
            conn,
            number,
            wrapped,
            ref,
            _text(reg.get_child("companion_platform_id")),
            _text(reg.get_child("companion_platform_display")),
        )
        self._server.notify()
        ref_node = Node("link_code_pairing_ref", {}, ref.encode("ascii"))
        return result(node, [Node("link_code_companion_reg", {}, [ref_node])])

    async def enter_code(self, account: Account, code: str) -> None:
        """The phone of ``account`` typed ``code``: answer with ``primary_hello``."""
        request = self.code_requests.get(account.phone_number)
        if request is None or request.connection.phase is not Phase.REGISTERING:
            raise PairingError(f"no client asked for a pairing code for {account.phone_number}")
        hello = await asyncio.to_thread(
            primary_hello,
            code=normalize_pairing_code(code),
            wrapped_companion_ephemeral_pub=request.wrapped_ephemeral,
        )
        request.hello = hello
        content = [
            Node("link_code_pairing_ref", {}, request.ref.encode("ascii")),
            Node("primary_identity_pub", {}, account.key.public),
            Node(
                "link_code_pairing_wrapped_primary_ephemeral_pub",
                {},
                hello.wrapped_primary_ephemeral_pub,
            ),
        ]
        await request.connection.send(
            Node(
                "notification",
                {
                    "from": SERVER_JID,
                    "type": "link_code_companion_reg",
                    "id": self._server.next_id(),
                    "t": str(request.connection.now()),
                },
                [Node("link_code_companion_reg", {"stage": "primary_hello"}, content)],
            )
        )

    async def _companion_finish(self, conn: FakeConnection, node: Node, reg: Node) -> None:
        number = reg.attrs.get("jid", "").partition("@")[0]
        request = self.code_requests.get(number)
        registration = conn.registration
        if request is None or request.connection is not conn or request.hello is None:
            raise PairingCheckError("state", "companion_finish before the phone entered a code")
        assert registration is not None
        if _text(reg.get_child("link_code_pairing_ref")) != request.ref:
            raise PairingCheckError("ref", "companion_finish names another pairing ref")
        companion_identity = _bytes(reg, "companion_identity_public")
        if companion_identity != registration.identity_pub:
            raise PairingCheckError("companion-identity", "identity differs from registration")
        account = self._server.accounts[number]
        adv_secret = open_key_bundle(
            wrapped_key_bundle=_bytes(reg, "link_code_pairing_wrapped_key_bundle"),
            primary_ephemeral=request.hello.ephemeral,
            companion_ephemeral_pub=request.hello.companion_ephemeral_pub,
            account=account.key,
            companion_identity_pub=companion_identity,
        )
        del self.code_requests[number]
        await conn.send(result(node))
        await self.link(conn, account, adv_secret)
