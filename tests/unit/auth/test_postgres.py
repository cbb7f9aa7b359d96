"""The PostgreSQL backend against a real server (tests/servers.py starts it once).

The KeyStore contract suite runs on it through conftest.BACKENDS; these tests cover
what is particular to it: the advisory lock between instances, many accounts in one
database, encryption at rest, schema versions and a server that goes away.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tests.servers import PostgresServer, require_postgres
from tests.unit.auth.child import held_by_child
from wamd.auth import use_postgres_auth_state
from wamd.auth.backends._remote import lock_number
from wamd.auth.backends.postgres import SCHEMA_VERSION, PostgresBackend
from wamd.auth.creds import init_auth_creds
from wamd.errors import (
    AuthStateError,
    StoreKeyError,
    StoreLockedError,
    StoreSchemaError,
    StoreUnavailableError,
)

KEY = bytes(range(32))


@pytest.fixture(scope="module")
def server() -> PostgresServer:
    """The session's PostgreSQL server."""
    return require_postgres()


@pytest.fixture
async def dsn(server: PostgresServer) -> AsyncIterator[str]:
    """A fresh, empty database of its own for one test."""
    name = "t_" + uuid.uuid4().hex[:12]
    admin = await asyncpg.connect(server.dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield server.dsn.rsplit("/", 1)[0] + "/" + name
    server.start()  # a test may have stopped it
    admin = await asyncpg.connect(server.dsn)
    try:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _lock_holder_pid(dsn: str, client_id: str) -> int | None:
    """The server pid of the connection holding ``client_id``'s advisory lock, if any."""
    number = lock_number(client_id) & 0xFFFFFFFFFFFFFFFF
    conn = await asyncpg.connect(dsn)
    try:
        pid = await conn.fetchval(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 1",
            number >> 32,
            number & 0xFFFFFFFF,
        )
    finally:
        await conn.close()
    return None if pid is None else int(pid)


async def test_handle_creates_and_reloads_creds(dsn: str) -> None:
    async with await use_postgres_auth_state(dsn, "bot") as handle:
        creds = handle.state.creds
        creds.next_pre_key_id = 42
        await handle.save_creds()
        await handle.state.keys.set({"pre-key": {"1": b"one"}})
    async with await use_postgres_auth_state(dsn, "bot") as again:
        assert again.state.creds == creds
        assert again.state.creds.next_pre_key_id == 42
        assert await again.state.keys.get("pre-key", ["1"]) == {"1": b"one"}


async def test_second_opener_is_locked_out_until_the_first_closes(dsn: str) -> None:
    first = await PostgresBackend.open(dsn, "acct")
    try:
        with pytest.raises(StoreLockedError, match="another instance"):
            await PostgresBackend.open(dsn, "acct")
        other = await PostgresBackend.open(dsn, "other-acct")  # a different account coexists
        await other.write({"session": {"a": b"1"}})
        await first.write({"session": {"a": b"2"}})
        assert await other.read("session", ["a"]) == {"a": b"1"}
        await other.close()
    finally:
        await first.close()
    again = await PostgresBackend.open(dsn, "acct")
    assert await again.read("session", ["a"]) == {"a": b"2"}
    await again.close()


async def test_lock_frees_when_the_holding_process_is_killed(dsn: str) -> None:
    async with held_by_child(
        "from wamd.auth.backends.postgres import PostgresBackend",
        f"PostgresBackend.open({dsn!r}, 'killed')",
    ):
        with pytest.raises(StoreLockedError):
            await PostgresBackend.open(dsn, "killed")
    backend = None
    for _ in range(100):  # the server notices the closed socket at once; bounded anyway
        try:
            backend = await PostgresBackend.open(dsn, "killed")
            break
        except StoreLockedError:
            await asyncio.sleep(0.05)
    assert backend is not None, "the lock of a killed process was never released"
    assert await backend.read("session", ["x"]) == {"x": b"held"}
    await backend.close()


@pytest.mark.parametrize("with_pool", [False, True])
async def test_losing_the_lock_connection_is_surfaced(dsn: str, with_pool: bool) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2) if with_pool else None
    try:
        backend = await PostgresBackend.open(dsn, "fragile", pool=pool)
        await backend.write({"session": {"a": b"before"}})
        pid = await _lock_holder_pid(dsn, "fragile")
        assert pid is not None
        admin = await asyncpg.connect(dsn)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        for _ in range(100):
            if backend.lock_lost:
                break
            await asyncio.sleep(0.02)
        assert backend.lock_lost
        with pytest.raises(StoreUnavailableError, match="lock"):
            await backend.write({"session": {"a": b"after"}})
        # The lock is free again: another instance may take the account over...
        taker = await PostgresBackend.open(dsn, "fragile")
        assert await taker.read("session", ["a"]) == {"a": b"before"}
        # ...and the first can never write to it again.
        with pytest.raises(AuthStateError):
            await backend.save_creds(init_auth_creds())
        await taker.close()
        await backend.close()
    finally:
        if pool is not None:
            await pool.close()


async def test_a_silent_lock_connection_is_caught_by_the_heartbeat(dsn: str) -> None:
    backend = await PostgresBackend.open(dsn, "silent", heartbeat=0.3)
    pid = await _lock_holder_pid(dsn, "silent")
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # the server process stops answering, the socket stays open
    try:
        for _ in range(100):
            if backend.lock_lost:
                break
            await asyncio.sleep(0.05)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert backend.lock_lost
    with pytest.raises(StoreUnavailableError, match="heartbeat"):
        await backend.read("session", ["a"])
    await backend.close()
    for _ in range(100):  # the server ends the abandoned session and frees the lock
        if await _lock_holder_pid(dsn, "silent") is None:
            break
        await asyncio.sleep(0.05)
    await (await PostgresBackend.open(dsn, "silent")).close()


async def test_a_stale_open_is_fenced_off_by_the_generation(dsn: str) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        stale = await PostgresBackend.open(dsn, "fenced", pool=pool)
        # Another instance opens the account after the first's lock is gone (here the
        # lock is released by hand, as the server does when a connection is cut but
        # before the first instance has noticed).
        await stale._lock_conn.execute("SELECT pg_advisory_unlock_all()")
        taker = await PostgresBackend.open(dsn, "fenced")
        with pytest.raises(StoreLockedError, match="another instance"):
            await stale.write({"session": {"a": b"stale"}})
        assert await taker.read("session", ["a"]) == {}
        await taker.close()
        await stale.close()
    finally:
        await pool.close()


async def test_a_hundred_accounts_share_one_database_in_isolation(dsn: str) -> None:
    ids = [f"account-{n:03d}" for n in range(100)]
    backends = await asyncio.gather(*(PostgresBackend.open(dsn, cid) for cid in ids))
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
            assert await backend.read("session", ["own-account-000"]) == (
                {"own-account-000": b"x"} if cid == "account-000" else {}
            )
        await backends[7].write({"session": {"shared-id": None}})
        assert await backends[7].read("session", ["shared-id"]) == {}
        assert await backends[8].read("session", ["shared-id"]) == {"shared-id": b"account-008"}
    finally:
        await asyncio.gather(*(b.close() for b in backends))


async def test_encrypted_values_are_unreadable_in_the_table(dsn: str) -> None:
    secret = b"a very recognisable session record"
    async with await use_postgres_auth_state(dsn, "enc", encryption_key=KEY) as handle:
        await handle.state.keys.set({"session": {"peer": secret}})
        identity = handle.state.creds.signed_identity_key.private
    conn = await asyncpg.connect(dsn)
    try:
        values = [bytes(r[0]) for r in await conn.fetch("SELECT value FROM wamd_keys")]
        creds = bytes(await conn.fetchval("SELECT creds FROM wamd_accounts"))
    finally:
        await conn.close()
    assert len(values) == 1
    assert secret not in values[0]
    assert identity not in creds
    assert b"signed" not in creds.lower()
    async with await use_postgres_auth_state(dsn, "enc", encryption_key=KEY) as handle:
        assert await handle.state.keys.get("session", ["peer"]) == {"peer": secret}
    with pytest.raises(StoreKeyError, match="wrong encryption_key"):
        await PostgresBackend.open(dsn, "enc", encryption_key=bytes(32))
    with pytest.raises(StoreKeyError, match="encrypted"):
        await PostgresBackend.open(dsn, "enc")
    plain = await PostgresBackend.open(dsn, "plain")
    await plain.close()
    with pytest.raises(StoreKeyError, match="unencrypted"):
        await PostgresBackend.open(dsn, "plain", encryption_key=KEY)
    # A failed open leaves the account free.
    reopened = await PostgresBackend.open(dsn, "enc", encryption_key=KEY)
    await reopened.close()


async def test_a_newer_schema_is_refused(dsn: str) -> None:
    await (await PostgresBackend.open(dsn, "x")).close()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("UPDATE wamd_schema SET version = $1", SCHEMA_VERSION + 1)
    finally:
        await conn.close()
    with pytest.raises(StoreSchemaError, match="newer than this wamd"):
        await PostgresBackend.open(dsn, "x")


async def test_read_only_open_creates_nothing_and_refuses_writes(dsn: str) -> None:
    with pytest.raises(AuthStateError, match="no wamd auth state"):
        await PostgresBackend.open(dsn, "ro", read_only=True)
    writer = await PostgresBackend.open(dsn, "ro")
    await writer.write({"pre-key": {"1": b"k"}})
    await writer.close()
    with pytest.raises(AuthStateError, match="no such account"):
        await PostgresBackend.open(dsn, "missing", read_only=True)
    reader = await PostgresBackend.open(dsn, "ro", read_only=True)
    try:
        assert await reader.read("pre-key", ["1"]) == {"1": b"k"}
        with pytest.raises(AuthStateError, match="read-only"):
            await reader.write({"pre-key": {"2": b"k"}})
    finally:
        await reader.close()


async def test_unreachable_server_is_a_clear_error() -> None:
    port = _closed_port()
    dsn = f"postgresql://wamd:hunter2@127.0.0.1:{port}/postgres"
    with pytest.raises(StoreUnavailableError, match="cannot reach the server") as caught:
        await PostgresBackend.open(dsn, "x", connect_timeout=5)
    assert "hunter2" not in str(caught.value)
    assert f"127.0.0.1:{port}" in str(caught.value)


async def test_server_stopping_under_an_open_account_is_a_clear_error(
    server: PostgresServer, dsn: str
) -> None:
    backend = await PostgresBackend.open(dsn, "doomed")
    await backend.write({"session": {"a": b"1"}})
    try:
        await asyncio.to_thread(server.stop)
        with pytest.raises(StoreUnavailableError):
            await backend.read("session", ["a"])
        with pytest.raises(StoreUnavailableError):
            await PostgresBackend.open(dsn, "doomed", connect_timeout=5)
    finally:
        await backend.close()
        server.start()  # from the main thread: see servers._die_with_parent
    again = await PostgresBackend.open(dsn, "doomed")
    assert await again.read("session", ["a"]) == {"a": b"1"}
    await again.close()


async def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    with pytest.raises(AuthStateError, match=r"wamd\[postgres\]"):
        await PostgresBackend.open("postgresql://127.0.0.1/x", "x")


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
