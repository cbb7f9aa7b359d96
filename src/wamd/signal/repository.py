"""The Signal repository: pairwise and group encryption over a key store.

:class:`SignalRepository` is what the message layer talks to, in the shape Baileys users
know (``encryptMessage``, ``decryptMessage``, ``encryptGroupMessage``, ...). It turns JIDs
into Signal addresses, loads records from a :class:`~wamd.signal.store.KeyStore`, runs the
sans-IO cipher (:mod:`wamd.signal.session_cipher`, :mod:`wamd.signal.group`) and writes
the results back.

Every encrypt, decrypt, session injection and sender-key change runs inside ONE key-store
transaction: the ratchet step, the used one-time pre-key (deleted), the peer's identity
key and the sender-key state are committed together or not at all, and a message that
fails to decrypt leaves the store exactly as it was. Pairwise transactions are keyed by
the (LID-resolved) Signal address, so work on one device is serialised whether it is
named by its PN or its LID JID; group ones by the group JID.

Addresses (protocol.md §6.2): before any session or identity lookup, a phone-number (PN)
address is rewritten to the LID address when a ``lid-mapping`` for its user exists.
:meth:`SignalRepository.migrate_session` moves existing PN sessions to the LID address.
Sender keys are named after the JIDs exactly as given (as Baileys names them).

Identity keys: trust on first use, as Baileys does. A ``pkmsg`` from a peer whose identity
key changed replaces that peer's sessions and stored identity (protocol.md §6.3).

WhatsApp's random padding is not the repository's job: the message layer pads the
serialized ``Message`` before encrypting and unpads after decrypting
(:mod:`wamd.signal.padding`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from wamd.crypto import KeyPair
from wamd.errors import (
    InvalidMessageError,
    InvalidRecordError,
    NoSessionError,
    UsageError,
)
from wamd.signal.address import (
    DOMAIN_HOSTED,
    DOMAIN_HOSTED_LID,
    DOMAIN_LID,
    DOMAIN_PN,
    ProtocolAddress,
    SenderKeyName,
    parse_device_jid,
)
from wamd.signal.group import (
    create_distribution_message,
    group_decrypt,
    group_encrypt,
    process_distribution_message,
)
from wamd.signal.keys import PreKeyBundle, SignedPreKey
from wamd.signal.sender_key_record import SenderKeyRecord
from wamd.signal.session_builder import init_outgoing
from wamd.signal.session_cipher import decrypt_message, decrypt_pre_key_message, encrypt
from wamd.signal.session_record import SessionRecord
from wamd.signal.store import KeyCategory, KeyStore
from wamd.signal.wire import PreKeyMessage

__all__ = ["EncType", "LocalIdentity", "SignalRepository"]

log = logging.getLogger(__name__)

EncType = Literal["pkmsg", "msg"]
"""The ``type`` of a pairwise ``<enc>`` node."""

_SESSION = KeyCategory.SESSION.value
_IDENTITY = KeyCategory.IDENTITY_KEY.value
_PRE_KEY = KeyCategory.PRE_KEY.value
_SENDER_KEY = KeyCategory.SENDER_KEY.value
_LID_MAPPING = KeyCategory.LID_MAPPING.value
_DEVICE_LIST = KeyCategory.DEVICE_LIST.value
_REVERSE = "_reverse"
_PN_DOMAINS = (DOMAIN_PN, DOMAIN_HOSTED)
_LID_DOMAINS = (DOMAIN_LID, DOMAIN_HOSTED_LID)


@dataclass(frozen=True, slots=True)
class LocalIdentity:
    """Our own long-term Signal keys: identity key pair, registration id, signed pre-key.

    The auth layer builds this from its creds and hands it to :class:`SignalRepository`.
    """

    identity: KeyPair
    registration_id: int
    signed_pre_key: SignedPreKey

    def __repr__(self) -> str:
        return (
            f"LocalIdentity(identity={self.identity!r}, registration_id={self.registration_id}, "
            f"signed_pre_key_id={self.signed_pre_key.key_id})"
        )


class SignalRepository:
    """Signal encryption for one account over its key store (see the module docstring).

    ``now_ms`` is the clock (milliseconds since the epoch) stamped into session records.
    """

    def __init__(self, store: KeyStore, local: LocalIdentity, *, now_ms: Callable[[], int]) -> None:
        self._store = store
        self._local = local
        self._now_ms = now_ms

    @property
    def store(self) -> KeyStore:
        """The key store this repository reads and writes."""
        return self._store

    # --- addresses ----------------------------------------------------------------------

    async def address_of(self, jid: str) -> ProtocolAddress:
        """The Signal address sessions with ``jid`` live under (LID if a mapping exists)."""
        addr = ProtocolAddress.from_jid(jid)
        if addr.domain not in _PN_DOMAINS:
            return addr
        lid_user = await self._lid_user_for(addr.user)
        return addr if lid_user is None else addr.with_user(lid_user, lid=True)

    async def store_lid_mapping(self, lid: str, pn: str) -> None:
        """Remember that the LID user of ``lid`` is the PN user of ``pn`` (both directions)."""
        lid_user, lid_domain, _, _ = parse_device_jid(lid)
        pn_user, pn_domain, _, _ = parse_device_jid(pn)
        if lid_domain not in _LID_DOMAINS or pn_domain not in _PN_DOMAINS:
            raise UsageError(f"a LID-PN mapping needs a LID JID and a PN JID, got {lid!r}, {pn!r}")
        async with self._store.transaction(_LID_MAPPING):
            known = await self._store.get(_LID_MAPPING, [pn_user, lid_user + _REVERSE])
            if (
                known.get(pn_user) == lid_user.encode()
                and known.get(lid_user + _REVERSE) == pn_user.encode()
            ):
                return
            await self._store.set(
                {
                    _LID_MAPPING: {
                        pn_user: lid_user.encode(),
                        lid_user + _REVERSE: pn_user.encode(),
                    }
                }
            )

    async def lid_for_pn(self, pn: str) -> str | None:
        """The LID user mapped to the user of PN JID ``pn``, if known."""
        return await self._lid_user_for(parse_device_jid(pn)[0])

    async def pn_for_lid(self, lid: str) -> str | None:
        """The PN user mapped to the user of LID JID ``lid``, if known."""
        key = parse_device_jid(lid)[0] + _REVERSE
        found = await self._store.get(_LID_MAPPING, [key])
        return found[key].decode() if key in found else None

    async def migrate_session(self, pn: str, lid: str) -> int:
        """Move the open sessions of PN user ``pn``'s devices to LID user ``lid``.

        Devices are those in the stored ``device-list`` of the PN user plus the device of
        ``pn`` itself. Each PN session with an open session is copied to the same device
        under the LID address and deleted; the identity key comes along unless the LID
        address already has one. A LID address that already has an open session keeps
        it (the PN copy, unreachable once the mapping exists, is deleted). Returns the
        number of sessions moved; everything is one transaction.
        """
        pn_user, pn_domain, pn_device, _ = parse_device_jid(pn)
        lid_user, lid_domain, _, _ = parse_device_jid(lid)
        if pn_domain not in _PN_DOMAINS or lid_domain not in _LID_DOMAINS:
            raise UsageError(f"migrate_session needs a PN JID and a LID JID, got {pn!r}, {lid!r}")
        devices = {pn_device}
        listed = (await self._store.get(_DEVICE_LIST, [pn_user])).get(pn_user)
        if listed is not None:
            devices.update(_device_ids(listed, pn_user))
        base = ProtocolAddress.from_jid(pn)
        moves = [
            (base_dev, base_dev.with_user(lid_user, lid=True))
            for base_dev in (ProtocolAddress(base.name, d) for d in sorted(devices))
        ]
        async with self._store.transaction(f"migrate:{pn_user}"):
            old_ids = [str(src) for src, _ in moves]
            new_ids = [str(dst) for _, dst in moves]
            sessions = await self._store.get(_SESSION, old_ids + new_ids)
            identities = await self._store.get(_IDENTITY, old_ids + new_ids)
            session_changes: dict[str, bytes | None] = {}
            identity_changes: dict[str, bytes | None] = {}
            moved = 0
            for old, new in zip(old_ids, new_ids, strict=True):
                data = sessions.get(old)
                if data is None or not SessionRecord.deserialize(data).has_open_session():
                    continue
                session_changes[old] = None
                existing = sessions.get(new)
                if existing is not None and SessionRecord.deserialize(existing).has_open_session():
                    continue  # the LID session is the live one; the PN copy is unreachable
                session_changes[new] = data
                moved += 1
                if old in identities and new not in identities:
                    identity_changes[new] = identities[old]
            if session_changes:
                await self._store.set({_SESSION: session_changes, _IDENTITY: identity_changes})
        return moved

    # --- pairwise -----------------------------------------------------------------------

    async def inject_session(self, jid: str, bundle: PreKeyBundle) -> None:
        """Start an outgoing session with ``jid`` from its pre-key bundle.

        The bundle's signed pre-key signature is verified (InvalidSignatureError if bad);
        the bundle's identity key becomes the stored identity of the address.
        """
        addr = str(await self.address_of(jid))
        async with self._store.transaction(f"session:{addr}"):
            record = await self._load_session(addr)
            init_outgoing(record, self._local.identity, bundle, now_ms=self._now_ms())
            await self._store.set(
                {_SESSION: {addr: record.serialize()}, _IDENTITY: {addr: bundle.identity_key}}
            )

    async def has_session(self, jid: str) -> bool:
        """True if there is an open session with ``jid`` to encrypt with."""
        addr = str(await self.address_of(jid))
        data = (await self._store.get(_SESSION, [addr])).get(addr)
        return data is not None and SessionRecord.deserialize(data).has_open_session()

    async def delete_sessions(self, jids: Iterable[str]) -> None:
        """Forget the sessions with these JIDs (one commit)."""
        addrs = [str(await self.address_of(jid)) for jid in jids]
        if addrs:
            await self._store.set({_SESSION: dict.fromkeys(addrs)})

    async def encrypt_message(self, jid: str, plaintext: bytes) -> tuple[EncType, bytes]:
        """Encrypt for one device: ``("pkmsg", ...)`` until the peer answers, then ``"msg"``.

        ``plaintext`` should already be padded by the message layer. Raises
        NoSessionError if there is no open session (inject one from a bundle first).
        """
        addr = str(await self.address_of(jid))
        async with self._store.transaction(f"session:{addr}"):
            record = await self._load_session(addr)
            out = encrypt(record, self._local.identity, self._local.registration_id, plaintext)
            await self._store.set({_SESSION: {addr: record.serialize()}})
        return out.type, out.body

    async def decrypt_message(self, jid: str, enc_type: str, ciphertext: bytes) -> bytes:
        """Decrypt a ``pkmsg`` or ``msg`` from device ``jid``; returns the padded plaintext.

        On any failure (bad MAC, replay, unknown pre-key, malformed bytes) nothing is
        written. A ``pkmsg`` that consumes a one-time pre-key deletes it in the same commit.
        """
        if enc_type not in ("pkmsg", "msg"):
            raise InvalidMessageError(f"unknown pairwise message type {enc_type!r}")
        message = PreKeyMessage.parse(ciphertext) if enc_type == "pkmsg" else None
        addr = str(await self.address_of(jid))
        async with self._store.transaction(f"session:{addr}"):
            record = await self._load_session(addr)
            if message is None:
                plaintext = decrypt_message(
                    record, self._local.identity, ciphertext, now_ms=self._now_ms()
                )
                await self._store.set({_SESSION: {addr: record.serialize()}})
                return plaintext
            one_time = await self._load_pre_key(message.pre_key_id)
            spk = self._local.signed_pre_key
            result = decrypt_pre_key_message(
                record,
                self._local.identity,
                message,
                signed_pre_key=spk.key_pair if message.signed_pre_key_id == spk.key_id else None,
                one_time_pre_key=one_time,
                now_ms=self._now_ms(),
            )
            changes: dict[str, dict[str, bytes | None]] = {
                _SESSION: {addr: record.serialize()},
                _IDENTITY: {addr: result.identity_key},
            }
            if result.used_pre_key_id is not None:
                changes[_PRE_KEY] = {str(result.used_pre_key_id): None}
            await self._store.set(changes)
        if result.identity_changed:
            log.info("identity key of %s changed; its old sessions were replaced", addr)
        return result.plaintext

    # --- groups ---------------------------------------------------------------------------

    async def encrypt_group_message(
        self, group: str, me: str, plaintext: bytes
    ) -> tuple[bytes, bytes]:
        """Encrypt for a group with our sender key (made on first use).

        ``me`` is our own device JID as the group knows us (LID or PN). Returns the
        ``skmsg`` bytes and our sender key distribution message (the axolotl bytes) for
        the members that don't have it yet. ``plaintext`` should already be padded.
        """
        name = str(SenderKeyName.from_jids(group, me))
        async with self._store.transaction(f"group:{group}"):
            record = await self._load_sender_key(name)
            skdm = create_distribution_message(record)
            ciphertext = group_encrypt(record, plaintext)
            await self._store.set({_SENDER_KEY: {name: record.serialize()}})
        return ciphertext, skdm.serialize()

    async def sender_key_distribution(self, group: str, me: str) -> bytes:
        """Our sender key distribution message for ``group`` (making the key if needed)."""
        name = str(SenderKeyName.from_jids(group, me))
        async with self._store.transaction(f"group:{group}"):
            record = await self._load_sender_key(name)
            was_empty = record.is_empty()
            skdm = create_distribution_message(record)
            if was_empty:
                await self._store.set({_SENDER_KEY: {name: record.serialize()}})
        return skdm.serialize()

    async def has_sender_key(self, group: str, jid: str) -> bool:
        """True if a sender key of ``jid`` in ``group`` is stored."""
        name = str(SenderKeyName.from_jids(group, jid))
        return name in await self._store.get(_SENDER_KEY, [name])

    async def process_sender_key_distribution(self, group: str, author: str, skdm: bytes) -> None:
        """Store ``author``'s sender key for ``group`` from its distribution message."""
        name = str(SenderKeyName.from_jids(group, author))
        async with self._store.transaction(f"group:{group}"):
            record = await self._load_sender_key(name)
            if process_distribution_message(record, skdm):
                await self._store.set({_SENDER_KEY: {name: record.serialize()}})

    async def decrypt_group_message(self, group: str, author: str, ciphertext: bytes) -> bytes:
        """Verify and decrypt an ``skmsg`` from ``author`` in ``group`` (padded plaintext)."""
        name = str(SenderKeyName.from_jids(group, author))
        async with self._store.transaction(f"group:{group}"):
            found = (await self._store.get(_SENDER_KEY, [name])).get(name)
            if found is None:
                raise NoSessionError(f"no sender key for {name}")
            record = SenderKeyRecord.deserialize(found)
            plaintext = group_decrypt(record, ciphertext)
            await self._store.set({_SENDER_KEY: {name: record.serialize()}})
        return plaintext

    # --- loading --------------------------------------------------------------------------

    async def _lid_user_for(self, pn_user: str) -> str | None:
        found = await self._store.get(_LID_MAPPING, [pn_user])
        return found[pn_user].decode() if pn_user in found else None

    async def _load_session(self, addr: str) -> SessionRecord:
        data = (await self._store.get(_SESSION, [addr])).get(addr)
        return SessionRecord() if data is None else SessionRecord.deserialize(data)

    async def _load_sender_key(self, name: str) -> SenderKeyRecord:
        data = (await self._store.get(_SENDER_KEY, [name])).get(name)
        return SenderKeyRecord() if data is None else SenderKeyRecord.deserialize(data)

    async def _load_pre_key(self, key_id: int | None) -> KeyPair | None:
        if key_id is None:
            return None
        data = (await self._store.get(_PRE_KEY, [str(key_id)])).get(str(key_id))
        if data is None:
            return None
        if len(data) != 64:
            raise InvalidRecordError(f"pre-key {key_id}: stored value is {len(data)} bytes, not 64")
        return KeyPair(data[:32], data[32:])


def _device_ids(raw: bytes, user: str) -> set[int]:
    try:
        items = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRecordError(f"device-list of {user}: not valid JSON") from None
    if not isinstance(items, list):
        raise InvalidRecordError(f"device-list of {user}: not a JSON array")
    out: set[int] = set()
    for item in items:
        text = str(item)
        if not text.isdigit():
            raise InvalidRecordError(f"device-list of {user}: {text!r} is not a device id")
        out.add(int(text))
    return out
