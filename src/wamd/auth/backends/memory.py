"""The in-memory backend (NoAuth): everything lives in dicts and is gone on exit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from wamd.auth.state import AuthHandle, open_auth_state
from wamd.errors import AuthStateError
from wamd.signal.store import KeyChanges

if TYPE_CHECKING:
    from wamd.auth.creds import AuthCreds

__all__ = ["MemoryBackend", "memory_auth_state"]


class MemoryBackend:
    """A :class:`~wamd.auth.backend.StorageBackend` that keeps keys and creds in memory."""

    def __init__(self) -> None:
        self._keys: dict[str, dict[str, bytes]] = {}
        self._creds: AuthCreds | None = None
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise AuthStateError("the memory auth state is closed")

    async def read(self, category: str, ids: Sequence[str]) -> dict[str, bytes]:
        """The stored values of ``ids`` in ``category``; missing ids are absent."""
        self._check_open()
        bucket = self._keys.get(category, {})
        return {key_id: bucket[key_id] for key_id in ids if key_id in bucket}

    async def write(self, changes: KeyChanges) -> None:
        """Apply every change at once (``None`` deletes)."""
        self._check_open()
        for category, values in changes.items():
            bucket = self._keys.setdefault(category, {})
            for key_id, value in values.items():
                if value is None:
                    bucket.pop(key_id, None)
                else:
                    bucket[key_id] = bytes(value)
            if not bucket:
                del self._keys[category]

    async def list_ids(self, category: str) -> list[str]:
        """Every id stored in ``category``, sorted."""
        self._check_open()
        return sorted(self._keys.get(category, {}))

    async def load_creds(self) -> AuthCreds | None:
        """The creds saved last, or ``None``."""
        self._check_open()
        return self._creds

    async def save_creds(self, creds: AuthCreds) -> None:
        """Keep ``creds`` (as a private copy, so later edits need another save)."""
        self._check_open()
        self._creds = type(creds).from_bytes(creds.to_bytes())

    async def close(self) -> None:
        """Drop everything."""
        self._closed = True
        self._keys.clear()
        self._creds = None


async def memory_auth_state() -> AuthHandle:
    """A fresh auth state that lives only in memory (NoAuth): nothing is persisted."""
    return await open_auth_state(MemoryBackend())
