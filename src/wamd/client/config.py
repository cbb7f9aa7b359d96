"""Everything :func:`wamd.connect` can be told, in one frozen value."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from wamd.client.group_cache import GroupMetadataSource, check_source
from wamd.client.policy import ReconnectPolicy
from wamd.errors import UsageError
from wamd.noise import WA_ROOT_KEY
from wamd.pairing import DEFAULT_VERSION, AppVersion, Browser

__all__ = ["DEFAULT_URL", "Callback", "ClientConfig"]

DEFAULT_URL = "wss://web.whatsapp.com/ws/chat"
"""WhatsApp Web's chat websocket."""

Callback = Callable[[str], "Awaitable[object] | object"]
"""A sync or async callable given a string (the QR string, the pairing code)."""


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """The settings of one connection (see :func:`wamd.connect` for each one).

    ``qr_timeout`` is how long each QR code stays valid: ``None`` gives 60 s for the
    first and 20 s for each later one (as WhatsApp Web), a number applies to all, a pair
    gives (first, later). ``keepalive_interval`` is the ping period; silence longer than
    it plus ``keepalive_grace`` ends the connection with 408. ``group_metadata_cache``
    is the application's group metadata cache (see :mod:`wamd.client.group_cache`).
    """

    url: str = DEFAULT_URL
    server_root_key: bytes = field(default=WA_ROOT_KEY, repr=False)
    on_qr: Callback | None = None
    pairing_phone: str | None = None
    on_pairing_code: Callback | None = None
    max_qr: int = 6
    qr_timeout: float | tuple[float, float] | None = None
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    browser: Browser = field(default_factory=Browser)
    version: AppVersion = DEFAULT_VERSION
    push_name: str | None = None
    country_code: str = "US"
    sync_full_history: bool = True
    connect_timeout: float = 20.0
    query_timeout: float = 60.0
    keepalive_interval: float = 30.0
    keepalive_grace: float = 5.0
    clear_on_logout: bool = False
    logger: logging.Logger | None = None
    group_metadata_cache: GroupMetadataSource | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.url.startswith(("ws://", "wss://")):
            raise UsageError(f"url must be a ws:// or wss:// URL, got {self.url!r}")
        if len(self.server_root_key) != 32:
            raise UsageError(f"server_root_key must be 32 bytes, got {len(self.server_root_key)}")
        if self.max_qr < 1:
            raise UsageError(f"max_qr must be at least 1, got {self.max_qr}")
        for name in ("connect_timeout", "query_timeout", "keepalive_interval"):
            if getattr(self, name) <= 0:
                raise UsageError(f"{name} must be positive, got {getattr(self, name)}")
        if self.group_metadata_cache is not None:
            check_source(self.group_metadata_cache)
        first, later = self.qr_lifetimes
        if first <= 0 or later <= 0:
            raise UsageError(f"qr_timeout must be positive, got {self.qr_timeout!r}")

    @property
    def qr_lifetimes(self) -> tuple[float, float]:
        """Seconds the first QR code, and each later one, stay valid."""
        timeout = self.qr_timeout
        if timeout is None:
            return 60.0, 20.0
        if isinstance(timeout, tuple):
            return float(timeout[0]), float(timeout[1])
        return float(timeout), float(timeout)
