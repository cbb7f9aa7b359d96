"""Test accounts for the message layer, and a tiny stand-in for the server's fan-out.

An :class:`Account` is one linked device: real creds, the auth package's transactional
in-memory key store, a :class:`SignalRepository` and a :class:`MessageReceiver`.
:func:`deliver` turns an outgoing ``<message>`` into the stanza one device receives,
following fake-server.md §7.4 and §7.8 (the pairwise ``enc`` for that device first,
then the top-level ``enc``, then ``device-identity`` if a ``pkmsg`` is among them).
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Sequence

from tests.unit.signal.memstore import memory_store
from wamd._proto.adv_pb2 import ADVSignedDeviceIdentity
from wamd.auth.backends.memory import MemoryBackend
from wamd.auth.creds import Contact, init_auth_creds
from wamd.binary import Jid, Node
from wamd.messages import Me, MessageReceiver, OutgoingMessage
from wamd.messages.retry import take_pre_key
from wamd.signal.keys import PreKeyBundle
from wamd.signal.repository import SignalRepository
from wamd.signal.store import KeyChanges

_clock = itertools.count(1_700_000_000_000, 1000)


def fake_account_identity() -> bytes:
    """A serialized ADVSignedDeviceIdentity with made-up contents (nobody checks it here)."""
    return ADVSignedDeviceIdentity(
        details=os.urandom(20),
        accountSignatureKey=os.urandom(32),
        accountSignature=os.urandom(64),
        deviceSignature=os.urandom(64),
    ).SerializeToString()


class YieldingBackend(MemoryBackend):
    """A memory backend that gives other tasks a turn on every read and write, as a real
    database does while it waits, so races between transactions can show."""

    async def read(self, category: str, ids: Sequence[str]) -> dict[str, bytes]:
        await asyncio.sleep(0)
        return await super().read(category, ids)

    async def write(self, changes: KeyChanges) -> None:
        await asyncio.sleep(0)
        await super().write(changes)


class Account:
    """One linked device of a user: ``phone`` (PN user), ``lid`` (LID user), ``device``."""

    def __init__(
        self,
        phone: str,
        device: int = 0,
        lid: str | None = None,
        backend: MemoryBackend | None = None,
    ) -> None:
        self.creds = init_auth_creds()
        self.pn = f"{phone}:{device}@s.whatsapp.net" if device else f"{phone}@s.whatsapp.net"
        lid_user = lid or f"1000{phone}"
        self.lid = f"{lid_user}:{device}@lid" if device else f"{lid_user}@lid"
        self.creds.me = Contact(id=self.pn, lid=self.lid, name=f"user {phone}")
        self.creds.account = fake_account_identity()
        self.store = memory_store(backend)
        self.repo = SignalRepository(
            self.store, self.creds.local_identity(), now_ms=lambda: next(_clock)
        )
        self.receiver = MessageReceiver(self.repo, self.creds)
        self.me = Me.from_creds(self.creds)

    @property
    def pn_user(self) -> str:
        return str(Jid.parse(self.pn).to_non_ad())

    @property
    def lid_user(self) -> str:
        return str(Jid.parse(self.lid).to_non_ad())

    async def bundle(self, *, one_time: bool = True) -> PreKeyBundle:
        """Our pre-key bundle as the server would hand it out (a fresh one-time key)."""
        local = self.creds.local_identity()
        pre_key = (await take_pre_key(self.creds, self.store))[0] if one_time else None
        return PreKeyBundle.of(local.registration_id, local.identity, local.signed_pre_key, pre_key)


async def introduce(sender: Account, receiver_jid: str, receiver: Account) -> None:
    """Give ``sender`` a session with ``receiver`` (addressed as ``receiver_jid``)."""
    await sender.repo.inject_session(receiver_jid, await receiver.bundle())


def deliver(
    out: OutgoingMessage | Node,
    sender_device: str,
    target: str,
    *,
    t: int = 1_795_440_144,
    notify: str | None = "Sender",
    extra: dict[str, str] | None = None,
) -> Node:
    """The stanza device ``target`` receives for an outgoing stanza sent by ``sender_device``."""
    stanza = out.stanza if isinstance(out, OutgoingMessage) else out
    to = stanza.attrs["to"]
    encs: list[Node] = []
    participants = stanza.get_child("participants")
    for entry in [] if participants is None else participants.children("to"):
        if entry.attrs["jid"] == target:
            encs.extend(entry.children("enc"))
    top = stanza.children("enc")
    is_group = Jid.parse(to).is_group
    if is_group or to == target or stanza.attrs.get("participant") == target:
        encs.extend(top)
    attrs: dict[str, str] = {}
    if is_group:
        attrs.update({"from": to, "participant": sender_device})
        if "addressing_mode" in stanza.attrs:
            attrs["addressing_mode"] = stanza.attrs["addressing_mode"]
    else:
        attrs["from"] = sender_device
        sender_user = Jid.parse(sender_device).user
        if Jid.parse(target).user == sender_user:
            attrs["recipient"] = stanza.attrs.get("recipient", to)
    attrs.update({"type": stanza.attrs.get("type", "text"), "id": stanza.attrs["id"], "t": str(t)})
    if notify:
        attrs["notify"] = notify
    attrs.update(extra or {})
    content = list(encs)
    if any(e.attrs.get("type") == "pkmsg" for e in encs):
        identity = stanza.get_child("device-identity")
        if identity is not None:
            content.append(identity)
    return Node("message", attrs, content)
