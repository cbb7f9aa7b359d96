"""The PostgreSQL backend (RemoteAuth): many accounts, many instances, one database.

Every instance of an application connects to the same database; each account
(``client_id``) is driven by at most one instance at a time. The layout:

- ``wamd_schema(version)``: the schema version; a newer database is refused, an older
  one is migrated forward in one transaction (under a transaction advisory lock, so two
  instances starting together do not race).
- ``wamd_accounts(client_id, creds, key_check, generation)``: the creds
  (``AuthCreds.to_bytes()``), the sealed check value of an encrypted account, and a
  counter bumped by every open.
- ``wamd_keys(client_id, category, id, value)``: every key value as ``bytea``.

Locking: opening an account takes ``pg_try_advisory_lock`` on a 64-bit hash of its
``client_id`` on a dedicated connection that stays open while the account is; a second
opener anywhere gets :class:`StoreLockedError`. PostgreSQL drops the lock when that
connection ends, also when the process dies. Losing the connection is noticed at once
(and by a heartbeat) and every later call raises :class:`StoreLockedError`; every write
also checks, in its own transaction, that the account's ``generation`` is still the one
this open set, so an instance whose lock has moved on can never write.

Every ``write`` is one transaction, so it is atomic, and durable when PostgreSQL
acknowledges the commit (``synchronous_commit`` is set ``on`` for our own connections).
Without a ``pool`` the lock connection also carries the queries (one connection per
open account); with a ``pool`` (an ``asyncpg`` pool the application owns) queries use
it and the lock connection only holds the lock.

With an ``encryption_key`` values and creds are sealed as in the native backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from wamd.auth.backends._remote import (
    CREDS_CATEGORY,
    AccountMissingError,
    Sealer,
    check_args,
    import_driver,
    lock_number,
    make_key_check,
    redact_url,
    verify_key_check,
)
from wamd.auth.creds import AuthCreds
from wamd.auth.state import AuthHandle, open_auth_state
from wamd.errors import (
    AuthStateError,
    CorruptStoreError,
    StoreLockedError,
    StoreSchemaError,
    StoreUnavailableError,
)
from wamd.signal.store import KeyChanges

if TYPE_CHECKING:
    from typing import TypeAlias

    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

    _Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy

__all__ = ["SCHEMA_VERSION", "PostgresBackend", "use_postgres_auth_state"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

SCHEMA_VERSION = 1
"""The schema version this code writes; databases up to this version open."""

_SCHEMA_LOCK = 0x77616D64_00000001  # transaction advisory lock around schema changes

_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "CREATE TABLE wamd_accounts ("
        " client_id text PRIMARY KEY, creds bytea, key_check bytea,"
        " generation bigint NOT NULL DEFAULT 0)",
        "CREATE TABLE wamd_keys ("
        " client_id text NOT NULL, category text NOT NULL, id text NOT NULL,"
        " value bytea NOT NULL, PRIMARY KEY (client_id, category, id))",
    ),
}

_UPSERT = (
    "INSERT INTO wamd_keys (client_id, category, id, value)"
    " SELECT $1, $2, k, v FROM unnest($3::text[], $4::bytea[]) AS t(k, v)"
    " ON CONFLICT (client_id, category, id) DO UPDATE SET value = excluded.value"
)
_DELETE = "DELETE FROM wamd_keys WHERE client_id = $1 AND category = $2 AND id = ANY($3::text[])"
_SELECT = (
    "SELECT id, value FROM wamd_keys WHERE client_id = $1 AND category = $2"
    " AND id = ANY($3::text[])"
)
_FENCE = "SELECT generation FROM wamd_accounts WHERE client_id = $1 FOR SHARE"


def _driver() -> Any:
    return import_driver("asyncpg", "postgres")


def _is_connection_error(apg: Any, exc: BaseException) -> bool:
    return isinstance(
        exc,
        OSError
        | asyncio.TimeoutError
        | apg.exceptions.PostgresConnectionError
        | apg.exceptions.OperatorInterventionError
        | apg.exceptions.InterfaceError,
    )


async def _migrate(conn: asyncpg.Connection, where: str) -> None:
    """Create or migrate the schema forward; refuse a newer one."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
        exists = await conn.fetchval("SELECT to_regclass('wamd_schema') IS NOT NULL")
        found = 0
        if exists:
            found_raw = await conn.fetchval("SELECT max(version) FROM wamd_schema")
            if not isinstance(found_raw, int):
                raise CorruptStoreError(f"{where}: the schema version row is missing")
            found = found_raw
        else:
            await conn.execute("CREATE TABLE wamd_schema (version integer NOT NULL)")
            await conn.execute("INSERT INTO wamd_schema (version) VALUES (0)")
        if found > SCHEMA_VERSION:
            raise StoreSchemaError(
                f"{where} has schema version {found}, newer than this wamd supports "
                f"({SCHEMA_VERSION}); upgrade wamd to open it"
            )
        for version in range(found + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[version]:
                await conn.execute(statement)
            await conn.execute("UPDATE wamd_schema SET version = $1", version)
        if 0 < found < SCHEMA_VERSION:
            _log.info("migrated %s from schema version %d to %d", where, found, SCHEMA_VERSION)


async def _check_schema(conn: asyncpg.Connection, where: str) -> None:
    """For a read-only open: the tables must exist at this wamd's schema version."""
    if not await conn.fetchval("SELECT to_regclass('wamd_schema') IS NOT NULL"):
        raise AccountMissingError(f"{where}: this database holds no wamd auth state")
    found = await conn.fetchval("SELECT max(version) FROM wamd_schema")
    if found != SCHEMA_VERSION:
        raise StoreSchemaError(
            f"{where} has schema version {found}, this wamd reads {SCHEMA_VERSION}: open it "
            "once read-write with this wamd (or upgrade wamd) first"
        )


class PostgresBackend:
    """A :class:`~wamd.auth.backend.StorageBackend` for one ``client_id`` in PostgreSQL.

    Open it with :meth:`open`; it holds the account's advisory lock until :meth:`close`.
    """

    remote_kind: ClassVar[str] = "postgres"
    """Names the remote store; a connection emits ``RemoteSessionSaved`` after saving to it."""

    def __init__(
        self,
        *,
        where: str,
        client_id: str,
        lock_conn: asyncpg.Connection,
        pool: asyncpg.Pool | None,
        sealer: Sealer | None,
        generation: int,
        heartbeat: float,
        read_only: bool = False,
    ) -> None:
        self._apg = _driver()
        self._where = where
        self._client_id = client_id
        self._lock_conn = lock_conn
        self._pool = pool
        self._sealer = sealer
        self._generation = generation
        self._read_only = read_only
        self._conn_mutex = asyncio.Lock()
        self._closed = False
        # Why this open may no longer write: (error class, reason), set once.
        self._lost: tuple[type[AuthStateError], str] | None = None
        lock_conn.add_termination_listener(self._on_lock_connection_end)
        self._heartbeat = asyncio.get_running_loop().create_task(
            self._beat(heartbeat), name=f"wamd-pg-heartbeat {client_id}"
        )

    @property
    def client_id(self) -> str:
        """The account this backend reads and writes."""
        return self._client_id

    @property
    def lock_lost(self) -> bool:
        """True once the connection holding the account's lock has ended."""
        return self._lost is not None

    @property
    def read_only(self) -> bool:
        """Whether this backend was opened read-only (writes are refused)."""
        return self._read_only

    @classmethod
    async def open(
        cls,
        dsn: str,
        client_id: str = "default",
        *,
        encryption_key: bytes | None = None,
        pool: asyncpg.Pool | None = None,
        connect_timeout: float = 10.0,
        command_timeout: float = 30.0,
        heartbeat: float = 10.0,
        read_only: bool = False,
    ) -> PostgresBackend:
        """Open (creating if needed) ``client_id`` in the database at ``dsn``.

        Opened ``read_only`` (a migration source) it creates and changes nothing: the
        tables and the account must exist, and writes are refused.

        Raises :class:`StoreLockedError` if another instance has the account open,
        :class:`StoreUnavailableError` if the server cannot be reached,
        :class:`StoreSchemaError` for a database from a newer wamd and
        :class:`StoreKeyError` for a missing or wrong ``encryption_key``.
        """
        check_args(client_id, encryption_key)
        apg = _driver()
        where = f"PostgreSQL {redact_url(dsn)} (client_id {client_id!r})"
        try:
            conn = await apg.connect(
                dsn,
                timeout=connect_timeout,
                command_timeout=command_timeout,
                server_settings={"synchronous_commit": "on", "application_name": "wamd"},
            )
        except Exception as exc:
            raise _translate(apg, exc, where) from exc
        try:
            if read_only:
                await _check_schema(conn, where)
            else:
                await _migrate(conn, where)
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_number(client_id)):
                raise StoreLockedError(
                    f"{where} is open in another instance (its advisory lock is held)"
                )
            sealer = Sealer(encryption_key, client_id, where) if encryption_key else None
            generation = await _setup_account(conn, where, client_id, sealer, read_only)
        except BaseException as exc:
            await _close_quietly(conn)
            if isinstance(exc, Exception) and not isinstance(exc, AuthStateError):
                raise _translate(apg, exc, where) from exc
            raise
        return cls(
            where=where,
            client_id=client_id,
            lock_conn=conn,
            pool=pool,
            sealer=sealer,
            generation=generation,
            heartbeat=heartbeat,
            read_only=read_only,
        )

    # -- connection handling -------------------------------------------------------------

    def _lose(self, kind: type[AuthStateError], reason: str) -> None:
        if not self._closed and self._lost is None:
            self._lost = (kind, reason)
            _log.error("%s: lost the account lock: %s", self._where, reason)

    def _lost_error(self) -> AuthStateError:
        kind, reason = self._lost or (AuthStateError, "lost the account lock")
        return kind(f"{self._where}: {reason}; reopen the account")

    def _on_lock_connection_end(self, _conn: object) -> None:
        self._lose(StoreUnavailableError, "the connection holding the account lock ended")

    async def _beat(self, interval: float) -> None:
        """Ping the lock connection; a failure means the lock may be gone."""
        while not self._closed and self._lost is None:
            await asyncio.sleep(interval)
            try:
                async with self._conn_mutex:
                    if self._closed:
                        return
                    await self._lock_conn.fetchval("SELECT 1", timeout=interval)
            except Exception as exc:
                reason = f"the connection holding the account lock failed a heartbeat ({exc!r})"
                self._lose(StoreUnavailableError, reason)
                self._lock_conn.terminate()
                return

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[_Conn]:
        if self._pool is not None:
            async with self._pool.acquire() as conn:
                yield conn
            return
        async with self._conn_mutex:
            yield self._lock_conn

    async def _run(self, fn: Callable[[_Conn], Awaitable[_T]], *, write: bool = False) -> _T:
        if self._closed:
            raise AuthStateError(f"{self._where}: the store is closed")
        if self._lost is not None:
            raise self._lost_error()
        if write and self._read_only:
            raise AuthStateError(f"{self._where}: opened read-only; nothing was written")
        try:
            async with self._connection() as conn:
                return await fn(conn)
        except AuthStateError:
            raise
        except Exception as exc:
            if self._lost is not None:
                raise self._lost_error() from exc
            raise _translate(self._apg, exc, self._where) from exc

    # -- the StorageBackend interface ----------------------------------------------------

    async def read(self, category: str, ids: Sequence[str]) -> dict[str, bytes]:
        """The stored values of ``ids`` in ``category``; missing ids are absent."""
        if not ids:
            return {}

        async def query(conn: _Conn) -> list[Any]:
            return list(await conn.fetch(_SELECT, self._client_id, category, list(ids)))

        rows = await self._run(query)
        return {row[0]: self._unseal(category, row[0], row[1]) for row in rows}

    async def write(self, changes: KeyChanges) -> None:
        """Apply every change in one transaction; durable when it returns."""
        if not any(changes.values()):
            return
        await self.commit(changes)

    async def commit(self, changes: KeyChanges, creds: AuthCreds | None = None) -> None:
        """Apply key changes and (if given) replace the creds, all in one transaction."""
        batches: list[tuple[str, list[str], list[bytes], list[str]]] = []
        for category, values in changes.items():
            up_ids = [k for k, v in values.items() if v is not None]
            up_values = [self._seal(category, k, v) for k, v in values.items() if v is not None]
            dels = [k for k, v in values.items() if v is None]
            batches.append((category, up_ids, up_values, dels))
        sealed_creds = None if creds is None else self._seal(CREDS_CATEGORY, "", creds.to_bytes())

        async def apply(conn: _Conn) -> None:
            async with conn.transaction():
                await self._fence(conn)
                for category, up_ids, up_values, dels in batches:
                    if up_ids:
                        await conn.execute(_UPSERT, self._client_id, category, up_ids, up_values)
                    if dels:
                        await conn.execute(_DELETE, self._client_id, category, dels)
                if sealed_creds is not None:
                    await conn.execute(
                        "UPDATE wamd_accounts SET creds = $2 WHERE client_id = $1",
                        self._client_id,
                        sealed_creds,
                    )

        await self._run(apply, write=True)

    async def _fence(self, conn: _Conn) -> None:
        """Inside a write transaction: fail unless this open still owns the account."""
        generation = await conn.fetchval(_FENCE, self._client_id)
        if generation != self._generation:
            self._lose(StoreLockedError, "another instance has opened the account since")
            raise StoreLockedError(
                f"{self._where}: another instance has opened the account; nothing was written"
            )

    async def list_ids(self, category: str) -> list[str]:
        """Every id stored in ``category`` for this account, sorted."""

        async def query(conn: _Conn) -> list[str]:
            rows = await conn.fetch(
                "SELECT id FROM wamd_keys WHERE client_id = $1 AND category = $2 ORDER BY id",
                self._client_id,
                category,
            )
            return [str(row[0]) for row in rows]

        return await self._run(query)

    async def count(self) -> dict[str, int]:
        """The number of stored keys per category for this account."""

        async def query(conn: _Conn) -> dict[str, int]:
            rows = await conn.fetch(
                "SELECT category, count(*) FROM wamd_keys WHERE client_id = $1 GROUP BY category",
                self._client_id,
            )
            return {str(row[0]): int(row[1]) for row in rows}

        return await self._run(query)

    async def load_creds(self) -> AuthCreds | None:
        """The stored creds of this account, or ``None``."""

        async def query(conn: _Conn) -> bytes | None:
            value = await conn.fetchval(
                "SELECT creds FROM wamd_accounts WHERE client_id = $1", self._client_id
            )
            return None if value is None else bytes(value)

        data = await self._run(query)
        if data is None:
            return None
        plain = self._unseal(CREDS_CATEGORY, "", data)
        return AuthCreds.from_bytes(plain, where=f"creds in {self._where}")

    async def save_creds(self, creds: AuthCreds) -> None:
        """Replace this account's creds (fenced by the generation); durable when it returns."""
        await self.commit({}, creds)

    async def close(self) -> None:
        """Release the account's lock and close our connection; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._heartbeat
        async with self._conn_mutex:
            if self._lost is None and not self._lock_conn.is_closed():
                with contextlib.suppress(Exception):
                    await self._lock_conn.execute(
                        "SELECT pg_advisory_unlock($1)", lock_number(self._client_id)
                    )
            await _close_quietly(self._lock_conn)

    def _seal(self, category: str, key_id: str, value: bytes) -> bytes:
        return value if self._sealer is None else self._sealer.seal(category, key_id, value)

    def _unseal(self, category: str, key_id: str, value: bytes) -> bytes:
        value = bytes(value)
        return value if self._sealer is None else self._sealer.open(category, key_id, value)

    def __repr__(self) -> str:
        return f"<PostgresBackend {self._where}{' encrypted' if self._sealer else ''}>"


async def _setup_account(
    conn: asyncpg.Connection, where: str, client_id: str, sealer: Sealer | None, read_only: bool
) -> int:
    """Create the account row if missing, bump its generation, check the key."""
    if read_only:
        found = await conn.fetchrow(
            "SELECT generation, key_check FROM wamd_accounts WHERE client_id = $1", client_id
        )
        if found is None:
            raise AccountMissingError(f"{where}: no such account in this database")
        check = found["key_check"]
        verify_key_check(where, sealer, None if check is None else bytes(check))
        return int(found["generation"])
    async with conn.transaction():
        row = await conn.fetchrow(
            "UPDATE wamd_accounts SET generation = generation + 1 WHERE client_id = $1"
            " RETURNING generation, key_check",
            client_id,
        )
        if row is None:
            check = make_key_check(sealer) if sealer is not None else None
            await conn.execute(
                "INSERT INTO wamd_accounts (client_id, creds, key_check, generation)"
                " VALUES ($1, NULL, $2, 1)",
                client_id,
                check,
            )
            return 1
    check_value = row["key_check"]
    verify_key_check(where, sealer, None if check_value is None else bytes(check_value))
    return int(row["generation"])


async def _close_quietly(conn: asyncpg.Connection) -> None:
    try:
        await asyncio.wait_for(conn.close(), timeout=5.0)
    except Exception:
        conn.terminate()


def _translate(apg: Any, exc: Exception, where: str) -> AuthStateError:
    """A driver error as an auth-state error that names the store (never the password)."""
    if _is_connection_error(apg, exc):
        detail = str(exc) or type(exc).__name__
        return StoreUnavailableError(f"{where}: cannot reach the server ({detail})")
    if isinstance(exc, apg.PostgresError):
        return AuthStateError(f"{where}: database error: {exc}")
    return AuthStateError(f"{where}: {type(exc).__name__}: {exc}")


async def use_postgres_auth_state(
    dsn: str,
    client_id: str = "default",
    *,
    encryption_key: bytes | None = None,
    pool: asyncpg.Pool | None = None,
) -> AuthHandle:
    """Open (or create) account ``client_id`` in the PostgreSQL database at ``dsn``.

    Needs the ``wamd[postgres]`` extra. See :class:`PostgresBackend` for the errors it
    raises; close the returned handle (or use it as an async context manager) to release
    the account's lock.
    """
    backend = await PostgresBackend.open(dsn, client_id, encryption_key=encryption_key, pool=pool)
    return await open_auth_state(backend)
