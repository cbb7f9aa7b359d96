"""The native backend (LocalAuth): many accounts in one SQLite file.

One file (stdlib ``sqlite3``, WAL journal, ``synchronous=FULL``) holds any number of
accounts, each under its ``client_id``. Every ``write`` is one SQLite transaction, so it
is atomic and durable (the WAL is fsynced) when it returns. The layout:

- ``wamd_schema(version)``: the schema version; newer files are refused, older files
  are migrated forward in one transaction when opened.
- ``accounts(client_id, creds, key_check)``: the creds (``AuthCreds.to_bytes()``) and,
  for an encrypted account, a sealed check value that tells a wrong key at once.
- ``keys(client_id, category, id, value)``: every key value as a BLOB.

Safety around the file: a missing folder is created 0700; the file is created 0600
(SQLite gives its ``-wal`` and ``-shm`` files the same mode); an existing file that other
users may read or write is refused (:class:`InsecureStoreError`), one that the group may
read is used with a warning. A second opener of the same ``client_id`` (in this or
another process) gets :class:`StoreLockedError`: each account is guarded by an
``flock`` on its own lock file next to the database, released by the kernel when the
process dies.

With an ``encryption_key`` (32 bytes), values and creds are sealed with AES-256-GCM,
a fresh 12-byte nonce per value, and ``(client_id, category, id)`` as associated data,
so a value copied to another row or account fails to open.

All database work runs on one dedicated thread per store (sqlite3 connections are
bound to the thread that made them), never on the event loop. The accounts of one file
in one process write one at a time through a per-file lock (:func:`_writer_lock`), so
they queue instead of polling SQLite's busy handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import hashlib
import logging
import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from wamd.auth._seal import (
    CREDS_CATEGORY,
    Sealer,
    check_account_args,
    make_key_check,
    verify_key_check,
)
from wamd.auth.creds import AuthCreds
from wamd.auth.state import AuthHandle, open_auth_state
from wamd.errors import (
    AuthStateError,
    CorruptStoreError,
    InsecureStoreError,
    StoreLockedError,
    StoreSchemaError,
)
from wamd.signal.store import KeyChanges

__all__ = ["SCHEMA_VERSION", "NativeBackend", "use_native_file_auth_state"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

_writer_locks: dict[str, threading.Lock] = {}
_writer_locks_guard = threading.Lock()


def _writer_lock(path: Path) -> threading.Lock:
    """The lock the accounts of this process hold while writing to the file at ``path``.

    SQLite lets one writer into a file at a time and makes the others poll (sleeping up
    to 100 ms between tries), so hundreds of accounts writing at once could starve one
    past the busy timeout. Taking this lock first makes them queue and wake as soon as
    the file is free; SQLite's own lock then only meets writers of other processes.
    """
    key = os.path.realpath(path)
    with _writer_locks_guard:
        return _writer_locks.setdefault(key, threading.Lock())


@contextlib.contextmanager
def _writing(lock: threading.Lock, where: str) -> Iterator[None]:
    """Hold ``lock`` (see :func:`_writer_lock`), waiting at most ``_WRITE_WAIT`` seconds."""
    if not lock.acquire(timeout=_WRITE_WAIT):
        raise AuthStateError(
            f"{where}: waited {_WRITE_WAIT:g} s for another account's write to this file"
        )
    try:
        yield
    finally:
        lock.release()


APPLICATION_ID = 0x77616D64  # "wamd", in the SQLite header
SCHEMA_VERSION = 2
"""The schema version this code writes; files up to this version open."""

# Forward migrations: the statements that take a file from version n-1 to n.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE TABLE wamd_schema (version INTEGER NOT NULL)",
        "INSERT INTO wamd_schema (version) VALUES (0)",
        "CREATE TABLE accounts (client_id TEXT PRIMARY KEY NOT NULL, creds BLOB)",
        "CREATE TABLE keys ("
        " client_id TEXT NOT NULL, category TEXT NOT NULL, id TEXT NOT NULL,"
        " value BLOB NOT NULL, PRIMARY KEY (client_id, category, id)) WITHOUT ROWID",
    ),
    # Encryption at rest: a sealed check value per account, so a wrong key is told at once.
    2: ("ALTER TABLE accounts ADD COLUMN key_check BLOB",),
}

_SELECT_MANY = "SELECT id, value FROM keys WHERE client_id = ? AND category = ?"
_BUSY_TIMEOUT = 10.0  # seconds SQLite waits for a writer in another process
_WRITE_WAIT = 120.0  # seconds a write waits for other accounts of this process and file
_ID_CHUNK = 500  # ids per SELECT, well below SQLite's bound-parameter limit
# Rows per multi-row write statement: at most 2 + 2 * 256 bound parameters, below
# SQLite's smallest default limit (999). A batch of n rows is written with the
# statements for the binary digits of n, so few distinct statements get prepared.
_ROW_CHUNK = 256
_UPSERT_HEAD = "INSERT INTO keys (client_id, category, id, value) VALUES "
_UPSERT_TAIL = " ON CONFLICT (client_id, category, id) DO UPDATE SET value = excluded.value"
_DELETE_HEAD = "DELETE FROM keys WHERE client_id = ?1 AND category = ?2 AND id IN ("


@functools.cache
def _upsert_sql(rows: int) -> str:
    """One statement upserting ``rows`` rows: ?1 client_id, ?2 category, then id, value."""
    values = ",".join(f"(?1,?2,?{3 + 2 * i},?{4 + 2 * i})" for i in range(rows))
    return _UPSERT_HEAD + values + _UPSERT_TAIL  # only placeholders are formatted in


@functools.cache
def _delete_sql(rows: int) -> str:
    """One statement deleting ``rows`` ids: ?1 client_id, ?2 category, then the ids."""
    marks = ",".join(f"?{3 + i}" for i in range(rows))
    return _DELETE_HEAD + marks + ")"  # only placeholders are formatted in


def _chunk_sizes(n: int) -> list[int]:
    """Sizes summing to ``n``: whole chunks of _ROW_CHUNK, then the binary digits of the rest."""
    sizes = [_ROW_CHUNK] * (n // _ROW_CHUNK)
    rest = n % _ROW_CHUNK
    bit = _ROW_CHUNK >> 1
    while rest:
        if rest & bit:
            sizes.append(bit)
            rest -= bit
        bit >>= 1
    return sizes


def _create_or_migrate(conn: sqlite3.Connection, where: str) -> None:
    """Create the schema of ``conn``, or migrate it forward; refuse a newer one."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if "wamd_schema" in tables:
            row = conn.execute("SELECT version FROM wamd_schema").fetchone()
            if row is None or not isinstance(row[0], int):
                raise CorruptStoreError(f"{where}: the schema version row is missing or bad")
            found = int(row[0])
        elif tables or app_id not in (0, APPLICATION_ID):
            raise CorruptStoreError(f"{where} is an SQLite database but not a wamd auth store")
        else:
            found = 0
        if found > SCHEMA_VERSION:
            raise StoreSchemaError(
                f"{where} has schema version {found}, newer than this wamd supports "
                f"({SCHEMA_VERSION}); upgrade wamd to open it"
            )
        for version in range(found + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute("UPDATE wamd_schema SET version = ?", (version,))
        if found == 0:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    if 0 < found < SCHEMA_VERSION:
        _log.info("migrated %s from schema version %d to %d", where, found, SCHEMA_VERSION)


def _prepare_path(path: Path) -> None:
    """Create the folder (0700) and file (0600), or check an existing file's mode."""
    folder = path.parent
    if not folder.exists():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)
    elif not folder.is_dir():
        raise AuthStateError(f"{folder} is not a folder (wanted for store {path})")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise CorruptStoreError(f"{path} is not a regular file") from None
        if mode & 0o007:
            raise InsecureStoreError(
                f"{path} has mode {stat.filemode(mode)}: other users may read or write its "
                f"private keys; run 'chmod 600 {path}' (and consider the keys exposed)"
            ) from None
        if mode & 0o070:
            _log.warning("%s is group-accessible (%s); chmod 600 is advised", path, oct(mode))
        return
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def _acquire_lock(path: Path, client_id: str) -> int:
    """An exclusive flock guarding ``client_id`` in ``path``; returns its descriptor."""
    digest = hashlib.sha256(client_id.encode()).hexdigest()[:16]
    lock_path = path.with_name(f"{path.name}.{digest}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreLockedError(
            f"client_id {client_id!r} in {path} is in use by another process or handle "
            f"(lock file {lock_path})"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"{client_id}\npid {os.getpid()}\n".encode())
    return fd


class NativeBackend:
    """A :class:`~wamd.auth.backend.StorageBackend` for one ``client_id`` in a SQLite file.

    Open it with :meth:`open`; it holds the account's lock until :meth:`close`.
    """

    def __init__(
        self,
        *,
        path: Path,
        client_id: str,
        executor: ThreadPoolExecutor,
        conn: sqlite3.Connection,
        lock_fd: int,
        sealer: Sealer | None,
        write_lock: threading.Lock,
    ) -> None:
        self._path = path
        self._client_id = client_id
        self._where = f"{path} (client_id {client_id!r})"
        self._executor = executor
        self._conn = conn
        self._lock_fd = lock_fd
        self._sealer = sealer
        self._write_lock = write_lock
        self._closed = False

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @property
    def client_id(self) -> str:
        """The account this backend reads and writes."""
        return self._client_id

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        client_id: str = "default",
        *,
        encryption_key: bytes | None = None,
    ) -> NativeBackend:
        """Open (creating if needed) ``client_id`` in the store at ``path``.

        Raises :class:`StoreLockedError` if the account is open elsewhere,
        :class:`StoreSchemaError` for a file from a newer wamd, :class:`CorruptStoreError`
        for a file that is not a wamd store, :class:`StoreKeyError` for a missing or
        wrong ``encryption_key`` and :class:`InsecureStoreError` for a file others may read.
        """
        check_account_args(client_id, encryption_key)
        file = Path(os.fspath(path)).absolute()
        loop = asyncio.get_running_loop()
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wamd-sqlite")
        lock_fd = -1
        try:
            await loop.run_in_executor(executor, _prepare_path, file)
            lock_fd = await loop.run_in_executor(executor, _acquire_lock, file, client_id)
            write_lock = await loop.run_in_executor(executor, _writer_lock, file)
            conn, sealer = await loop.run_in_executor(
                executor, _connect, file, client_id, encryption_key, write_lock
            )
        except BaseException:
            if lock_fd >= 0:
                os.close(lock_fd)
            executor.shutdown(wait=False)
            raise
        return cls(
            path=file,
            client_id=client_id,
            executor=executor,
            conn=conn,
            lock_fd=lock_fd,
            sealer=sealer,
            write_lock=write_lock,
        )

    async def _run(self, fn: Callable[..., _T], *args: object) -> _T:
        if self._closed:
            raise AuthStateError(f"{self._where}: the store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _guarded, self._where, fn, *args)

    async def read(self, category: str, ids: Sequence[str]) -> dict[str, bytes]:
        """The stored values of ``ids`` in ``category``; missing ids are absent."""
        if not ids:
            return {}
        return await self._run(self._read_sync, category, list(ids))

    def _read_sync(self, category: str, ids: list[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = ids[start : start + _ID_CHUNK]
            marks = ",".join("?" * len(chunk))  # only placeholders are formatted in
            query = _SELECT_MANY + f" AND id IN ({marks})"
            rows = self._conn.execute(query, (self._client_id, category, *chunk))
            for key_id, value in rows:
                found[key_id] = self._unseal(category, key_id, value)
        return found

    def _unseal(self, category: str, key_id: str, value: bytes) -> bytes:
        if self._sealer is None:
            return bytes(value)
        return self._sealer.open(category, key_id, bytes(value))

    def _seal(self, category: str, key_id: str, value: bytes) -> bytes:
        if self._sealer is None:
            return value
        return self._sealer.seal(category, key_id, value)

    async def write(self, changes: KeyChanges) -> None:
        """Apply every change in one SQLite transaction; durable when it returns."""
        if not any(changes.values()):
            return
        await self._run(self._write_sync, changes, None)

    async def commit(self, changes: KeyChanges, creds: AuthCreds | None = None) -> None:
        """Apply key changes and (if given) replace the creds, all in one transaction."""
        data = creds.to_bytes() if creds is not None else None
        await self._run(self._write_sync, changes, data)

    def _write_sync(self, changes: KeyChanges, creds: bytes | None) -> None:
        sealer = self._sealer
        # Per category: the flat (id, value, id, value, ...) upserts and the ids to delete.
        work: list[tuple[str, list[str | bytes], list[str]]] = []
        for category, values in changes.items():
            upserts: list[str | bytes] = []
            deletes: list[str] = []
            if sealer is None:
                for key_id, value in values.items():
                    if value is None:
                        deletes.append(key_id)
                    else:
                        upserts += (key_id, value)
            else:
                seal = sealer.seal
                for key_id, value in values.items():
                    if value is None:
                        deletes.append(key_id)
                    else:
                        upserts += (key_id, seal(category, key_id, value))
            work.append((category, upserts, deletes))
        with _writing(self._write_lock, self._where):
            self._commit_sync(work, creds)

    def _commit_sync(
        self, work: list[tuple[str, list[str | bytes], list[str]]], creds: bytes | None
    ) -> None:
        cid = self._client_id
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for category, upserts, deletes in work:
                start = 0
                for size in _chunk_sizes(len(upserts) // 2):
                    end = start + 2 * size
                    conn.execute(_upsert_sql(size), (cid, category, *upserts[start:end]))
                    start = end
                start = 0
                for size in _chunk_sizes(len(deletes)):
                    end = start + size
                    conn.execute(_delete_sql(size), (cid, category, *deletes[start:end]))
                    start = end
            if creds is not None:
                self._save_creds_sync(creds)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    async def list_ids(self, category: str) -> list[str]:
        """Every id stored in ``category`` for this account, sorted."""
        return await self._run(self._list_sync, category)

    def _list_sync(self, category: str) -> list[str]:
        rows = self._conn.execute(
            "SELECT id FROM keys WHERE client_id = ? AND category = ? ORDER BY id",
            (self._client_id, category),
        )
        return [row[0] for row in rows]

    async def count(self) -> dict[str, int]:
        """The number of stored keys per category for this account."""
        return await self._run(self._count_sync)

    def _count_sync(self) -> dict[str, int]:
        rows = self._conn.execute(
            "SELECT category, count(*) FROM keys WHERE client_id = ? GROUP BY category",
            (self._client_id,),
        )
        return {category: int(n) for category, n in rows}

    async def load_creds(self) -> AuthCreds | None:
        """The stored creds of this account, or ``None``."""
        data = await self._run(self._load_creds_sync)
        if data is None:
            return None
        return AuthCreds.from_bytes(data, where=f"creds in {self._where}")

    def _load_creds_sync(self) -> bytes | None:
        row = self._conn.execute(
            "SELECT creds FROM accounts WHERE client_id = ?", (self._client_id,)
        ).fetchone()
        if row is None or row[0] is None:
            return None
        return self._unseal(CREDS_CATEGORY, "", row[0])

    async def save_creds(self, creds: AuthCreds) -> None:
        """Replace this account's creds; durable when it returns."""
        data = creds.to_bytes()  # on the loop: a consistent snapshot of the live object
        await self._run(self._save_creds_alone, data)

    def _save_creds_alone(self, data: bytes) -> None:
        with _writing(self._write_lock, self._where):
            self._save_creds_sync(data)

    def _save_creds_sync(self, data: bytes) -> None:
        self._conn.execute(
            "UPDATE accounts SET creds = ? WHERE client_id = ?",
            (self._seal(CREDS_CATEGORY, "", data), self._client_id),
        )

    async def close(self) -> None:
        """Close the database and release the account's lock; safe to call twice."""
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._conn.close)
        finally:
            self._closed = True
            self._executor.shutdown(wait=False)
            os.close(self._lock_fd)

    def __repr__(self) -> str:
        return f"<NativeBackend {self._where}{' encrypted' if self._sealer else ''}>"


def _guarded(where: str, fn: Callable[..., _T], *args: object) -> _T:
    """Run ``fn`` and turn SQLite errors into auth-state errors that name the file."""
    try:
        return fn(*args)
    except sqlite3.DatabaseError as exc:
        if "malformed" in str(exc) or "not a database" in str(exc):
            raise CorruptStoreError(f"{where} is corrupt: {exc}") from exc
        raise AuthStateError(f"{where}: database error: {exc}") from exc


def _connect(
    path: Path, client_id: str, encryption_key: bytes | None, write_lock: threading.Lock
) -> tuple[sqlite3.Connection, Sealer | None]:
    """Open the database (on the store's thread), migrate it, and set up the account."""
    where = str(path)
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=_BUSY_TIMEOUT)
    except sqlite3.Error as exc:
        raise AuthStateError(f"cannot open {where}: {exc}") from exc
    try:
        with _writing(write_lock, where):
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            _create_or_migrate(conn, where)
            sealer = _setup_account(conn, path, client_id, encryption_key)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise CorruptStoreError(f"{where} is not a wamd SQLite store or is damaged: {exc}") from exc
    except BaseException:
        conn.close()
        raise
    return conn, sealer


def _setup_account(
    conn: sqlite3.Connection, path: Path, client_id: str, key: bytes | None
) -> Sealer | None:
    """Create the account row if missing, and check the encryption key against it."""
    where = f"{path} (client_id {client_id!r})"
    sealer = Sealer(key, client_id, where) if key is not None else None
    row = conn.execute(
        "SELECT key_check FROM accounts WHERE client_id = ?", (client_id,)
    ).fetchone()
    if row is None:
        check = make_key_check(sealer) if sealer else None
        conn.execute(
            "INSERT INTO accounts (client_id, creds, key_check) VALUES (?, NULL, ?)",
            (client_id, check),
        )
        return sealer
    verify_key_check(where, sealer, None if row[0] is None else bytes(row[0]))
    return sealer


async def use_native_file_auth_state(
    path: str | os.PathLike[str],
    client_id: str = "default",
    *,
    encryption_key: bytes | None = None,
) -> AuthHandle:
    """Open (or create) account ``client_id`` in the SQLite store at ``path`` (LocalAuth).

    See :class:`NativeBackend` for the errors it raises; close the returned handle (or
    use it as an async context manager) to release the account's lock.
    """
    backend = await NativeBackend.open(path, client_id, encryption_key=encryption_key)
    return await open_auth_state(backend)
