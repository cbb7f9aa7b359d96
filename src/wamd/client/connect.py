"""``wamd.connect``: open a connection, awaitable and usable with ``async with``."""

from __future__ import annotations

import logging
from collections.abc import Generator
from types import TracebackType
from typing import Any

from wamd.auth import AuthHandle, AuthState
from wamd.client.config import DEFAULT_URL, Callback, ClientConfig
from wamd.client.connection import Connection
from wamd.client.group_cache import GroupMetadataSource
from wamd.client.policy import ReconnectPolicy
from wamd.errors import UsageError
from wamd.noise import WA_ROOT_KEY
from wamd.pairing import DEFAULT_VERSION, AppVersion, Browser, normalize_phone_number

__all__ = ["connect"]


class _Connect:
    """What :func:`connect` returns: ``await`` it, or use it with ``async with``."""

    __slots__ = ("_config", "_conn", "_state")

    def __init__(self, state: AuthState | AuthHandle, config: ClientConfig) -> None:
        self._state = state
        self._config = config
        self._conn: Connection | None = None

    async def _open(self) -> Connection:
        conn = Connection(self._state, self._config)
        try:
            await conn.start()
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        return conn

    def __await__(self) -> Generator[Any, None, Connection]:
        return self._open().__await__()

    async def __aenter__(self) -> Connection:
        return await self._open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._conn is not None:
            await self._conn.close()


def connect(
    state: AuthState | AuthHandle,
    *,
    on_qr: Callback | None = None,
    pairing_phone: str | int | None = None,
    on_pairing_code: Callback | None = None,
    max_qr: int = 6,
    qr_timeout: float | tuple[float, float] | None = None,
    url: str = DEFAULT_URL,
    server_root_key: bytes = WA_ROOT_KEY,
    reconnect: ReconnectPolicy | None = None,
    browser: Browser | None = None,
    version: AppVersion = DEFAULT_VERSION,
    push_name: str | None = None,
    connect_timeout: float = 20.0,
    query_timeout: float = 60.0,
    keepalive_interval: float = 30.0,
    keepalive_grace: float = 5.0,
    clear_on_logout: bool = False,
    logger: logging.Logger | None = None,
    group_metadata_cache: GroupMetadataSource | None = None,
) -> _Connect:
    """Connect a device to WhatsApp: link it if new, log it in otherwise.

    ``state`` is an :class:`~wamd.auth.AuthState`, or the :class:`~wamd.auth.AuthHandle`
    a ``use_*_auth_state`` helper returned; with a handle every creds change is saved
    before the connection goes on (so a completed link is never lost). ``await
    connect(...)`` returns a :class:`Connection` once the encrypted handshake is done
    (it raises :class:`~wamd.errors.CertificateError` for a server that fails the
    certificate check and :class:`~wamd.errors.ConnectionError_` when it cannot be
    reached); ``async with connect(...) as conn`` also closes it on exit. Logging in
    finishes later: wait for :class:`~wamd.events.Connected` or call
    :meth:`Connection.wait_connected`.

    Linking: ``on_qr`` gets each QR string (``wamd.print_qr`` shows it in a terminal;
    ``max_qr`` codes at most, each valid ``qr_timeout`` seconds, by default 60 s then
    20 s); or give ``pairing_phone`` (the account's number, international form) and
    ``on_pairing_code`` gets the 8-character code to type on the phone.

    ``url`` and ``server_root_key`` point at another server (a
    :class:`~wamd.testing.FakeServer` in tests); ``reconnect`` sets the backoff;
    ``browser``, ``version`` and ``push_name`` describe the device. A 401 (logged out)
    stops the connection; the stored creds are cleared only with ``clear_on_logout`` or
    :meth:`Connection.clear_auth_state`. ``group_metadata_cache`` lets many connections
    share group metadata (:mod:`wamd.client.group_cache`): an object with async
    ``get(group)`` and ``set(group, metadata)``, or a function of the group JID.
    """
    phone = normalize_phone_number(pairing_phone) if pairing_phone is not None else None
    if phone is not None and on_qr is not None:
        raise UsageError("give either on_qr or pairing_phone, not both")
    config = ClientConfig(
        url=url,
        server_root_key=bytes(server_root_key),
        on_qr=on_qr,
        pairing_phone=phone,
        on_pairing_code=on_pairing_code,
        max_qr=max_qr,
        qr_timeout=qr_timeout,
        reconnect=reconnect if reconnect is not None else ReconnectPolicy(),
        browser=browser if browser is not None else Browser(),
        version=version,
        push_name=push_name,
        connect_timeout=connect_timeout,
        query_timeout=query_timeout,
        keepalive_interval=keepalive_interval,
        keepalive_grace=keepalive_grace,
        clear_on_logout=clear_on_logout,
        logger=logger,
        group_metadata_cache=group_metadata_cache,
    )
    return _Connect(state, config)
