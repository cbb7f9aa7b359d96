"""The key-store contract the Signal layer runs on, and the key categories.

Storage sees bytes, not Signal: a store keeps opaque values under ``(category, id)``.
The auth package implements this contract for every backend (memory, SQLite, Baileys
folder, PostgreSQL, Redis); the Signal repository only ever talks to it through
:class:`KeyStore`. It lives here, below ``auth``, because ``signal`` may not import from
the layer above it; ``wamd.auth`` re-exports it.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Mapping, Sequence
from types import TracebackType
from typing import Protocol, runtime_checkable

__all__ = ["KeyCategory", "KeyChanges", "KeyStore", "Transaction"]


class KeyCategory(enum.StrEnum):
    """The categories of keys an auth state holds (Baileys' names, which are its file prefixes).

    What the (opaque to backends) value bytes hold, per category, in wamd's native form:

    ================== ========================== ===========================================
    category           id                         value
    ================== ========================== ===========================================
    pre-key            decimal id ("1")           private (32) || public (32)
    session            address ("user[_dt].dev")  native ``SessionRecord`` bytes
    sender-key         "group::user[_dt]::dev"    native ``SenderKeyRecord`` bytes
    sender-key-memory  group JID                  UTF-8 JSON object {device JID: true}
    app-state-sync-key base64 key id              ``AppStateSyncKeyData`` protobuf bytes
    app-state-sync-ver collection name            UTF-8 JSON (Baileys' LTHashState shape)
    lid-mapping        PN user / "<lid>_reverse"  UTF-8 of the mapped user
    device-list        user                       UTF-8 JSON array of device id strings
    tctoken            JID                        UTF-8 JSON (Baileys' shape)
    identity-key       address                    33 bytes: 0x05 || public key
    ================== ========================== ===========================================

    The Baileys-folder backend converts each of these to and from Baileys' own JSON.
    """

    PRE_KEY = "pre-key"
    SESSION = "session"
    SENDER_KEY = "sender-key"
    SENDER_KEY_MEMORY = "sender-key-memory"
    APP_STATE_SYNC_KEY = "app-state-sync-key"
    APP_STATE_SYNC_VERSION = "app-state-sync-version"
    LID_MAPPING = "lid-mapping"
    DEVICE_LIST = "device-list"
    TC_TOKEN = "tctoken"  # noqa: S105 - a category name, not a secret
    IDENTITY_KEY = "identity-key"


KeyChanges = Mapping[str, Mapping[str, bytes | None]]
"""``{category: {id: value}}``; a value of ``None`` deletes that key."""


class Transaction(Protocol):
    """What :meth:`KeyStore.transaction` returns: a block used with ``async with``.

    Any async context manager fits; a store may also return an object whose enter and
    exit hand back ready awaitables instead of coroutines (cheaper when uncontended).
    """

    def __aenter__(self) -> Awaitable[None]: ...

    def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
        /,
    ) -> Awaitable[bool | None]: ...


@runtime_checkable
class KeyStore(Protocol):
    """Batch get/set of opaque values with transactions.

    Semantics every implementation honours:

    - ``get(category, ids)`` returns the values of those ids that exist (missing ids are
      simply absent from the result).
    - ``set(changes)`` applies all changes atomically; ``None`` deletes. Outside a
      transaction it is durable when it returns.
    - ``transaction(key)`` is an async context manager. Inside it, ``get`` sees the
      transaction's own writes and ``set`` only stages changes; leaving the block
      normally commits everything at once (durably, before ``__aexit__`` returns);
      an exception rolls everything back and propagates. A transaction opened while
      another is active in the same task context joins it (only the outermost one
      commits). Transactions with the same ``key`` (e.g. a JID) run one at a time;
      different keys may run concurrently.
    """

    async def get(self, category: str, ids: Sequence[str]) -> dict[str, bytes]:
        """The stored values of ``ids`` in ``category`` (missing ids are absent)."""
        ...

    async def set(self, changes: KeyChanges) -> None:
        """Write (or, for ``None`` values, delete) keys atomically."""
        ...

    def transaction(self, key: str = "") -> Transaction:
        """Open (or join) a transaction; ``key`` serialises transactions on one resource."""
        ...
