"""Receiving ``<message>`` stanzas: decrypt, decode, and say what to send back (protocol.md §6.9).

:class:`MessageReceiver` turns one incoming stanza into a :class:`ReceiveResult`: the
decoded :class:`ReceivedMessage` (or a :class:`DecryptFailure`) and the stanzas to send
back (a receipt; or a retry receipt then a nack; or an ack). It does no I/O: the caller
sends the replies, after this returns, which is after every key change of the stanza is
committed.

All the decryptions of one stanza (e.g. a ``pkmsg`` carrying a sender key, then the
``skmsg`` it unlocks) run in ONE key-store transaction keyed by the sender's Signal
address: either all of their key changes are committed or, if any fails, none is, and
the retry receipt asks for the whole stanza again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

from google.protobuf.message import DecodeError

from wamd._proto.message_pb2 import Message
from wamd.auth.creds import AuthCreds
from wamd.binary import Jid, Node
from wamd.errors import (
    DuplicateMessageError,
    InvalidMessageError,
    JidError,
    StanzaError,
    WamdError,
)
from wamd.events import Message as MessageEvent
from wamd.messages.ack import NackReason, build_ack
from wamd.messages.receipt import RetryKeys, build_receipt, build_retry_receipt
from wamd.messages.retry import RecentIds, RetryCounter, take_pre_key
from wamd.signal.padding import unpad
from wamd.signal.repository import SignalRepository

__all__ = [
    "DecryptFailure",
    "Envelope",
    "MessageReceiver",
    "ReceiveResult",
    "ReceivedMessage",
    "parse_envelope",
]

log = logging.getLogger(__name__)

_HISTORY_SYNC = 5  # ProtocolMessage.Type.HISTORY_SYNC_NOTIFICATION
NO_MESSAGE_TEXT = "Message absent from node"


@dataclass(frozen=True, slots=True)
class Envelope:
    """Who a ``<message>`` is from and where it belongs, before decryption.

    ``chat`` is the conversation (a user JID without device for 1:1 chats, the group or
    broadcast JID otherwise); ``author`` the device that wrote it (its Signal address);
    ``author_alt`` the author's JID in the other address space (LID ↔ PN) if the stanza
    told it; ``kind`` one of ``chat``, ``group``, ``broadcast``, ``newsletter``.
    """

    id: str
    sender: str
    chat: str
    author: str
    author_alt: str | None
    kind: str
    from_me: bool
    timestamp: int
    push_name: str | None
    category: str | None
    addressing_mode: str
    offline: bool


def _same_user(jid: str, other: str | None) -> bool:
    if not other:
        return False
    try:
        a, b = Jid.parse(jid), Jid.parse(other)
    except JidError:
        return False
    return a.user == b.user and a.to_non_ad().server == b.to_non_ad().server


def parse_envelope(node: Node, me: str, me_lid: str | None = None) -> Envelope:
    """Read the routing attributes of a ``<message>`` (StanzaError if they make no sense)."""
    attrs = node.attrs
    msg_id, sender = attrs.get("id"), attrs.get("from")
    if node.tag != "message" or not msg_id or not sender:
        raise StanzaError(f"not a message stanza with id and from: <{node.tag}>")
    try:
        jid = Jid.parse(sender)
    except JidError as exc:
        raise StanzaError(f"message {msg_id}: bad 'from' {sender!r}: {exc}") from None
    participant = attrs.get("participant")
    recipient = attrs.get("recipient")

    def is_me(value: str | None) -> bool:
        return _same_user(value, me) or _same_user(value, me_lid) if value else False

    if jid.is_user:
        from_me = is_me(sender)
        if recipient and not jid.is_bot:
            if not from_me:
                raise StanzaError(f"message {msg_id} names a recipient but is not from us")
            chat = recipient
        else:
            chat = sender
        kind, author = "chat", sender
        chat = str(Jid.parse(chat).to_non_ad())
    elif jid.is_group or jid.is_broadcast:
        if not participant:
            raise StanzaError(f"message {msg_id} from {sender} has no participant")
        kind = "group" if jid.is_group else "broadcast"
        author, chat = participant, sender
        from_me = is_me(participant) if kind == "group" else _same_user(participant, me)
    elif jid.is_newsletter:
        kind, author, chat, from_me = "newsletter", sender, sender, is_me(sender)
    else:
        raise StanzaError(f"message {msg_id}: unknown kind of sender {sender!r}")
    mode = attrs.get("addressing_mode") or ("lid" if author.endswith("lid") else "pn")
    if mode == "lid":
        alt = attrs.get("participant_pn") or attrs.get("sender_pn")
        alt = alt or attrs.get("peer_recipient_pn")
    else:
        alt = attrs.get("participant_lid") or attrs.get("sender_lid")
        alt = alt or attrs.get("peer_recipient_lid")
    t = attrs.get("t", "")
    return Envelope(
        id=msg_id,
        sender=sender,
        chat=chat,
        author=author,
        author_alt=alt or None,
        kind=kind,
        from_me=from_me,
        timestamp=int(t) if t.isdigit() else 0,
        push_name=attrs.get("notify"),
        category=attrs.get("category"),
        addressing_mode=mode,
        offline=bool(attrs.get("offline")),
    )


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A decrypted message: its envelope and the decoded ``Message`` protobuf.

    A ``deviceSentMessage`` (our own message, sent from another device) is already
    unwrapped: ``message`` is what we sent, ``from_me`` is True, ``chat`` its chat.
    """

    id: str
    chat: str
    sender: str
    timestamp: int
    from_me: bool
    push_name: str | None
    message: Message = field(repr=False)
    sender_alt: str | None = None
    kind: str = "chat"
    category: str | None = None
    retry_count: int = 0
    offline: bool = False

    @property
    def text(self) -> str | None:
        """The plain text of a text message, else None."""
        if self.message.HasField("conversation"):
            return self.message.conversation
        if self.message.HasField("extendedTextMessage"):
            return self.message.extendedTextMessage.text
        return None

    def to_event(self) -> MessageEvent:
        """The :class:`wamd.events.Message` event of this message."""
        return MessageEvent(
            id=self.id,
            chat=self.chat,
            sender=self.sender,
            timestamp=self.timestamp,
            from_me=self.from_me,
            push_name=self.push_name,
            text=self.text,
            message=self.message,
            received=self,
        )


@dataclass(frozen=True, slots=True)
class DecryptFailure:
    """A message that could not be decrypted or decoded, and why (``error`` never holds keys)."""

    id: str
    chat: str
    sender: str
    timestamp: int
    from_me: bool
    error: str
    error_type: str
    retry_requested: bool


@dataclass(frozen=True, slots=True)
class ReceiveResult:
    """What came of one ``<message>``: the message or the failure, and what to send back.

    ``replies`` go out in order. ``duplicate`` marks a message seen before (no new
    message then). ``creds_changed`` names creds fields changed (a pre-key handed out in
    a retry receipt): persist the creds.
    """

    replies: tuple[Node, ...]
    message: ReceivedMessage | None = None
    failure: DecryptFailure | None = None
    duplicate: bool = False
    creds_changed: frozenset[str] = frozenset()


class _Failed(Exception):
    """Rolls the stanza's transaction back; carries the error that made it fail."""

    def __init__(self, error: WamdError) -> None:
        super().__init__(str(error))
        self.error = error


class MessageReceiver:
    """Decrypts incoming messages for one account and answers them (see the module doc).

    ``creds`` is the live creds object (our JIDs, registration id, keys for retry
    receipts). ``online`` False makes delivery receipts ``inactive``. The receiver keeps
    small in-memory tables: retry counts per message and recently processed ids.
    """

    def __init__(self, repo: SignalRepository, creds: AuthCreds, *, online: bool = True) -> None:
        self._repo = repo
        self._creds = creds
        self.online = online
        self._retries = RetryCounter()
        self._recent = RecentIds()

    def _me(self) -> tuple[str, str | None]:
        me = self._creds.me
        if me is None:
            raise StanzaError("cannot receive messages before the device is linked")
        return me.id, me.lid

    async def receive(self, node: Node) -> ReceiveResult:
        """Process one ``<message>`` stanza (StanzaError if it has no id or from)."""
        me, me_lid = self._me()
        if not node.attrs.get("id") or not node.attrs.get("from"):
            raise StanzaError(f"cannot process <{node.tag}> without id and from")
        try:
            env = parse_envelope(node, me, me_lid)
        except StanzaError as exc:
            log.warning("refusing message: %s", exc)
            return ReceiveResult((build_ack(node, me, error=NackReason.UNHANDLED_ERROR),))
        enc = node.get_child("enc")
        if enc is not None and enc.attrs.get("type") == "msmsg":
            return ReceiveResult((build_ack(node, me, error=NackReason.MISSING_MESSAGE_SECRET),))
        if (env.chat, env.id, env.author) in self._recent:
            return ReceiveResult(self._receipts(node, env, None), duplicate=True)
        await self._learn_mapping(env)
        try:
            message, retry_count = await self._decrypt(node, env)
        except _Failed as failed:
            return await self._on_failure(node, env, failed.error)
        self._retries.clear(env.id, env.author)
        self._recent.add(env.chat, env.id, env.author)
        received = ReceivedMessage(
            id=env.id,
            chat=env.chat,
            sender=env.author,
            timestamp=env.timestamp,
            from_me=env.from_me,
            push_name=env.push_name,
            message=message,
            sender_alt=env.author_alt,
            kind=env.kind,
            category=env.category,
            retry_count=retry_count,
            offline=env.offline,
        )
        return ReceiveResult(self._receipts(node, env, message), message=received)

    async def _learn_mapping(self, env: Envelope) -> None:
        """Store a LID ↔ PN mapping the stanza told us, and move sessions to the LID."""
        try:
            await self._store_mapping(env)
        except WamdError as exc:  # a bad mapping must not cost us the message
            log.warning("could not store the LID mapping of %s: %s", env.author, exc)

    async def _store_mapping(self, env: Envelope) -> None:
        alt = env.author_alt
        if not alt or env.kind == "newsletter":
            return
        primary = env.author if env.kind != "chat" or not env.from_me else env.chat
        try:
            alt_jid, primary_jid = Jid.parse(alt), Jid.parse(primary)
        except JidError:
            log.info("ignoring a malformed alternate JID %r", alt)
            return
        if alt_jid.is_lid and primary_jid.is_pn_user:
            if await self._repo.pn_for_lid(alt) is None:
                await self._repo.store_lid_mapping(alt, primary)
                await self._repo.migrate_session(primary, alt)
        elif alt_jid.is_pn_user and primary_jid.is_lid:
            await self._repo.store_lid_mapping(primary, alt)
            await self._repo.migrate_session(alt, primary)

    async def _decrypt(self, node: Node, env: Envelope) -> tuple[Message, int]:
        repo = self._repo
        result = Message()
        found = 0
        retry_count = 0
        try:
            if env.kind == "newsletter":
                txn_key = f"newsletter:{env.chat}"
            else:
                txn_key = f"session:{await repo.address_of(env.author)}"
            async with repo.store.transaction(txn_key):
                for child in node.children():
                    if child.tag == "enc" and child.attrs.get("count", "").isdigit():
                        retry_count = int(child.attrs["count"])
                    if child.tag not in ("enc", "plaintext"):
                        continue
                    data = child.content_bytes()
                    if data is None:
                        continue
                    found += 1
                    kind = "plaintext" if child.tag == "plaintext" else child.attrs.get("type")
                    message = await self._decrypt_one(env, kind, data)
                    result.MergeFrom(message)
                if not found:
                    raise _Failed(InvalidMessageError(NO_MESSAGE_TEXT))
        except _Failed:
            raise
        except WamdError as exc:
            raise _Failed(exc) from None
        return result, retry_count

    async def _decrypt_one(self, env: Envelope, kind: str | None, data: bytes) -> Message:
        repo = self._repo
        if kind == "skmsg":
            padded = await repo.decrypt_group_message(env.chat, env.author, data)
        elif kind in ("pkmsg", "msg"):
            padded = await repo.decrypt_message(env.author, kind, data)
        elif kind == "plaintext":
            padded = None
        else:
            raise InvalidMessageError(f"unknown e2e type {kind!r}")
        raw = data if padded is None else unpad(padded)
        try:
            message = Message.FromString(raw)
        except DecodeError:
            raise InvalidMessageError(f"{kind} content is not a valid Message protobuf") from None
        if message.HasField("deviceSentMessage") and message.deviceSentMessage.HasField("message"):
            inner = Message()
            inner.CopyFrom(message.deviceSentMessage.message)
            message = inner
        if message.HasField("senderKeyDistributionMessage"):
            skdm = message.senderKeyDistributionMessage
            group = skdm.groupId or env.chat
            await repo.process_sender_key_distribution(
                group, env.author, skdm.axolotlSenderKeyDistributionMessage
            )
        return message

    def _receipts(self, node: Node, env: Envelope, message: Message | None) -> tuple[Node, ...]:
        me, _ = self._me()
        if env.kind == "newsletter":
            return (build_ack(node, me),)
        participant = node.attrs.get("participant")
        to = env.chat if env.kind != "chat" else env.sender
        if env.category == "peer":
            receipt = build_receipt(to, [env.id], participant=participant, type="peer_msg")
        elif env.from_me:
            receipt = build_receipt(env.chat, [env.id], participant=env.author, type="sender")
        else:
            kind = None if self.online else "inactive"
            receipt = build_receipt(to, [env.id], participant=participant, type=kind)
        out = [receipt]
        if (
            message is not None
            and message.HasField("protocolMessage")
            and message.protocolMessage.type == _HISTORY_SYNC
        ):
            out.append(build_receipt(env.chat, [env.id], type="hist_sync"))
        return tuple(out)

    async def _on_failure(self, node: Node, env: Envelope, error: WamdError) -> ReceiveResult:
        me, _ = self._me()
        failure = DecryptFailure(
            id=env.id,
            chat=env.chat,
            sender=env.author,
            timestamp=env.timestamp,
            from_me=env.from_me,
            error=str(error),
            error_type=type(error).__name__,
            retry_requested=False,
        )
        log.warning("message %s from %s failed: %s", env.id, env.author, error)
        if isinstance(error, DuplicateMessageError):
            nack = build_ack(node, me, error=NackReason.PARSING_ERROR)
            return ReceiveResult((nack,), failure=failure, duplicate=True)
        if str(error) == NO_MESSAGE_TEXT or env.category == "peer":
            return ReceiveResult((build_ack(node, me),), failure=failure)
        nack = build_ack(node, me, error=NackReason.UNHANDLED_ERROR)
        count = self._retries.next(env.id, node.attrs.get("participant"))
        if count is None:
            return ReceiveResult((nack,), failure=failure)
        keys: RetryKeys | None = None
        changed: frozenset[str] = frozenset()
        if count > 1:
            keys, changed = await self._retry_keys()
        receipt = build_retry_receipt(
            node, count=count, registration_id=self._creds.registration_id, keys=keys
        )
        failure = replace(failure, retry_requested=True)
        return ReceiveResult((receipt, nack), failure=failure, creds_changed=changed)

    async def _retry_keys(self) -> tuple[RetryKeys | None, frozenset[str]]:
        creds = self._creds
        if not creds.account:
            log.warning("no signed device identity in the creds; retry receipt sent without keys")
            return None, frozenset()
        pre_key, changed = await take_pre_key(creds, self._repo.store)
        spk = creds.signed_pre_key
        keys = RetryKeys(
            identity=creds.signed_identity_key.public,
            pre_key=pre_key,
            signed_pre_key_id=spk.key_id,
            signed_pre_key_public=spk.key_pair.public,
            signed_pre_key_signature=spk.signature,
            device_identity=creds.account,
        )
        return keys, changed
