"""One-time pre-keys: how many to upload, which ids, and the upload stanza (protocol.md §5.2).

:func:`plan_upload` is pure: from the creds counters and a target it says which ids to
upload, which of them are new, and the counters afterwards. :func:`prepare_upload` makes
the new keys, stores them in the key store in one transaction and advances the creds
counters, all before anything is sent, so a key the server may hand out always exists
locally.
"""

from __future__ import annotations

from dataclasses import dataclass

from wamd.auth import AuthState, KeyCategory
from wamd.binary import S_WHATSAPP_NET, Node
from wamd.crypto import DJB_TYPE, KeyPair
from wamd.errors import CorruptStoreError
from wamd.messages.prekeys import pre_key_node, signed_pre_key_node
from wamd.signal.keys import generate_pre_keys

__all__ = [
    "INITIAL_PRE_KEY_COUNT",
    "MIN_PRE_KEY_COUNT",
    "UploadPlan",
    "newest_pre_key_missing",
    "plan_upload",
    "pre_key_upload_node",
    "prepare_upload",
    "upload_target",
]

INITIAL_PRE_KEY_COUNT = 812
"""Pre-keys uploaded when the server holds none (first login)."""
MIN_PRE_KEY_COUNT = 5
"""Refill size, and the server count at or below which a refill happens."""
_MAX_ID = 1 << 24


def upload_target(server_count: int) -> int:
    """How many keys to upload for a server count (812 when it has none, else 5)."""
    return INITIAL_PRE_KEY_COUNT if server_count == 0 else MIN_PRE_KEY_COUNT


@dataclass(frozen=True, slots=True)
class UploadPlan:
    """Ids to upload (``first`` .. ``first + count - 1``), of which ``new_from`` on are new.

    ``next_pre_key_id`` and ``first_unuploaded_pre_key_id`` are the creds counters after
    the upload.
    """

    first: int
    count: int
    new_from: int
    new_count: int
    next_pre_key_id: int
    first_unuploaded_pre_key_id: int

    @property
    def ids(self) -> range:
        """The ids uploaded."""
        return range(self.first, self.first + self.count)


def plan_upload(next_pre_key_id: int, first_unuploaded_pre_key_id: int, target: int) -> UploadPlan:
    """The ids and counters for uploading ``target`` keys (Baileys' allocation rule).

    Keys generated earlier but never uploaded (``first_unuploaded .. next - 1``) are
    uploaded first; the rest are new, numbered from ``next_pre_key_id``. Raises
    :class:`~wamd.errors.CorruptStoreError` if the ids would pass 2**24 - 1 (they travel
    as 3 bytes; no account gets there).
    """
    available = max(0, next_pre_key_id - first_unuploaded_pre_key_id)
    first = first_unuploaded_pre_key_id
    last = first + target - 1
    if first < 1 or last >= _MAX_ID:
        raise CorruptStoreError(
            f"pre-key ids {first}..{last} are outside 1..{_MAX_ID - 1}; the creds counters "
            "are damaged"
        )
    return UploadPlan(
        first=first,
        count=target,
        new_from=max(next_pre_key_id, first),
        new_count=max(0, target - available),
        next_pre_key_id=max(last + 1, next_pre_key_id),
        first_unuploaded_pre_key_id=max(first_unuploaded_pre_key_id, last + 1),
    )


async def prepare_upload(state: AuthState, target: int) -> tuple[list[tuple[int, KeyPair]], bool]:
    """Make and store the keys for an upload of ``target``; advance the creds counters.

    Returns the (id, key pair) list to upload and whether the creds changed (the caller
    emits the ``CredsUpdate``). New keys are committed to the key store in one
    transaction before this returns; nothing is sent here.
    """
    creds = state.creds
    plan = plan_upload(creds.next_pre_key_id, creds.first_unuploaded_pre_key_id, target)
    category = KeyCategory.PRE_KEY.value
    async with state.keys.transaction(category):
        old_ids = [str(i) for i in plan.ids if i < plan.new_from]
        stored = await state.keys.get(category, old_ids) if old_ids else {}
        fresh = generate_pre_keys(plan.new_from, plan.new_count) if plan.new_count else []
        keys: dict[int, KeyPair] = {}
        for key_id in plan.ids:
            value = stored.get(str(key_id))
            if value is None:
                continue
            if len(value) != 64:
                raise CorruptStoreError(f"pre-key {key_id}: stored value is {len(value)} bytes")
            keys[key_id] = KeyPair(value[:32], value[32:])
        missing = [i for i in plan.ids if i not in keys and i < plan.new_from]
        refill = generate_pre_keys(0, len(missing)) if missing else []
        changes: dict[str, bytes | None] = {}
        for key_id, pre in zip(missing, refill, strict=True):
            keys[key_id] = pre.key_pair
            changes[str(key_id)] = pre.key_pair.private + pre.key_pair.public
        for pre in fresh:
            keys[pre.key_id] = pre.key_pair
            changes[str(pre.key_id)] = pre.key_pair.private + pre.key_pair.public
        if changes:
            await state.keys.set({category: changes})
    changed = (
        creds.next_pre_key_id != plan.next_pre_key_id
        or creds.first_unuploaded_pre_key_id != plan.first_unuploaded_pre_key_id
    )
    creds.next_pre_key_id = plan.next_pre_key_id
    creds.first_unuploaded_pre_key_id = plan.first_unuploaded_pre_key_id
    return [(i, keys[i]) for i in plan.ids], changed


def pre_key_upload_node(state: AuthState, keys: list[tuple[int, KeyPair]]) -> Node:
    """The ``<iq xmlns="encrypt" type="set">`` that uploads ``keys`` and the signed pre-key."""
    creds = state.creds
    spk = creds.signed_pre_key
    return Node(
        "iq",
        {"xmlns": "encrypt", "type": "set", "to": S_WHATSAPP_NET},
        [
            Node("registration", {}, creds.registration_id.to_bytes(4, "big")),
            Node("type", {}, bytes((DJB_TYPE,))),
            Node("identity", {}, creds.signed_identity_key.public),
            Node("list", {}, [pre_key_node(i, pair.public) for i, pair in keys]),
            signed_pre_key_node(spk.key_id, spk.key_pair.public, spk.signature),
        ],
    )


async def newest_pre_key_missing(state: AuthState) -> bool:
    """True when the newest generated pre-key (``next_pre_key_id - 1``) is not stored."""
    newest = state.creds.next_pre_key_id - 1
    if newest < 1:
        return False
    found = await state.keys.get(KeyCategory.PRE_KEY.value, [str(newest)])
    return str(newest) not in found
