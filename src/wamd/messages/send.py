"""Building outgoing ``<message>`` stanzas: 1:1, group, and retry resends (protocol.md §6.8).

These functions encrypt through a :class:`~wamd.signal.repository.SignalRepository` and
return the stanza to send; they do no I/O of their own. The caller first finds the
devices (:mod:`wamd.messages.usync`) and makes sure there is a session with each
(:mod:`wamd.messages.prekeys`, :func:`missing_sessions`).

- 1:1: the recipient's devices get the message; our own other devices get it wrapped in a
  ``deviceSentMessage`` so they show it as sent by us. Each device gets its own
  ``<to jid><enc v="2" type="pkmsg|msg">`` under ``<participants>``.
- Group: the message is encrypted once with our sender key (``<enc type="skmsg">``);
  the devices that do not have our sender key yet (``sender-key-memory``) get it
  pairwise in a ``senderKeyDistributionMessage``, and are then remembered.
- Whenever a pairwise ciphertext is a ``pkmsg`` the stanza carries our
  ``<device-identity>`` so the receiver can check who we are.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from wamd._proto.message_pb2 import Message
from wamd.auth.creds import AuthCreds
from wamd.binary import Jid, Node
from wamd.errors import InvalidRecordError, SendError, UsageError, WamdError
from wamd.signal.keys import PreKeyBundle
from wamd.signal.padding import pad
from wamd.signal.repository import SignalRepository
from wamd.signal.store import KeyCategory, KeyStore

__all__ = [
    "Me",
    "OutgoingMessage",
    "build_direct_message",
    "build_group_message",
    "build_peer_message",
    "build_retry_resend",
    "clear_sender_key_memory",
    "inject_bundles",
    "load_sender_key_memory",
    "missing_sessions",
    "parse_sender_key_memory",
    "text_message",
]

log = logging.getLogger(__name__)

_MEMORY = KeyCategory.SENDER_KEY_MEMORY.value
_HOSTED_SERVERS = ("hosted", "hosted.lid")
_HOSTED_DEVICE = 99


@dataclass(frozen=True, slots=True)
class Me:
    """Who we are when sending: our PN device JID, our LID, and our signed device identity.

    ``lid`` may be given with or without the device; our device number is the one of
    ``pn``. ``account`` is the serialized ``ADVSignedDeviceIdentity`` (with the account
    signature key) that goes into ``<device-identity>``.
    """

    pn: str
    lid: str | None = None
    account: bytes | None = None

    def __post_init__(self) -> None:
        if not Jid.parse(self.pn).is_pn_user:
            raise UsageError(f"our PN JID {self.pn!r} is not a phone-number JID")
        if self.lid is not None and not Jid.parse(self.lid).is_lid:
            raise UsageError(f"our LID {self.lid!r} is not a @lid JID")

    def __repr__(self) -> str:
        return f"Me(pn={self.pn!r}, lid={self.lid!r})"

    @classmethod
    def from_creds(cls, creds: AuthCreds) -> Me:
        """Our identity from linked creds (UsageError before pairing)."""
        if creds.me is None:
            raise UsageError("the creds are not linked to an account yet (no creds.me)")
        return cls(creds.me.id, creds.me.lid, creds.account)

    @property
    def device(self) -> int:
        """Our device number."""
        return Jid.parse(self.pn).device

    @property
    def pn_user(self) -> str:
        """Our phone-number user (no device, no server)."""
        return Jid.parse(self.pn).user

    @property
    def lid_user(self) -> str | None:
        """Our LID user (no device, no server), if known."""
        return None if self.lid is None else Jid.parse(self.lid).user

    @property
    def lid_device(self) -> str | None:
        """Our own device in LID form, if our LID is known."""
        return None if self.lid is None else str(Jid.parse(self.lid).with_device(self.device))

    def is_own_user(self, jid: str) -> bool:
        """True if ``jid`` is one of our own devices (PN or LID form, any device)."""
        parsed = Jid.parse(jid)
        if parsed.is_lid:
            return parsed.user == self.lid_user
        return parsed.is_pn_user and parsed.user == self.pn_user

    def is_own_device(self, jid: str) -> bool:
        """True if ``jid`` is this very device (PN or LID form)."""
        return self.is_own_user(jid) and Jid.parse(jid).device == self.device


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A stanza ready to send, and who it was encrypted for.

    ``devices`` got a pairwise ``enc``; ``failed`` are the devices whose encryption failed
    (with the reason), which were left out; ``skdm_devices`` got our sender key (groups).
    """

    id: str
    stanza: Node
    devices: tuple[str, ...]
    failed: tuple[tuple[str, str], ...] = ()
    skdm_devices: tuple[str, ...] = ()


def text_message(text: str, *, context_info: object | None = None) -> Message:
    """A text ``Message``: ``conversation``, or ``extendedTextMessage`` with context.

    ``context_info`` is a ``wamd._proto.message_pb2.ContextInfo`` (quote, mentions).
    """
    message = Message()
    if context_info is None:
        message.conversation = text
    else:
        message.extendedTextMessage.text = text
        message.extendedTextMessage.contextInfo.CopyFrom(context_info)  # type: ignore[arg-type]
    return message


PadRandom = Callable[[], int]
"""Returns one random byte (0..255) choosing the padding length; None means os.urandom."""


def _padded(message: Message, pad_random: PadRandom | None) -> bytes:
    return pad(message.SerializeToString(), None if pad_random is None else pad_random())


async def missing_sessions(repo: SignalRepository, jids: Iterable[str]) -> list[str]:
    """The device JIDs among ``jids`` we have no open session with (fetch their bundles)."""
    return [jid for jid in dict.fromkeys(jids) if not await repo.has_session(jid)]


async def inject_bundles(repo: SignalRepository, bundles: dict[str, PreKeyBundle]) -> None:
    """Start a session with each device of ``bundles`` (device JID to its fetched bundle)."""
    for jid, bundle in bundles.items():
        await repo.inject_session(jid, bundle)


async def _encrypt_each(
    repo: SignalRepository,
    targets: Sequence[tuple[str, bytes]],
    enc_attrs: dict[str, str],
) -> tuple[list[Node], list[str], list[tuple[str, str]], bool]:
    nodes: list[Node] = []
    done: list[str] = []
    failed: list[tuple[str, str]] = []
    any_pkmsg = False
    for jid, plaintext in targets:
        try:
            enc_type, ciphertext = await repo.encrypt_message(jid, plaintext)
        except WamdError as exc:
            log.warning("could not encrypt for %s: %s", jid, exc)
            failed.append((jid, str(exc)))
            continue
        any_pkmsg = any_pkmsg or enc_type == "pkmsg"
        attrs = {"v": "2", "type": enc_type, **enc_attrs}
        nodes.append(Node("to", {"jid": jid}, [Node("enc", attrs, ciphertext)]))
        done.append(jid)
    return nodes, done, failed, any_pkmsg


def _device_identity(me: Me) -> Node:
    if not me.account:
        raise UsageError("a pkmsg needs our signed device identity, but creds.account is empty")
    return Node("device-identity", {}, me.account)


async def build_direct_message(
    repo: SignalRepository,
    me: Me,
    chat: str,
    message: Message,
    devices: Iterable[str],
    *,
    message_id: str,
    stanza_type: str = "text",
    extra_attrs: dict[str, str] | None = None,
    pad_random: PadRandom | None = None,
) -> OutgoingMessage:
    """The ``<message>`` stanza of a 1:1 message to ``chat`` (a PN or LID user JID).

    ``devices`` are the device JIDs of the recipient and of ourselves; our own exact
    device is skipped, our other devices get the ``deviceSentMessage`` copy. Raises
    SendError if there were devices but none could be encrypted for.
    """
    chat_jid = Jid.parse(chat)
    if not chat_jid.is_user or chat_jid.is_ad:
        raise UsageError(f"a 1:1 chat must be a user JID without a device, not {chat!r}")
    dsm = Message()
    dsm.deviceSentMessage.destinationJid = chat
    dsm.deviceSentMessage.message.CopyFrom(message)
    if message.HasField("messageContextInfo"):
        dsm.messageContextInfo.CopyFrom(message.messageContextInfo)
    plain = _padded(message, pad_random)
    wrapped = _padded(dsm, pad_random)
    own: list[tuple[str, bytes]] = []
    other: list[tuple[str, bytes]] = []
    for jid in dict.fromkeys(devices):
        if me.is_own_device(jid):
            continue
        if me.is_own_user(jid):
            own.append((jid, wrapped))
        else:
            other.append((jid, plain))
    nodes, done, failed, any_pkmsg = await _encrypt_each(repo, own + other, {})
    if failed and not done:
        raise SendError(f"message {message_id}: encryption failed for all {len(failed)} devices")
    content: list[Node] = []
    if nodes:
        content.append(Node("participants", {}, nodes))
    if any_pkmsg:
        content.append(_device_identity(me))
    attrs = {"id": message_id, "to": chat, "type": stanza_type, **(extra_attrs or {})}
    return OutgoingMessage(message_id, Node("message", attrs, content), tuple(done), tuple(failed))


async def build_peer_message(
    repo: SignalRepository,
    me: Me,
    message: Message,
    *,
    message_id: str,
    pad_random: PadRandom | None = None,
) -> OutgoingMessage:
    """A ``category="peer"`` message to our own phone (device 0), e.g. a key request.

    The single ``enc`` sits directly under ``<message>``, addressed to our own PN user.
    The content is not wrapped as sent-by-us (as whatsmeow sends peer messages).
    """
    phone = str(Jid.parse(me.pn).to_non_ad())
    enc_type, ciphertext = await repo.encrypt_message(phone, _padded(message, pad_random))
    content = [Node("enc", {"v": "2", "type": enc_type}, ciphertext)]
    if enc_type == "pkmsg":
        content.append(_device_identity(me))
    content.append(Node("meta", {"appdata": "default"}))
    attrs = {
        "id": message_id,
        "to": phone,
        "type": "text",
        "category": "peer",
        "push_priority": "high_force",
    }
    return OutgoingMessage(message_id, Node("message", attrs, content), (phone,))


async def load_sender_key_memory(store: KeyStore, group: str) -> dict[str, bool]:
    """The devices that already have our sender key for ``group`` (device JID → True)."""
    raw = (await store.get(_MEMORY, [group])).get(group)
    return {} if raw is None else parse_sender_key_memory(group, raw)


def parse_sender_key_memory(group: str, raw: bytes) -> dict[str, bool]:
    """A stored sender-key-memory value of ``group`` (InvalidRecordError if unreadable)."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRecordError(f"sender-key-memory of {group}: not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidRecordError(f"sender-key-memory of {group}: not a JSON object")
    return {str(k): bool(v) for k, v in data.items()}


async def _remember(store: KeyStore, group: str, jids: Sequence[str]) -> None:
    if not jids:
        return
    async with store.transaction(f"group:{group}"):
        memory = await load_sender_key_memory(store, group)
        memory.update(dict.fromkeys(jids, True))
        value = json.dumps(memory, separators=(",", ":")).encode()
        await store.set({_MEMORY: {group: value}})


async def clear_sender_key_memory(store: KeyStore, group: str) -> None:
    """Forget who has our sender key for ``group`` (after a group retry receipt)."""
    await store.set({_MEMORY: {group: None}})


def _is_hosted(jid: str) -> bool:
    parsed = Jid.parse(jid)
    return parsed.server in _HOSTED_SERVERS or parsed.device == _HOSTED_DEVICE


def _skdm_message(group: str, skdm: bytes) -> Message:
    message = Message()
    message.senderKeyDistributionMessage.groupId = group
    message.senderKeyDistributionMessage.axolotlSenderKeyDistributionMessage = skdm
    return message


async def build_group_message(
    repo: SignalRepository,
    me: Me,
    group: str,
    message: Message,
    devices: Iterable[str],
    *,
    message_id: str,
    addressing_mode: str = "lid",
    stanza_type: str = "text",
    extra_attrs: dict[str, str] | None = None,
    pad_random: PadRandom | None = None,
) -> OutgoingMessage:
    """The ``<message>`` stanza of a group message; updates ``sender-key-memory``.

    ``devices`` are the devices of every member (ourselves included; our own device is
    skipped). We send as our LID device when the group is LID-addressed and our LID is
    known, else as our PN device. Hosted devices get no sender key.
    """
    if not Jid.parse(group).is_group:
        raise UsageError(f"{group!r} is not a group JID")
    sender = me.lid_device if addressing_mode == "lid" and me.lid_device else me.pn
    skmsg, skdm = await repo.encrypt_group_message(group, sender, _padded(message, pad_random))
    memory = await load_sender_key_memory(repo.store, group)
    skdm_plain = _padded(_skdm_message(group, skdm), pad_random)
    targets = [
        (jid, skdm_plain)
        for jid in dict.fromkeys(devices)
        if not me.is_own_device(jid) and not memory.get(jid) and not _is_hosted(jid)
    ]
    nodes, done, failed, any_pkmsg = await _encrypt_each(repo, targets, {})
    await _remember(repo.store, group, done)
    content = [Node("enc", {"v": "2", "type": "skmsg"}, skmsg)]
    if nodes:
        content.append(Node("participants", {}, nodes))
    if any_pkmsg:
        content.append(_device_identity(me))
    attrs = {
        "id": message_id,
        "to": group,
        "type": stanza_type,
        **(extra_attrs or {}),
        "addressing_mode": addressing_mode,
    }
    return OutgoingMessage(
        message_id, Node("message", attrs, content), tuple(done), tuple(failed), tuple(done)
    )


async def build_retry_resend(
    repo: SignalRepository,
    me: Me,
    chat: str,
    message: Message,
    device: str,
    *,
    message_id: str,
    count: int,
    bundle: PreKeyBundle | None = None,
    stanza_type: str = "text",
    pad_random: PadRandom | None = None,
) -> OutgoingMessage:
    """Our message ``message_id`` again, for the one ``device`` that asked with a retry receipt.

    ``bundle`` (from the retry receipt) starts a fresh session first. In a group the
    message carries our sender key again; to our own device it is wrapped as sent by us.
    Raises NoSessionError if there is no session with ``device`` (fetch its bundle).
    """
    if bundle is not None:
        await repo.inject_session(device, bundle)
    is_group = Jid.parse(chat).is_group
    payload = Message()
    payload.CopyFrom(message)
    if is_group:
        for sender in (me.lid_device, me.pn):
            if sender and await repo.has_sender_key(chat, sender):
                skdm = await repo.sender_key_distribution(chat, sender)
                payload.senderKeyDistributionMessage.groupId = chat
                payload.senderKeyDistributionMessage.axolotlSenderKeyDistributionMessage = skdm
                break
    own = me.is_own_user(device)
    if own:
        wrapped = Message()
        wrapped.deviceSentMessage.destinationJid = chat
        wrapped.deviceSentMessage.message.CopyFrom(payload)
        payload = wrapped
    enc_type, ciphertext = await repo.encrypt_message(device, _padded(payload, pad_random))
    attrs = {"id": message_id, "to": device, "type": stanza_type}
    if is_group:
        attrs["to"] = chat
        attrs["participant"] = device
    else:
        attrs["device_fanout"] = "false"
        if own:
            attrs["recipient"] = chat
    enc = Node("enc", {"v": "2", "type": enc_type, "count": str(count)}, ciphertext)
    stanza = Node("message", attrs, [enc, _device_identity(me)])
    return OutgoingMessage(message_id, stanza, (device,))
