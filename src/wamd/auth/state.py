"""``AuthState`` (what a connection runs on) and ``AuthHandle`` (what ``use_*`` returns)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from types import TracebackType

from wamd.auth.backend import StorageBackend
from wamd.auth.creds import AuthCreds, init_auth_creds
from wamd.auth.keystore import KeyStore
from wamd.errors import AuthStateError

__all__ = ["AuthHandle", "AuthState", "open_auth_state"]

_log = logging.getLogger(__name__)


@dataclass(slots=True)
class AuthState:
    """An account's creds and its transactional key store.

    ``creds`` is the live object the connection updates; persist it with
    :meth:`AuthHandle.save_creds` (for example as the ``CredsUpdate`` handler).
    """

    creds: AuthCreds
    keys: KeyStore


class AuthHandle:
    """An opened auth state: ``.state``, ``save_creds`` and ``close``.

    Use it as an async context manager to close it (and release its locks) on exit.
    """

    def __init__(self, state: AuthState, backend: StorageBackend) -> None:
        self._state = state
        self._backend = backend
        self._save_lock = asyncio.Lock()
        self._closed = False

    @property
    def state(self) -> AuthState:
        """The creds and key store of this account."""
        return self._state

    @property
    def backend(self) -> StorageBackend:
        """The raw storage backend (for migration and inspection)."""
        return self._backend

    async def save_creds(self, *event: object) -> None:
        """Persist the current creds durably.

        Accepts and ignores positional arguments so it can be registered directly as a
        ``CredsUpdate`` handler; if the event carries a ``creds`` attribute holding
        :class:`AuthCreds`, those become the state's creds first.
        """
        if self._closed:
            raise AuthStateError("cannot save creds: the auth state is closed")
        for item in event:
            creds = getattr(item, "creds", None)
            if isinstance(creds, AuthCreds):
                self._state.creds = creds
        async with self._save_lock:
            await self._backend.save_creds(self._state.creds)

    async def close(self) -> None:
        """Finish pending commits, then close the backend; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._state.keys.aclose()
        finally:
            await self._backend.close()

    async def __aenter__(self) -> AuthHandle:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<AuthHandle {type(self._backend).__name__} {state}>"


async def open_auth_state(backend: StorageBackend) -> AuthHandle:
    """Load (or, for an empty store, create and save) the creds of ``backend``.

    Fresh creds are saved at once, so keys written later always belong to creds that
    are on disk. The backend is closed again if loading fails.
    """
    try:
        creds = await backend.load_creds()
        if creds is None:
            _log.info("no creds stored yet: created fresh ones")
            creds = init_auth_creds()
            await backend.save_creds(creds)
    except BaseException:
        await backend.close()
        raise
    return AuthHandle(AuthState(creds=creds, keys=KeyStore(backend)), backend)
