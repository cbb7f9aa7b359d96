"""An in-memory key store for Signal tests: the auth package's real one, plus test helpers.

The store is :class:`wamd.auth.keystore.KeyStore` over
:class:`wamd.auth.backends.memory.MemoryBackend`, so the Signal tests run on the very
transaction code that production uses. :class:`FlakyBackend` fails writes on demand, to
show that a failed commit leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Sequence

from wamd.auth.backends.memory import MemoryBackend
from wamd.auth.keystore import KeyStore
from wamd.errors import AuthStateError
from wamd.signal.store import KeyCategory, KeyChanges

__all__ = ["FlakyBackend", "memory_store", "snapshot"]

Snapshot = dict[str, dict[str, bytes]]


class FlakyBackend(MemoryBackend):
    """A memory backend whose next ``fail_writes`` writes raise (and change nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_writes = 0

    async def write(self, changes: KeyChanges) -> None:
        if self.fail_writes > 0:
            self.fail_writes -= 1
            raise AuthStateError("simulated backend write failure")
        await super().write(changes)


def memory_store(backend: MemoryBackend | None = None) -> KeyStore:
    """A fresh transactional key store kept in memory."""
    return KeyStore(MemoryBackend() if backend is None else backend)


async def snapshot(store: KeyStore, categories: Sequence[str] | None = None) -> Snapshot:
    """Every stored value of every key category, as committed (for before/after checks)."""
    backend = store.backend
    out: Snapshot = {}
    for category in categories or [c.value for c in KeyCategory]:
        ids = await backend.list_ids(category)
        out[category] = await backend.read(category, ids)
    return out
