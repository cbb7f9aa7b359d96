"""Messages over a live connection: send, receive, receipts, acks and retries (§6.8–§6.10).

:class:`Messaging` wires the sans-IO core of :mod:`wamd.messages` to a
:class:`~wamd.client.Connection`: sending runs usync and pre-key fetches through
``Connection.query`` and waits for the server's ``<ack class="message">``; an incoming
``<message>`` is decrypted by a :class:`~wamd.messages.MessageReceiver` (its key changes
committed in one key-store transaction) and only then answered (receipt, or retry receipt
and nack) and announced as a :class:`~wamd.events.Message`; a ``<receipt>`` is acked and
announced as a :class:`~wamd.events.Receipt`, and a retry receipt about one of our
messages makes us send it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from wamd._proto.message_pb2 import Message
from wamd.auth.creds import AuthCreds
from wamd.binary import Jid, Node
from wamd.client.group_metadata import participant_hash
from wamd.client.groups import Groups
from wamd.errors import (
    ConnectionClosedError,
    JidError,
    MessageRejectedError,
    StanzaError,
    TimeoutError_,
    UsageError,
)
from wamd.events import GroupMetadata, Receipt
from wamd.messages import (
    Me,
    MessageReceiver,
    MessageSender,
    OutgoingMessage,
    build_ack,
    build_receipt,
    parse_receipt,
    parse_retry_receipt,
)
from wamd.signal.repository import SignalRepository

if TYPE_CHECKING:
    from wamd.client.connection import Connection

__all__ = [
    "ACK_TIMEOUT",
    "RETRY_DELAY",
    "Messaging",
    "on_devices_notification",
    "on_message",
    "on_receipt",
]

ACK_TIMEOUT = 30.0
"""Seconds to wait for the server's ack of a sent message."""

RETRY_DELAY = 0.25
"""Seconds between a failed decryption and the retry receipt that asks for it again."""

_GROUP_SERVER = "g.us"


class _Turns:
    """The sends to one chat building their stanzas: one at a time, in arrival order."""

    __slots__ = ("lock", "waiting")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.waiting = 0


class Messaging:
    """The messaging state of one connection: its Signal repository, sender and receiver.

    Built from the connection's auth state once the device is linked; rebuilt when the
    creds object is replaced (after :meth:`Connection.clear_auth_state`).
    """

    def __init__(self, conn: Connection) -> None:
        creds = conn.state.creds
        if creds.me is None:
            raise UsageError("this device is not linked yet: cannot send or receive messages")
        self._conn = conn
        self.creds: AuthCreds = creds
        self.repo = SignalRepository(
            conn.state.keys, creds.local_identity(), now_ms=lambda: int(self._now() * 1000)
        )
        self.receiver = MessageReceiver(self.repo, creds)
        self.sender = MessageSender(
            self.repo, Me.from_creds(creds), conn.query, now_s=lambda: int(self._now())
        )
        self.groups = Groups(
            conn.query, conn.state.keys, self._me, shared=conn.config.group_metadata_cache
        )
        self._preparing: dict[str, _Turns] = {}

    @contextlib.asynccontextmanager
    async def _one_send_at_a_time(self, chat: str) -> AsyncIterator[None]:
        """Sends to ``chat`` build their stanzas one after another, in call order.

        Concurrent sends to a new chat would otherwise each ask for its device list and
        fetch its pre-key bundles (one one-time pre-key per device each time); one after
        another, the later ones find the devices cached and the sessions made.
        """
        turns = self._preparing.get(chat)
        if turns is None:
            turns = self._preparing[chat] = _Turns()
        turns.waiting += 1
        try:
            async with turns.lock:
                yield
        finally:
            turns.waiting -= 1
            if not turns.waiting:
                del self._preparing[chat]

    def __repr__(self) -> str:
        return f"<Messaging {self.sender.me!r}>"

    def _now(self) -> float:
        return time.time() + self._conn.server_time_offset

    def _me(self) -> Me:
        self.refresh_me()
        return self.sender.me

    def refresh_me(self) -> None:
        """Take our JIDs from the creds again (our LID arrives with ``<success>``)."""
        me = Me.from_creds(self.creds)
        if me != self.sender.me:
            self.sender.me = me

    async def send(self, chat: str, message: Message, message_id: str | None = None) -> str:
        """Encrypt ``message`` for ``chat``, send it, wait for the server's ack; its id."""
        self.refresh_me()
        try:
            target = Jid.parse(chat)
        except JidError as exc:
            raise UsageError(f"cannot send to {chat!r}: {exc}") from None
        if target.server == _GROUP_SERVER:
            return await self._send_group(str(target), message, message_id)
        if not target.is_user:
            raise UsageError(f"cannot send to {chat!r}: not a user or group JID")
        async with self._one_send_at_a_time(str(target)):
            out = await self.sender.send(str(target), message, message_id=message_id)
        await self.send_and_wait_ack(out)
        return out.id

    async def _send_group(self, group: str, message: Message, message_id: str | None) -> str:
        """A group send with the cached metadata; a stale-looking answer drops the entry."""
        meta = await self.groups.metadata(group)
        members = list(meta.member_jids)
        async with self._one_send_at_a_time(group):
            out = await self.sender.send_group(
                group, members, message, addressing_mode=meta.addressing_mode, message_id=message_id
            )
        try:
            ack = await self.send_and_wait_ack(out)
        except MessageRejectedError:
            self.groups.invalidate(group)
            raise
        server_hash = ack.attrs.get("phash")
        if server_hash:
            devices = [*await self.sender.devices(members), self._own_device(meta)]
            if server_hash != participant_hash(devices):
                self._conn.log.info(
                    "the server's participant hash for %s differs from ours; "
                    "asking for its members again at the next send",
                    group,
                )
                self.groups.invalidate(group)
                for member in members:
                    self.sender.forget_devices(member)
        return out.id

    def _own_device(self, meta: GroupMetadata) -> str:
        me = self.sender.me
        return me.lid_device if meta.addressing_mode == "lid" and me.lid_device else me.pn

    async def send_and_wait_ack(self, out: OutgoingMessage) -> Node:
        """Send a built stanza and wait for ``<ack class="message">`` (error codes raise);
        the ack."""
        conn = self._conn
        future = conn.expect_answer(out.id)
        try:
            await conn.send_node(out.stanza)
            async with asyncio.timeout(ACK_TIMEOUT):
                ack = await future
        except TimeoutError:
            raise TimeoutError_(
                f"the server did not ack message {out.id} within {ACK_TIMEOUT} s"
            ) from None
        finally:
            conn.drop_answer(out.id, future)
        error = ack.attrs.get("error")
        if error:
            code = int(error) if error.isdigit() else None
            raise MessageRejectedError(
                f"the server refused message {out.id} to {out.stanza.attrs.get('to')}: "
                f"error {error}",
                code,
            )
        return ack


async def on_message(conn: Connection, node: Node) -> None:
    """An incoming ``<message>``: decrypt, answer after the commit, then announce it."""
    messaging = conn.messaging
    result = await messaging.receiver.receive(node)
    if result.creds_changed:  # a pre-key handed out in the retry receipt: save that first
        await conn.creds_changed(*sorted(result.creds_changed))
    if result.failure is not None and result.failure.retry_requested:
        # A short pause before asking for the message again, as WhatsApp clients do: the
        # sender may still be storing what it just sent. Later stanzas are not held up.
        conn.spawn(_send_later(conn, result.replies, RETRY_DELAY))
    else:
        for reply in result.replies:
            await conn.send_node(reply)
    if result.message is not None:
        await conn.emit(result.message.to_event())
    elif result.failure is not None:
        conn.log.info(
            "message %s from %s not decrypted (%s)",
            result.failure.id,
            result.failure.sender,
            result.failure.error_type,
        )


async def _send_later(conn: Connection, nodes: Sequence[Node], delay: float) -> None:
    await asyncio.sleep(delay)
    try:
        for node in nodes:
            await conn.send_node(node)
    except ConnectionClosedError:
        conn.log.info("retry receipt not sent: the connection closed")


async def on_receipt(conn: Connection, node: Node) -> None:
    """An incoming ``<receipt>``: ack it, announce it, and resend on a retry receipt."""
    await conn.send_node(build_ack(node))
    try:
        event = parse_receipt(node)
    except StanzaError as exc:
        conn.log.info("ignoring a receipt: %s", exc)
        return
    await conn.emit(_chat_without_device(event))
    if node.attrs.get("type") != "retry":
        return
    messaging = conn.messaging
    messaging.refresh_me()
    request = parse_retry_receipt(node)
    out = await messaging.sender.resend(request)
    if out is None:
        return
    conn.log.info("resending message %s to %s (retry %d)", out.id, request.sender, request.count)
    await conn.send_node(out.stanza)


def _chat_without_device(event: Receipt) -> Receipt:
    """A 1:1 receipt names the chat by the user, not by the device that sent it."""
    try:
        chat = Jid.parse(event.chat)
    except JidError:
        return event
    if chat.is_user and chat.device:
        return replace(event, chat=str(chat.to_non_ad()))
    return event


async def on_devices_notification(conn: Connection, node: Node) -> None:
    """A contact's device list changed: forget it (asked again at the next send), ack."""
    try:
        user = node.attrs.get("from")
        if user and conn.state.creds.me is not None:
            conn.messaging.sender.forget_devices(user)
            lid = node.attrs.get("lid")
            if lid:
                conn.messaging.sender.forget_devices(lid)
    except (JidError, UsageError) as exc:
        conn.log.info("devices notification not understood: %s", exc)
    finally:
        await conn.send_node(build_ack(node))


def read_receipt(chat: str, ids: Sequence[str], sender: str | None, now_s: int) -> Node:
    """The read receipt for ``ids`` of ``chat`` (``sender``: the author, in groups)."""
    return build_receipt(chat, list(ids), participant=sender, type="read", t=now_s)
