"""A phone as a messaging peer, for tests: it decrypts what it is sent and sends texts.

fake-server.md §7.1 (optional part). A :class:`PhonePeer` runs wamd's own messaging
core (``wamd.messages`` over a ``wamd.signal`` repository in memory) for device 0 of
an account on a FakeServer, plugged in through ``server.messaging.phones``. It lives
in the tests, not in ``wamd.testing``, so that the fake server itself stays independent
of the messaging core it is used to test. Its identity is the account key, as a real
phone's is. Starting it replaces the phone's bundle on the server: start it before
anyone sends to the phone.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from typing import TYPE_CHECKING

from wamd.auth.backends.memory import MemoryBackend
from wamd.auth.creds import AuthCreds, Contact, generate_registration_id, signed_pre_key
from wamd.auth.keystore import KeyStore
from wamd.binary import Node
from wamd.crypto import generate_key_pair
from wamd.errors import StanzaError, WamdError
from wamd.messages import Me, MessageReceiver, MessageSender
from wamd.messages.receive import ReceivedMessage
from wamd.messages.retry import take_pre_key
from wamd.messages.send import text_message
from wamd.pairing.adv import sign_device_identity, verify_pair_success
from wamd.signal.repository import SignalRepository
from wamd.testing.directory import Address
from wamd.testing.state import Device, SignedPreKey

if TYPE_CHECKING:
    from wamd.testing.server import FakeServer
    from wamd.testing.state import Account

__all__ = ["PhonePeer"]

log = logging.getLogger(__name__)


def _own_device_identity(account: Account) -> bytes:
    """The phone's ``<device-identity>`` for its pkmsgs: key index 0, signed by itself.

    Made with the linking functions, as if the phone linked its own identity key.
    """
    secret = os.urandom(32)
    signed = sign_device_identity(
        account=account.key,
        companion_identity_pub=account.key.public,
        adv_secret=secret,
        key_index=0,
        timestamp=int(time.time()),
        raw_id=account.raw_id,
    )
    return verify_pair_success(signed, base64.b64encode(secret).decode(), account.key).account


class PhonePeer:
    """Device 0 of ``account`` as a messaging peer (make one with :meth:`start`).

    :attr:`received` holds the messages it decrypted, :attr:`failures` the stanzas it
    could not; :attr:`receipts` the receipts it was sent.
    """

    def __init__(self, server: FakeServer, account: Account, creds: AuthCreds) -> None:
        self._server = server
        self.account = account
        self.creds = creds
        self.store = KeyStore(MemoryBackend())
        self.repo = SignalRepository(
            self.store, creds.local_identity(), now_ms=lambda: int(time.time() * 1000)
        )
        self.receiver = MessageReceiver(self.repo, creds)
        me = Me(account.pn_jid(), account.lid_jid(), creds.account)
        self.sender = MessageSender(self.repo, me, self._query, now_s=lambda: int(time.time()))
        self.received: list[ReceivedMessage] = []
        self.failures: list[Node] = []
        self.receipts: list[Node] = []

    def __repr__(self) -> str:
        return f"PhonePeer({self.account.phone_number!r}, received={len(self.received)})"

    @classmethod
    async def start(cls, server: FakeServer, account: Account, pre_keys: int = 20) -> PhonePeer:
        """A peer for ``account``'s phone, with ``pre_keys`` one-time keys on the server.

        The peer is registered in ``server.messaging.phones`` (one per phone: an
        existing one is returned).
        """
        existing = server.messaging.phones.get(account.phone_number)
        if isinstance(existing, PhonePeer):
            return existing
        creds = AuthCreds(
            noise_key=generate_key_pair(),
            pairing_ephemeral_key_pair=generate_key_pair(),
            signed_identity_key=account.key,
            signed_pre_key=signed_pre_key(account.key, 1),
            registration_id=generate_registration_id(),
            adv_secret_key="",
        )
        creds.me = Contact(account.pn_jid(), account.lid_jid(), account.push_name or None)
        creds.account = _own_device_identity(account)
        peer = cls(server, account, creds)
        one_time = [(await take_pre_key(creds, peer.store))[0] for _ in range(pre_keys)]
        spk = creds.signed_pre_key
        account.phone_device = Device(
            device_id=0,
            noise_pub=b"",
            identity_pub=account.key.public,
            registration_id=creds.registration_id,
            signed_pre_key=SignedPreKey(spk.key_id, spk.key_pair.public, spk.signature),
            key_index=0,
            pre_keys={k.key_id: k.key_pair.public for k in one_time},
        )
        server.messaging.phones[account.phone_number] = peer
        server.notify()
        return peer

    @classmethod
    async def of(cls, server: FakeServer, number: str, push_name: str = "") -> PhonePeer:
        """The peer of ``number``'s phone (the account is created when new)."""
        account = server.phone(number, push_name=push_name or "Fake Phone").account
        return await cls.start(server, account)

    @property
    def address(self) -> Address:
        """The phone's own address (device 0, PN space)."""
        return Address(self.account, 0, False)

    def texts(self) -> list[str | None]:
        """The text of every message received so far."""
        return [m.text for m in self.received]

    # -- receiving ---------------------------------------------------------------------

    async def receive(self, node: Node) -> None:
        """Process a stanza the server routed to the phone (messages and receipts)."""
        if node.tag == "receipt":
            self.receipts.append(node)
            self._server.notify()
            return
        if node.tag != "message":
            return
        try:
            result = await self.receiver.receive(node)
        except WamdError as exc:
            log.info("phone %s: cannot process message: %s", self.account.phone_number, exc)
            self.failures.append(node)
            self._server.notify()
            return
        if result.message is not None:
            self.received.append(result.message)
        elif result.failure is not None:
            self.failures.append(node)
        now = int(time.time())
        for reply in result.replies:
            if reply.tag == "receipt":
                await self._server.messaging.forward_receipt(self.address, reply, now)
        self._server.notify()

    # -- sending -----------------------------------------------------------------------

    async def send_text(self, chat: str, text: str) -> str:
        """Send ``text`` to ``chat`` (a user JID, PN or LID, or a group JID); the id."""
        if chat.endswith("@g.us"):
            group = self._server.groups.get(chat.partition("@")[0])
            if group is None:
                raise StanzaError(f"phone {self.account.phone_number}: no group {chat}")
            members = [a.lid_jid() for a in group.member_accounts(self._server)]
            out = await self.sender.send_group(chat, members, text_message(text))
        else:
            out = await self.sender.send(chat, text_message(text))
        await self._server.messaging.fan_out(self.address, out.stanza, int(time.time()))
        return out.stanza.attrs["id"]

    async def _query(self, node: Node) -> Node:
        directory = self._server.directory
        xmlns = node.attrs.get("xmlns")
        reply: Node | None = None
        if xmlns == "usync":
            reply = directory.usync_reply(node)
        elif xmlns == "encrypt" and node.get_child("key") is not None:
            reply, low = directory.key_fetch_reply(node)
            for address in low:
                await self._server.send_prekey_low(*address.key)
        if reply is None:
            raise StanzaError(f"phone {self.account.phone_number}: cannot answer {xmlns!r} iq")
        return reply
