"""Bookkeeping for retry receipts: how often we asked for a message, and a pre-key to share.

When a message fails to decrypt we ask its sender to resend it, at most
:data:`MAX_RETRIES` times per message (protocol.md §6.9). From the second request on we
send a fresh one-time pre-key of ours along, so the sender can start a new session.
"""

from __future__ import annotations

from collections import OrderedDict

from wamd.auth.creds import AuthCreds
from wamd.crypto import KeyPair
from wamd.signal.keys import PreKey, generate_pre_keys
from wamd.signal.store import KeyCategory, KeyStore

__all__ = ["MAX_RETRIES", "RecentIds", "RetryCounter", "take_pre_key"]

MAX_RETRIES = 5
"""How many retry receipts we send for one message at most."""

_PRE_KEY = KeyCategory.PRE_KEY.value


class _Bounded:
    """An insertion-ordered map that forgets its oldest entries beyond ``limit``."""

    __slots__ = ("_items", "_limit")

    def __init__(self, limit: int) -> None:
        self._items: OrderedDict[str, int] = OrderedDict()
        self._limit = limit

    def _put(self, key: str, value: int) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._limit:
            self._items.popitem(last=False)


class RetryCounter(_Bounded):
    """How many retry receipts were sent per message (by id and author), bounded in size."""

    __slots__ = ()

    def __init__(self, limit: int = 10_000) -> None:
        super().__init__(limit)

    def next(self, msg_id: str, author: str | None) -> int | None:
        """Count one more retry for this message; None once :data:`MAX_RETRIES` were sent."""
        key = f"{msg_id}:{author}"
        count = self._items.get(key, 0)
        if count >= MAX_RETRIES:
            return None
        self._put(key, count + 1)
        return count + 1

    def clear(self, msg_id: str, author: str | None) -> None:
        """Forget the count of a message (it was decrypted after all)."""
        self._items.pop(f"{msg_id}:{author}", None)


class RecentIds(_Bounded):
    """The messages processed lately (by chat, id and author), to spot duplicates."""

    __slots__ = ()

    def __init__(self, limit: int = 5_000) -> None:
        super().__init__(limit)

    @staticmethod
    def _key(chat: str, msg_id: str, author: str) -> str:
        return f"{chat}\x00{msg_id}\x00{author}"

    def add(self, chat: str, msg_id: str, author: str) -> None:
        """Remember a processed message."""
        self._put(self._key(chat, msg_id, author), 1)

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, tuple) or len(item) != 3:
            return False
        return self._key(*item) in self._items


async def take_pre_key(creds: AuthCreds, store: KeyStore) -> tuple[PreKey, frozenset[str]]:
    """A one-time pre-key to hand out, and the names of the creds fields that changed.

    A key made earlier but not uploaded yet is used first; otherwise a new one is made
    with ``creds.next_pre_key_id`` and stored. Either way it counts as handed out
    (``first_unuploaded_pre_key_id`` moves past it), as Baileys' ``getNextPreKeys(1)``
    does. The caller persists the creds.
    """
    first = creds.first_unuploaded_pre_key_id
    if creds.next_pre_key_id > first:
        stored = (await store.get(_PRE_KEY, [str(first)])).get(str(first))
        if stored is not None and len(stored) == 64:
            key = PreKey(first, KeyPair(stored[:32], stored[32:]))
            creds.first_unuploaded_pre_key_id = first + 1
            return key, frozenset({"first_unuploaded_pre_key_id"})
    key = generate_pre_keys(creds.next_pre_key_id, 1)[0]
    pair = key.key_pair
    await store.set({_PRE_KEY: {str(key.key_id): pair.private + pair.public}})
    creds.next_pre_key_id = key.key_id + 1
    creds.first_unuploaded_pre_key_id = max(creds.first_unuploaded_pre_key_id, key.key_id + 1)
    return key, frozenset({"next_pre_key_id", "first_unuploaded_pre_key_id"})
