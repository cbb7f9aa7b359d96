"""The Redis backend against a real server (tests/servers.py starts it once).

The server runs with ``appendonly yes`` and ``appendfsync always``, the configuration
under which an acknowledged write is on disk. One test kills the server (SIGKILL) and
finds an acknowledged write again after the restart; a killed process cannot show the
fsync itself (the kernel keeps what was written), only that the write was in the AOF.

The KeyStore contract suite runs on it through conftest.BACKENDS; these tests cover the
lease between instances, fencing, many accounts, encryption at rest, layout versions and
a server that goes away.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from tests.servers import RedisServer, require_redis
from tests.unit.auth.child import held_by_child
from wamd.auth import use_redis_auth_state
from wamd.auth.backends.redis import SCHEMA_VERSION, RedisBackend
from wamd.auth.creds import init_auth_creds
from wamd.errors import (
    AuthStateError,
    StoreKeyError,
    StoreLockedError,
    StoreSchemaError,
    StoreUnavailableError,
    UsageError,
)

KEY = bytes(range(32))


@pytest.fixture(scope="module")
def server() -> RedisServer:
    """The session's Redis server."""
    return require_redis()


@pytest.fixture
def prefix() -> str:
    """A key prefix of its own for one test."""
    return f"t{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def raw(server: RedisServer) -> AsyncIterator[Redis]:
    """A plain client for looking at (and tampering with) the stored keys."""
    client = Redis.from_url(server.url)
    try:
        yield client
    finally:
        await client.aclose()


async def _open(server: RedisServer, prefix: str, client_id: str, **kw: object) -> RedisBackend:
    return await RedisBackend.open(server.url, client_id, prefix=prefix, **kw)  # type: ignore[arg-type]


async def test_handle_creates_and_reloads_creds(server: RedisServer, prefix: str) -> None:
    async with await use_redis_auth_state(server.url, "bot", prefix=prefix) as handle:
        creds = handle.state.creds
        creds.next_pre_key_id = 42
        await handle.save_creds()
        await handle.state.keys.set({"pre-key": {"1": b"one"}})
    async with await use_redis_auth_state(server.url, "bot", prefix=prefix) as again:
        assert again.state.creds == creds
        assert again.state.creds.next_pre_key_id == 42
        assert await again.state.keys.get("pre-key", ["1"]) == {"1": b"one"}


async def test_second_opener_is_locked_out_until_the_first_closes(
    server: RedisServer, prefix: str, raw: Redis
) -> None:
    first = await _open(server, prefix, "acct")
    try:
        with pytest.raises(StoreLockedError, match="another instance"):
            await _open(server, prefix, "acct")
        other = await _open(server, prefix, "other-acct")
        await other.write({"session": {"a": b"1"}})
        await first.write({"session": {"a": b"2"}})
        assert await other.read("session", ["a"]) == {"a": b"1"}
        await other.close()
    finally:
        await first.close()
    assert await raw.exists(f"{prefix}{{acct}}:lock") == 0  # released on close
    again = await _open(server, prefix, "acct")
    assert await again.read("session", ["a"]) == {"a": b"2"}
    await again.close()


async def test_the_lease_is_renewed_while_open(server: RedisServer, prefix: str) -> None:
    holder = await _open(server, prefix, "long", lease_ms=1000)
    try:
        await asyncio.sleep(1.6)  # longer than the lease: only renewal keeps it
        with pytest.raises(StoreLockedError):
            await _open(server, prefix, "long")
        await holder.write({"session": {"a": b"still mine"}})
        assert not holder.lock_lost
    finally:
        await holder.close()


async def test_lease_of_a_killed_process_runs_out(server: RedisServer, prefix: str) -> None:
    async with held_by_child(
        "from wamd.auth.backends.redis import RedisBackend",
        f"RedisBackend.open({server.url!r}, 'killed', prefix={prefix!r}, lease_ms=1000)",
    ):
        with pytest.raises(StoreLockedError, match="lease"):
            await _open(server, prefix, "killed")
    backend = None
    for _ in range(60):  # bounded: the 1 s lease must run out well within 3 s
        try:
            backend = await _open(server, prefix, "killed")
            break
        except StoreLockedError:
            await asyncio.sleep(0.05)
    assert backend is not None, "the lease of a killed process never ran out"
    assert await backend.read("session", ["x"]) == {"x": b"held"}
    await backend.close()


async def test_a_lost_lease_fences_off_writes(server: RedisServer, prefix: str, raw: Redis) -> None:
    backend = await _open(server, prefix, "fenced")
    await backend.write({"session": {"a": b"before"}})
    # The lease ran out (a long pause) and another instance took it.
    await raw.set(f"{prefix}{{fenced}}:lock", "someone-else", px=30_000)
    with pytest.raises(StoreLockedError, match="no longer ours"):
        await backend.write({"session": {"a": b"stale", "b": b"stale"}})
    assert backend.lock_lost
    assert await raw.hgetall(f"{prefix}{{fenced}}:k:session") == {b"a": b"before"}
    with pytest.raises(StoreLockedError):
        await backend.save_creds(init_auth_creds())
    await backend.close()
    # Closing a backend whose lease is gone leaves the new holder's lease alone.
    assert await raw.get(f"{prefix}{{fenced}}:lock") == b"someone-else"


async def test_a_lease_that_cannot_be_renewed_is_given_up(server: RedisServer, prefix: str) -> None:
    backend = await _open(server, prefix, "partitioned", lease_ms=1000, timeout=0.3)
    os.kill(server.pid, signal.SIGSTOP)  # the server stops answering (a partition)
    try:
        for _ in range(60):
            if backend.lock_lost:
                break
            await asyncio.sleep(0.05)
    finally:
        os.kill(server.pid, signal.SIGCONT)
    assert backend.lock_lost
    with pytest.raises(StoreLockedError, match="could not be renewed"):
        await backend.write({"session": {"a": b"late"}})
    await backend.close()
    again = None
    for _ in range(40):  # the lease runs out at most 1 s after its last renewal
        try:
            again = await _open(server, prefix, "partitioned")
            break
        except StoreLockedError:
            await asyncio.sleep(0.05)
    assert again is not None
    assert await again.read("session", ["a"]) == {}
    await again.close()


async def test_a_hundred_accounts_share_one_redis_in_isolation(
    server: RedisServer, prefix: str
) -> None:
    ids = [f"account-{n:03d}" for n in range(100)]
    client = Redis.from_url(server.url)  # one connection pool for all of them
    backends = await asyncio.gather(
        *(RedisBackend.open(server.url, cid, prefix=prefix, client=client) for cid in ids)
    )
    try:
        await asyncio.gather(
            *(
                b.write({"session": {"shared-id": cid.encode(), f"own-{cid}": b"x"}})
                for b, cid in zip(backends, ids, strict=True)
            )
        )
        for backend, cid in zip(backends, ids, strict=True):
            assert await backend.read("session", ["shared-id"]) == {"shared-id": cid.encode()}
            assert await backend.list_ids("session") == sorted(["shared-id", f"own-{cid}"])
        await backends[7].write({"session": {"shared-id": None}})
        assert await backends[7].read("session", ["shared-id"]) == {}
        assert await backends[8].read("session", ["shared-id"]) == {"shared-id": b"account-008"}
    finally:
        await asyncio.gather(*(b.close() for b in backends))
        assert await client.ping()  # a client we passed in is not closed
        await client.aclose()


async def test_encrypted_values_are_unreadable_in_redis(
    server: RedisServer, prefix: str, raw: Redis
) -> None:
    secret = b"a very recognisable session record"
    async with await use_redis_auth_state(
        server.url, "enc", encryption_key=KEY, prefix=prefix
    ) as handle:
        await handle.state.keys.set({"session": {"peer": secret}})
        identity = handle.state.creds.signed_identity_key.private
    stored = await raw.hgetall(f"{prefix}{{enc}}:k:session")
    assert list(stored) == [b"peer"]
    assert secret not in stored[b"peer"]
    creds = await raw.hget(f"{prefix}{{enc}}:meta", "creds")
    assert creds is not None
    assert identity not in creds
    assert b"signed" not in creds.lower()
    async with await use_redis_auth_state(
        server.url, "enc", encryption_key=KEY, prefix=prefix
    ) as handle:
        assert await handle.state.keys.get("session", ["peer"]) == {"peer": secret}
    with pytest.raises(StoreKeyError, match="wrong encryption_key"):
        await _open(server, prefix, "enc", encryption_key=bytes(32))
    with pytest.raises(StoreKeyError, match="encrypted"):
        await _open(server, prefix, "enc")
    await (await _open(server, prefix, "plain")).close()
    with pytest.raises(StoreKeyError, match="unencrypted"):
        await _open(server, prefix, "plain", encryption_key=KEY)
    # A failed open gives the lease back.
    await (await _open(server, prefix, "enc", encryption_key=KEY)).close()


async def test_a_newer_layout_is_refused(server: RedisServer, prefix: str, raw: Redis) -> None:
    await raw.set(prefix + "schema", str(SCHEMA_VERSION + 1))
    with pytest.raises(StoreSchemaError, match="newer than this wamd"):
        await _open(server, prefix, "x")


async def test_read_only_open_creates_nothing_and_refuses_writes(
    server: RedisServer, prefix: str, raw: Redis
) -> None:
    with pytest.raises(AuthStateError, match="no wamd auth state"):
        await _open(server, prefix, "ro", read_only=True)
    assert await raw.keys(prefix + "*") == []
    writer = await _open(server, prefix, "ro")
    await writer.write({"pre-key": {"1": b"k"}})
    await writer.close()
    with pytest.raises(AuthStateError, match="no such account"):
        await _open(server, prefix, "missing", read_only=True)
    reader = await _open(server, prefix, "ro", read_only=True)
    try:
        assert await reader.read("pre-key", ["1"]) == {"1": b"k"}
        with pytest.raises(AuthStateError, match="read-only"):
            await reader.write({"pre-key": {"2": b"k"}})
    finally:
        await reader.close()


async def test_unreachable_server_is_a_clear_error() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    url = f"redis://:hunter2@127.0.0.1:{port}/0"
    with pytest.raises(StoreUnavailableError, match="cannot reach the server") as caught:
        await RedisBackend.open(url, "x", timeout=5)
    assert "hunter2" not in str(caught.value)
    assert f"127.0.0.1:{port}" in str(caught.value)


async def test_acknowledged_writes_survive_a_server_crash(server: RedisServer, prefix: str) -> None:
    backend = await _open(server, prefix, "crash")
    try:
        await backend.write({"session": {"a": b"acknowledged"}})
        await asyncio.to_thread(server.kill)
        with pytest.raises(StoreUnavailableError):
            await backend.read("session", ["a"])
        with pytest.raises(StoreUnavailableError):
            await _open(server, prefix, "other", timeout=5)
        server.start()  # from the main thread: see servers._die_with_parent
        # The same open account carries on once the server is back (its lease came
        # back from the append-only file too).
        assert await backend.read("session", ["a"]) == {"a": b"acknowledged"}
        await backend.write({"session": {"b": b"after"}})
    finally:
        server.start()  # from the main thread: see servers._die_with_parent
        await backend.close()


async def test_a_decoding_client_is_refused(server: RedisServer, prefix: str) -> None:
    client = Redis.from_url(server.url, decode_responses=True)
    try:
        with pytest.raises(UsageError, match="decode"):
            await RedisBackend.open(server.url, "x", prefix=prefix, client=client)
    finally:
        await client.aclose()


async def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(AuthStateError, match=r"wamd\[redis\]"):
        await RedisBackend.open("redis://127.0.0.1/0", "x")
