"""What the PostgreSQL and Redis backends share: argument checks, driver imports, sealing.

Values and creds are sealed exactly as the native backend seals them (its AES-256-GCM
sealer, with ``(client_id, category, id)`` as associated data), and a sealed check value
per account tells a wrong key at once.
"""

from __future__ import annotations

import hashlib
import importlib
import urllib.parse
from types import ModuleType
from typing import TYPE_CHECKING

from wamd.auth._seal import (
    CREDS_CATEGORY,
    Sealer,
    make_key_check,
    verify_key_check,
)
from wamd.auth._seal import (
    check_account_args as check_args,
)
from wamd.errors import AuthStateError, UsageError

if TYPE_CHECKING:
    from wamd.auth.backend import StorageBackend

__all__ = [
    "CREDS_CATEGORY",
    "AccountMissingError",
    "Sealer",
    "check_args",
    "import_driver",
    "lock_number",
    "make_key_check",
    "open_remote_store",
    "parse_remote_url",
    "redact_url",
    "verify_key_check",
]


def import_driver(module: str, extra: str) -> ModuleType:
    """Import an optional driver, or say which wamd extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise AuthStateError(
            f"this backend needs the '{module.partition('.')[0]}' package: "
            f"pip install 'wamd[{extra}]' ({exc})"
        ) from None


def redact_url(url: str) -> str:
    """``url`` without its password (and query), for messages and reprs."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unparsable URL>"
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None:
        netloc += f":{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def lock_number(client_id: str) -> int:
    """A signed 64-bit number naming ``client_id`` (for PostgreSQL advisory locks)."""
    digest = hashlib.sha256(b"wamd-account-lock\x00" + client_id.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AccountMissingError(AuthStateError):
    """A read-only open found no such account (or no wamd data) in the remote store."""


_SCHEMES = {"postgres": "postgres", "postgresql": "postgres", "redis": "redis", "rediss": "redis"}


def parse_remote_url(text: str) -> tuple[str, str, str] | None:
    """``(kind, url, client_id)`` for a ``postgres://`` or ``redis://`` store, else None.

    The client id is the URL's ``#fragment`` (``default`` if there is none).
    """
    scheme, sep, _ = text.partition("://")
    kind = _SCHEMES.get(scheme.lower()) if sep else None
    if kind is None:
        return None
    url, hash_sign, client_id = text.partition("#")
    if hash_sign and not client_id:
        raise UsageError(f"{redact_url(url)}: empty client id after '#'")
    return kind, url, urllib.parse.unquote(client_id) or "default"


async def open_remote_store(
    kind: str,
    url: str,
    client_id: str,
    *,
    source: bool = False,
    dry_run: bool = False,
    encryption_key: bytes | None = None,
) -> StorageBackend:
    """Open a PostgreSQL or Redis account for ``wamd migrate`` / ``wamd inspect``.

    A ``source`` is opened read-only (nothing is created or written); a ``dry_run``
    destination that does not exist yet is an empty in-memory stand-in.
    """
    from wamd.auth.backends.memory import MemoryBackend  # noqa: PLC0415 (avoids a cycle)
    from wamd.auth.backends.postgres import PostgresBackend  # noqa: PLC0415
    from wamd.auth.backends.redis import RedisBackend  # noqa: PLC0415

    opener = PostgresBackend.open if kind == "postgres" else RedisBackend.open
    read_only = source or dry_run
    try:
        return await opener(url, client_id, encryption_key=encryption_key, read_only=read_only)
    except AccountMissingError:
        if dry_run and not source:
            return MemoryBackend()
        raise
