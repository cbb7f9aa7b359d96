"""The Redis backend (RemoteAuth): many accounts, many instances, one Redis.

Keys of one account share the hash tag ``{client_id}`` (percent-encoded), so they live
in one slot of a Redis Cluster and one script may touch them all:

- ``<prefix>schema``: the layout version; a newer one is refused.
- ``<prefix>{<client_id>}:meta``: a hash with ``creds`` (``AuthCreds.to_bytes()``),
  ``key_check`` (an encrypted account's sealed check value) and ``created``.
- ``<prefix>{<client_id>}:k:<category>``: a hash, key id -> value.
- ``<prefix>{<client_id>}:lock``: the account's lease.

Locking is a lease: opening sets the lock key to a random token with ``SET NX PX``
(30 s by default), a background task renews it every third of that while the account is
open, and closing deletes it if it still holds our token. A second opener gets
:class:`StoreLockedError`; a crashed instance's lease runs out by itself. Every write
and creds save is one Lua script that first checks the lease still holds our token, so
an instance whose lease has expired (paused, partitioned) can never write; it gets
:class:`StoreLockedError`, as does every call after the lease is known lost.

Atomicity: a script runs as a whole with no other command in between. Durability is the
server's: a write is on disk when it returns only if the server runs with
``appendonly yes`` and ``appendfsync always``; with ``everysec`` (Redis' default for
AOF) up to a second of acknowledged writes can be lost in a crash, and without AOF
everything since the last snapshot. Opening logs a warning when the server says it is
not configured for fsync-always (when ``CONFIG GET`` is allowed). See
``docs/remote-backends.md``.

With an ``encryption_key`` values and creds are sealed as in the native backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from wamd.auth.backends._remote import (
    CREDS_CATEGORY,
    AccountMissingError,
    Sealer,
    check_args,
    import_driver,
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
    UsageError,
)
from wamd.signal.store import KeyChanges

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["SCHEMA_VERSION", "RedisBackend", "use_redis_auth_state"]

_log = logging.getLogger(__name__)
_T = TypeVar("_T")

SCHEMA_VERSION = 1
"""The key layout version this code writes."""

_LOST = "WAMDLOCK"
_CHUNK = 500  # ids (or id/value pairs) per HMGET / HSET

# KEYS: lock, meta, then one hash per category. ARGV: token, creds flag, creds, then per
# category: number of sets, number of deletes, the id/value pairs, the deleted ids.
_WRITE = f"""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('{_LOST} the lease is no longer ours')
end
local a = 4
for k = 3, #KEYS do
  local nset = tonumber(ARGV[a])
  local ndel = tonumber(ARGV[a + 1])
  a = a + 2
  local i = 0
  while i < nset do
    local m = math.min({_CHUNK}, nset - i)
    redis.call('HSET', KEYS[k], unpack(ARGV, a + 2 * i, a + 2 * (i + m) - 1))
    i = i + m
  end
  a = a + 2 * nset
  i = 0
  while i < ndel do
    local m = math.min({_CHUNK}, ndel - i)
    redis.call('HDEL', KEYS[k], unpack(ARGV, a + i, a + i + m - 1))
    i = i + m
  end
  a = a + ndel
end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[2], 'creds', ARGV[3])
end
return 1
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _driver() -> Any:
    return import_driver("redis.asyncio", "redis")


def _bytes(value: bytes | str) -> bytes:
    """A reply value as bytes (our clients never decode, but the types allow str)."""
    return value if isinstance(value, bytes) else value.encode()


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


class RedisBackend:
    """A :class:`~wamd.auth.backend.StorageBackend` for one ``client_id`` in Redis.

    Open it with :meth:`open`; it holds the account's lease until :meth:`close`.
    """

    remote_kind: ClassVar[str] = "redis"
    """Names the remote store; a connection emits ``RemoteSessionSaved`` after saving to it."""

    def __init__(
        self,
        *,
        where: str,
        client: Redis,
        owns_client: bool,
        base: str,
        client_id: str,
        token: str,
        lease_ms: int,
        sealer: Sealer | None,
        read_only: bool = False,
    ) -> None:
        self._where = where
        self._client = client
        self._owns_client = owns_client
        self._base = base
        self._client_id = client_id
        self._token = token
        self._lease_ms = lease_ms
        self._sealer = sealer
        self._read_only = read_only
        self._write_script = client.register_script(_WRITE)
        self._renew_script = client.register_script(_RENEW)
        self._release_script = client.register_script(_RELEASE)
        self._closed = False
        self._lost: str | None = None
        self._renewer = asyncio.get_running_loop().create_task(
            self._renew_loop(), name=f"wamd-redis-lease {client_id}"
        )

    @property
    def client_id(self) -> str:
        """The account this backend reads and writes."""
        return self._client_id

    @property
    def lock_lost(self) -> bool:
        """True once the account's lease is known to be no longer ours."""
        return self._lost is not None

    @property
    def read_only(self) -> bool:
        """Whether this backend was opened read-only (writes are refused)."""
        return self._read_only

    @classmethod
    async def open(
        cls,
        url: str,
        client_id: str = "default",
        *,
        encryption_key: bytes | None = None,
        client: Redis | None = None,
        prefix: str = "wamd:",
        lease_ms: int = 30_000,
        timeout: float = 10.0,
        read_only: bool = False,
    ) -> RedisBackend:
        """Open (creating if needed) ``client_id`` in the Redis at ``url`` (or ``client``).

        Opened ``read_only`` (a migration source) it changes no data (it still takes the
        lease): the account must exist, and writes are refused.

        A ``client`` the caller passes is used as is (it must not decode responses) and
        is not closed by :meth:`close`. Raises :class:`StoreLockedError` if another
        instance holds the account's lease, :class:`StoreUnavailableError` if the server
        cannot be reached, :class:`StoreSchemaError` for a newer layout and
        :class:`StoreKeyError` for a missing or wrong ``encryption_key``.
        """
        check_args(client_id, encryption_key)
        if lease_ms < 1000:
            raise UsageError("lease_ms must be at least 1000")
        mod = _driver()
        where = f"Redis {redact_url(url)} (client_id {client_id!r})"
        owns = client is None
        if client is None:
            client = mod.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        elif client.connection_pool.connection_kwargs.get("decode_responses"):
            raise UsageError("the Redis client must not decode responses (values are bytes)")
        assert client is not None
        base = f"{prefix}{{{_quote(client_id)}}}"
        token = os.urandom(16).hex()
        try:
            await _check_schema(client, prefix, where, create=not read_only)
            if not await client.set(base + ":lock", token, nx=True, px=lease_ms):
                left = await client.pttl(base + ":lock")
                raise StoreLockedError(
                    f"{where} is open in another instance (its lease has {left} ms left)"
                )
            try:
                sealer = Sealer(encryption_key, client_id, where) if encryption_key else None
                await _setup_account(client, base, where, sealer, create=not read_only)
            except BaseException:
                with contextlib.suppress(Exception):
                    await client.register_script(_RELEASE)(keys=[base + ":lock"], args=[token])
                raise
            await _warn_if_not_durable(client, where)
        except BaseException as exc:
            if owns:
                with contextlib.suppress(Exception):
                    await client.aclose()
            if isinstance(exc, Exception) and not isinstance(exc, AuthStateError):
                raise _translate(exc, where) from exc
            raise
        return cls(
            where=where,
            client=client,
            owns_client=owns,
            base=base,
            client_id=client_id,
            token=token,
            lease_ms=lease_ms,
            sealer=sealer,
            read_only=read_only,
        )

    # -- lease --------------------------------------------------------------------------

    def _lose(self, reason: str) -> None:
        if not self._closed and self._lost is None:
            self._lost = reason
            _log.error("%s: lost the account lease: %s", self._where, reason)

    async def _renew_loop(self) -> None:
        """Extend the lease every third of its length; give it up as lost if it lapses."""
        period = self._lease_ms / 3000
        last_ok = time.monotonic()
        while not self._closed and self._lost is None:
            await asyncio.sleep(period)
            try:
                renewed = await asyncio.wait_for(
                    self._renew_script(keys=[self._lock], args=[self._token, self._lease_ms]),
                    timeout=period,
                )
            except Exception as exc:
                if time.monotonic() - last_ok >= self._lease_ms / 1000:
                    self._lose(f"the lease could not be renewed before it ran out ({exc!r})")
                else:
                    _log.warning("%s: renewing the lease failed, will retry: %r", self._where, exc)
                continue
            if not renewed:
                self._lose("the lease ran out or was taken by another instance")
            last_ok = time.monotonic()

    @property
    def _lock(self) -> str:
        return self._base + ":lock"

    @property
    def _meta(self) -> str:
        return self._base + ":meta"

    def _hash(self, category: str) -> str:
        return f"{self._base}:k:{_quote(category)}"

    async def _run(self, fn: Callable[[], Awaitable[_T]], *, write: bool = False) -> _T:
        if self._closed:
            raise AuthStateError(f"{self._where}: the store is closed")
        if self._lost is not None:
            raise StoreLockedError(f"{self._where}: {self._lost}; reopen the account")
        if write and self._read_only:
            raise AuthStateError(f"{self._where}: opened read-only; nothing was written")
        try:
            return await fn()
        except AuthStateError:
            raise
        except Exception as exc:
            if _LOST in str(exc):
                self._lose("the lease is no longer ours")
                raise StoreLockedError(
                    f"{self._where}: the account's lease is no longer ours (it ran out or "
                    "another instance took it); nothing was written"
                ) from exc
            raise _translate(exc, self._where) from exc

    # -- the StorageBackend interface ----------------------------------------------------

    async def read(self, category: str, ids: Sequence[str]) -> dict[str, bytes]:
        """The stored values of ``ids`` in ``category``; missing ids are absent."""
        wanted = list(ids)
        if not wanted:
            return {}

        async def query() -> dict[str, bytes]:
            found: dict[str, bytes] = {}
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                values = await self._client.hmget(self._hash(category), chunk)
                for key_id, value in zip(chunk, values, strict=True):
                    if value is not None:
                        found[key_id] = self._unseal(category, key_id, _bytes(value))
            return found

        return await self._run(query)

    async def write(self, changes: KeyChanges) -> None:
        """Apply every change atomically (one script); durable as the server's AOF is."""
        if not any(changes.values()):
            return
        await self.commit(changes)

    async def commit(self, changes: KeyChanges, creds: AuthCreds | None = None) -> None:
        """Apply key changes and (if given) replace the creds, all in one script."""
        keys = [self._lock, self._meta]
        args: list[str | bytes | int] = [self._token]
        if creds is None:
            args += ["0", b""]
        else:
            args += ["1", self._seal(CREDS_CATEGORY, "", creds.to_bytes())]
        for category, values in changes.items():
            if not values:
                continue
            sets = [(k, v) for k, v in values.items() if v is not None]
            dels = [k for k, v in values.items() if v is None]
            keys.append(self._hash(category))
            args += [len(sets), len(dels)]
            for key_id, value in sets:
                args += [key_id, self._seal(category, key_id, value)]
            args += dels

        async def apply() -> None:
            await self._write_script(keys=keys, args=args)

        await self._run(apply, write=True)

    async def list_ids(self, category: str) -> list[str]:
        """Every id stored in ``category`` for this account, sorted."""

        async def query() -> list[str]:
            keys = await self._client.hkeys(self._hash(category))
            return sorted(_bytes(k).decode() for k in keys)

        return await self._run(query)

    async def load_creds(self) -> AuthCreds | None:
        """The stored creds of this account, or ``None``."""

        async def query() -> bytes | None:
            value = await self._client.hget(self._meta, "creds")
            return None if value is None else _bytes(value)

        data = await self._run(query)
        if data is None:
            return None
        plain = self._unseal(CREDS_CATEGORY, "", data)
        return AuthCreds.from_bytes(plain, where=f"creds in {self._where}")

    async def save_creds(self, creds: AuthCreds) -> None:
        """Replace this account's creds (fenced by the lease); durable as the AOF is."""
        await self.commit({}, creds)

    async def close(self) -> None:
        """Release the lease and (if we made it) the client; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._renewer
        try:
            if self._lost is None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        self._release_script(keys=[self._lock], args=[self._token]), timeout=5.0
                    )
        finally:
            if self._owns_client:
                with contextlib.suppress(Exception):
                    await self._client.aclose()

    def _seal(self, category: str, key_id: str, value: bytes) -> bytes:
        return value if self._sealer is None else self._sealer.seal(category, key_id, value)

    def _unseal(self, category: str, key_id: str, value: bytes) -> bytes:
        return value if self._sealer is None else self._sealer.open(category, key_id, value)

    def __repr__(self) -> str:
        return f"<RedisBackend {self._where}{' encrypted' if self._sealer else ''}>"


async def _check_schema(client: Redis, prefix: str, where: str, *, create: bool) -> None:
    key = prefix + "schema"
    if create:
        await client.set(key, str(SCHEMA_VERSION), nx=True)
    raw = await client.get(key)
    if raw is None:
        raise AccountMissingError(f"{where}: no wamd auth state under the prefix {prefix!r}")
    try:
        found = int(_bytes(raw))
    except (TypeError, ValueError, AttributeError):
        raise CorruptStoreError(f"{where}: {key} does not hold a schema version") from None
    if found > SCHEMA_VERSION:
        raise StoreSchemaError(
            f"{where} has layout version {found}, newer than this wamd supports "
            f"({SCHEMA_VERSION}); upgrade wamd to open it"
        )


async def _setup_account(
    client: Redis, base: str, where: str, sealer: Sealer | None, *, create: bool
) -> None:
    """Mark a new account (with its key check), or check the key of an existing one."""
    meta = base + ":meta"
    created, check = await client.hmget(meta, ["created", "key_check"])
    if created is None and not create:
        raise AccountMissingError(f"{where}: no such account")
    if created is None:
        fields: dict[str, bytes] = {"created": b"1"}
        if sealer is not None:
            fields["key_check"] = make_key_check(sealer)
        await client.hset(meta, mapping=fields)  # type: ignore[arg-type]
        return
    verify_key_check(where, sealer, None if check is None else _bytes(check))


async def _warn_if_not_durable(client: Redis, where: str) -> None:
    try:
        config: dict[Any, Any] = dict(await client.config_get("append*"))
    except Exception:  # CONFIG is often disabled on managed servers
        return
    aof = config.get(b"appendonly", config.get("appendonly"))
    fsync = config.get(b"appendfsync", config.get("appendfsync"))
    if aof not in (b"yes", "yes") or fsync not in (b"always", "always"):
        _log.warning(
            "%s: the server runs appendonly=%s appendfsync=%s: acknowledged writes can be "
            "lost if it crashes (use appendonly yes, appendfsync always)",
            where,
            aof,
            fsync,
        )


def _translate(exc: Exception, where: str) -> AuthStateError:
    """A driver error as an auth-state error that names the store (never the password)."""
    errors = import_driver("redis.exceptions", "redis")
    unreachable = OSError | asyncio.TimeoutError | errors.ConnectionError | errors.TimeoutError
    if isinstance(exc, unreachable):
        detail = str(exc) or type(exc).__name__
        return StoreUnavailableError(f"{where}: cannot reach the server ({detail})")
    if isinstance(exc, errors.ResponseError) and "WRONGTYPE" in str(exc):
        return CorruptStoreError(f"{where}: a key holds the wrong Redis type: {exc}")
    return AuthStateError(f"{where}: Redis error: {type(exc).__name__}: {exc}")


async def use_redis_auth_state(
    url: str,
    client_id: str = "default",
    *,
    encryption_key: bytes | None = None,
    client: Redis | None = None,
    prefix: str = "wamd:",
) -> AuthHandle:
    """Open (or create) account ``client_id`` in the Redis at ``url`` (or ``client``).

    Needs the ``wamd[redis]`` extra. Every key starts with ``prefix``. See
    :class:`RedisBackend` for the lease, the errors it raises and what durability the
    server must be configured for; close the returned handle (or use it as an async
    context manager) to release the lease.
    """
    backend = await RedisBackend.open(
        url, client_id, encryption_key=encryption_key, client=client, prefix=prefix
    )
    return await open_auth_state(backend)
