"""The raw storage interface every auth-state backend implements.

A backend stores opaque values under ``(category, id)`` and one creds record. It knows
nothing of Signal and nothing of transactions: :class:`wamd.auth.keystore.KeyStore` wraps
any backend and adds transactions, per-key serialisation and group commit on top. What a
backend must guarantee is small and strict: a ``write`` (or ``save_creds``) is atomic and
durable when it returns, and a crash at any instant leaves a state that loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from wamd.signal.store import KeyChanges

if TYPE_CHECKING:
    from wamd.auth.creds import AuthCreds

__all__ = ["KeyChanges", "StorageBackend"]


@runtime_checkable
class StorageBackend(Protocol):
    """Byte-oriented storage of one account's keys and creds.

    Every method may be called from the event loop; a backend that blocks (files,
    SQLite) does its work off the loop. Calls are not required to be safe when issued
    concurrently for the same ids: the key store above never does that for ``write``.
    """

    async def read(self, category: str, ids: Sequence[str]) -> dict[str, bytes]:
        """The stored values of ``ids`` in ``category``; missing ids are absent."""
        ...

    async def write(self, changes: KeyChanges) -> None:
        """Apply every change (``None`` deletes) atomically; durable when it returns."""
        ...

    async def list_ids(self, category: str) -> list[str]:
        """Every id stored in ``category`` (for migration and inspection)."""
        ...

    async def load_creds(self) -> AuthCreds | None:
        """The stored creds, or ``None`` if this account has none yet."""
        ...

    async def save_creds(self, creds: AuthCreds) -> None:
        """Replace the stored creds atomically; durable when it returns."""
        ...

    async def close(self) -> None:
        """Release files, connections and locks; the backend is unusable afterwards."""
        ...
