"""Backend factories shared by the auth tests.

``BACKENDS`` maps a name to a factory ``(folder, client_id) -> StorageBackend`` that opens
(or reopens) a backend whose files live in ``folder``. Add a backend here and every
contract test in ``test_keystore*.py`` runs against it too.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from wamd.auth.backend import StorageBackend
from wamd.auth.backends.baileys import BaileysFolderBackend
from wamd.auth.backends.memory import MemoryBackend
from wamd.auth.backends.native import NativeBackend
from wamd.auth.backends.postgres import PostgresBackend
from wamd.auth.backends.redis import RedisBackend

Opener = Callable[[Path, str], Awaitable[StorageBackend]]


@dataclass(frozen=True, slots=True)
class BackendKind:
    """How to open one kind of backend, and whether it keeps data across reopening."""

    name: str
    open: Opener
    persistent: bool
    opaque: bool = True
    """Whether any bytes may be stored in any category (else values must be valid)."""


async def _open_memory(folder: Path, client_id: str) -> StorageBackend:
    return MemoryBackend()


async def _open_native(folder: Path, client_id: str) -> StorageBackend:
    return await NativeBackend.open(folder / "store.db", client_id)


async def _open_baileys(folder: Path, client_id: str) -> StorageBackend:
    return await BaileysFolderBackend.open(folder / "baileys")


async def _open_native_encrypted(folder: Path, client_id: str) -> StorageBackend:
    return await NativeBackend.open(folder / "store.db", client_id, encryption_key=b"k" * 32)


def _namespace(folder: Path) -> str:
    """A name unique to one test's folder, so tests sharing a server never meet."""
    return hashlib.sha256(str(folder).encode()).hexdigest()[:16]


async def _open_postgres(folder: Path, client_id: str) -> StorageBackend:
    from tests.servers import require_postgres

    dsn = require_postgres().dsn
    return await PostgresBackend.open(dsn, f"{_namespace(folder)}/{client_id}")


async def _open_redis(folder: Path, client_id: str) -> StorageBackend:
    from tests.servers import require_redis

    url = require_redis().url
    return await RedisBackend.open(url, client_id, prefix=f"wamdtest:{_namespace(folder)}:")


BACKENDS: dict[str, BackendKind] = {
    "memory": BackendKind("memory", _open_memory, persistent=False),
    "native": BackendKind("native", _open_native, persistent=True),
    "native-encrypted": BackendKind("native-encrypted", _open_native_encrypted, persistent=True),
    "baileys": BackendKind("baileys", _open_baileys, persistent=True, opaque=False),
    "postgres": BackendKind("postgres", _open_postgres, persistent=True),
    "redis": BackendKind("redis", _open_redis, persistent=True),
}


@pytest.fixture(params=sorted(BACKENDS))
def backend_kind(request: pytest.FixtureRequest) -> BackendKind:
    """Each registered backend kind in turn."""
    return BACKENDS[request.param]


@pytest.fixture
async def backend(backend_kind: BackendKind, tmp_path: Path) -> AsyncIterator[StorageBackend]:
    """A fresh, open backend of each kind (closed after the test)."""
    opened = await backend_kind.open(tmp_path, "default")
    try:
        yield opened
    finally:
        await opened.close()
