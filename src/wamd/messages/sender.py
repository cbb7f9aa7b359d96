"""Sending a message end to end, over a query function the caller provides.

:class:`MessageSender` strings the steps of protocol.md §6.8 together: find the devices
(usync, cached for five minutes), learn LID mappings, fetch bundles for devices without
a session, then build the stanza. It does no I/O itself: ``query`` is the caller's
coroutine that sends an iq and returns the reply node (the client's ``query``), and the
caller sends the returned stanza.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence

from wamd._proto.message_pb2 import Message
from wamd.binary import Jid, Node
from wamd.messages.ids import TagGenerator, generate_message_id
from wamd.messages.prekeys import build_key_fetch, parse_key_fetch_reply
from wamd.messages.receipt import RetryRequest
from wamd.messages.send import (
    Me,
    OutgoingMessage,
    PadRandom,
    build_direct_message,
    build_group_message,
    build_retry_resend,
    clear_sender_key_memory,
    inject_bundles,
    missing_sessions,
)
from wamd.messages.usync import (
    build_device_query,
    device_jids,
    device_list_records,
    lid_mappings,
    parse_device_reply,
)
from wamd.signal.repository import SignalRepository
from wamd.signal.store import KeyCategory

__all__ = ["DEVICE_CACHE_SECONDS", "SENT_CACHE_SIZE", "MessageSender", "Query"]

log = logging.getLogger(__name__)

Query = Callable[[Node], Awaitable[Node]]
"""Sends an iq and returns the server's reply node."""

DEVICE_CACHE_SECONDS = 300
"""How long a user's device list is reused before it is asked for again."""

SENT_CACHE_SIZE = 1000
"""How many sent messages are kept to answer retry receipts."""


class MessageSender:
    """Sends 1:1 and group messages for one account (see the module docstring).

    ``me`` is our identity, ``now_s`` the clock (seconds), ``tags`` makes iq ids.
    """

    def __init__(
        self,
        repo: SignalRepository,
        me: Me,
        query: Query,
        *,
        now_s: Callable[[], int],
        tags: TagGenerator | None = None,
        pad_random: PadRandom | None = None,
    ) -> None:
        self._repo = repo
        self.me = me
        self._query = query
        self._now_s = now_s
        self._tags = tags or TagGenerator()
        self._pad_random = pad_random
        self._devices: dict[str, tuple[int, list[str]]] = {}
        self._sent: OrderedDict[str, tuple[str, Message]] = OrderedDict()

    def forget_devices(self, user: str | None = None) -> None:
        """Drop the cached device list of ``user`` (a user JID), or of everyone."""
        if user is None:
            self._devices.clear()
        else:
            self._devices.pop(str(Jid.parse(user).to_non_ad()), None)

    async def devices(self, users: Iterable[str]) -> list[str]:
        """The device JIDs of ``users`` to encrypt for (our own device excluded).

        Asks the server for the users whose list is not cached; stores the LID mappings
        and device lists it learns, and moves PN sessions of newly mapped users to LID.
        """
        now = self._now_s()
        wanted = [str(Jid.parse(u).to_non_ad()) for u in users]
        wanted = list(dict.fromkeys(wanted))
        fetch = [u for u in wanted if u not in self._devices or self._devices[u][0] <= now]
        if fetch:
            reply = await self._query(
                build_device_query(fetch, sid=self._tags(), iq_id=self._tags())
            )
            found = parse_device_reply(reply)
            for lid, pn in lid_mappings(found):
                if await self._repo.lid_for_pn(pn) is None:
                    await self._repo.store_lid_mapping(lid, pn)
                    await self._repo.migrate_session(pn, lid)
            fetched: list[str] = []
            for entry_user in found:
                key = str(Jid.parse(entry_user.jid).to_non_ad())
                jids = device_jids([entry_user], self.me.pn, self.me.lid)
                self._devices[key] = (now + DEVICE_CACHE_SECONDS, jids)
                fetched.extend(jids)
            records = device_list_records(found, fetched)
            if records:
                await self._repo.store.set({KeyCategory.DEVICE_LIST.value: records})
        out: list[str] = []
        for user in wanted:
            entry = self._devices.get(user)
            if entry is not None:
                out.extend(entry[1])
        return out

    async def ensure_sessions(self, jids: Sequence[str], *, identity_refresh: bool = False) -> None:
        """Fetch and inject bundles for the devices among ``jids`` without a session."""
        missing = await missing_sessions(self._repo, jids)
        if not missing:
            return
        reply = await self._query(
            build_key_fetch(missing, identity_refresh=identity_refresh, iq_id=self._tags())
        )
        await inject_bundles(self._repo, parse_key_fetch_reply(reply))

    def new_message_id(self) -> str:
        """A fresh message id."""
        return generate_message_id(self.me.pn, now_s=self._now_s())

    async def send(
        self, chat: str, message: Message, *, message_id: str | None = None
    ) -> OutgoingMessage:
        """The stanza of a 1:1 message to ``chat`` (a PN or LID user JID), ready to send."""
        chat_jid = Jid.parse(chat).to_non_ad()
        own = self.me.lid if chat_jid.is_lid and self.me.lid else self.me.pn
        own_user = str(Jid.parse(own).to_non_ad())
        devices = await self.devices([own_user, str(chat_jid)])
        await self.ensure_sessions(devices)
        out = await build_direct_message(
            self._repo,
            self.me,
            str(chat_jid),
            message,
            devices,
            message_id=message_id or self.new_message_id(),
            pad_random=self._pad_random,
        )
        return self._remember(out, str(chat_jid), message)

    async def send_group(
        self,
        group: str,
        members: Sequence[str],
        message: Message,
        *,
        addressing_mode: str = "lid",
        message_id: str | None = None,
    ) -> OutgoingMessage:
        """The stanza of a group message; ``members`` are the group's user JIDs."""
        devices = await self.devices(members)
        await self.ensure_sessions(devices)
        out = await build_group_message(
            self._repo,
            self.me,
            group,
            message,
            devices,
            message_id=message_id or self.new_message_id(),
            addressing_mode=addressing_mode,
            pad_random=self._pad_random,
        )
        return self._remember(out, group, message)

    def sent(self, message_id: str) -> tuple[str, Message] | None:
        """The chat and content of a message we sent lately, by id (for resends)."""
        return self._sent.get(message_id)

    def _remember(self, out: OutgoingMessage, chat: str, message: Message) -> OutgoingMessage:
        self._sent[out.id] = (chat, message)
        self._sent.move_to_end(out.id)
        while len(self._sent) > SENT_CACHE_SIZE:
            self._sent.popitem(last=False)
        return out

    async def resend(
        self,
        request: RetryRequest,
        *,
        chat: str | None = None,
        message: Message | None = None,
    ) -> OutgoingMessage | None:
        """Our message again for the device that sent retry receipt ``request``.

        The message is looked up among those sent lately unless ``chat`` and ``message``
        are given (e.g. from the app's own store); None if it is unknown. Uses the bundle
        in the receipt if there is one, else fetches the device's keys when there is no
        session. In a group, everyone gets our sender key again with the next message.
        """
        if chat is None or message is None:
            found = self._sent.get(request.id)
            if found is None:
                log.info("retry receipt for unknown message %s; not resent", request.id)
                return None
            chat, message = found
        is_group = Jid.parse(chat).is_group
        device = (request.participant if is_group else None) or request.sender
        if request.bundle is None and not await self._repo.has_session(device):
            await self.ensure_sessions([device], identity_refresh=True)
        if is_group:
            await clear_sender_key_memory(self._repo.store, chat)
        return await build_retry_resend(
            self._repo,
            self.me,
            chat,
            message,
            device,
            message_id=request.id,
            count=request.count,
            bundle=request.bundle,
            pad_random=self._pad_random,
        )
