"""``wamd migrate`` with PostgreSQL and Redis URLs as source and destination (real servers)."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from tests.servers import PostgresServer, RedisServer, require_postgres, require_redis
from wamd.auth.backends._remote import AccountMissingError
from wamd.auth.backends.postgres import PostgresBackend
from wamd.auth.migrate import migrate_stores, parse_store, same_store
from wamd.cli import main
from wamd.errors import StoreKeyError, UsageError

SAMPLE = "baileys-auth-sample/after-qr-pairing-and-login"


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}


async def _admin(server: PostgresServer, sql: str) -> None:
    conn = await asyncpg.connect(server.dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A fresh database of its own for one test."""
    server = require_postgres()
    name = "m_" + uuid.uuid4().hex[:12]
    asyncio.run(_admin(server, f'CREATE DATABASE "{name}"'))
    yield server.dsn.rsplit("/", 1)[0] + "/" + name
    asyncio.run(_admin(server, f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture
def redis() -> RedisServer:
    """The session's Redis server."""
    return require_redis()


def test_store_urls_parse_with_client_ids() -> None:
    spec = parse_store("postgresql://me:secret@db.example:5432/wamd#bot-1")
    assert (spec.kind, spec.client_id) == ("postgres", "bot-1")
    assert spec.url == "postgresql://me:secret@db.example:5432/wamd"
    assert str(spec) == "postgresql://me@db.example:5432/wamd#bot-1"  # no password
    plain = parse_store("redis://127.0.0.1:6379/0")
    assert (plain.kind, plain.client_id) == ("redis", "default")
    assert same_store(plain, parse_store("redis://127.0.0.1:6379/0#default"))
    assert not same_store(plain, parse_store("redis://127.0.0.1:6379/1"))
    assert not same_store(plain, parse_store("redis://127.0.0.1:6379/0#other"))
    with pytest.raises(UsageError, match="empty client id"):
        parse_store("redis://127.0.0.1/0#")


async def test_baileys_to_postgres_to_redis_to_baileys_reproduces_the_files(
    shared_fixtures: Path, tmp_path: Path, pg_dsn: str, redis: RedisServer
) -> None:
    src = shared_fixtures / SAMPLE
    pg = f"{pg_dsn}#acct"
    rd = f"{redis.url}#acct-{uuid.uuid4().hex[:8]}"
    report = await migrate_stores(str(src), pg)
    assert report.verified and report.changed
    assert sum(r.source for r in report.categories.values()) == len(_files(src)) - 1
    report = await migrate_stores(pg, rd)
    assert report.verified and report.changed
    back = tmp_path / "back"
    report = await migrate_stores(rd, str(back))
    assert report.verified
    assert _files(back) == _files(src)
    again = await migrate_stores(pg, rd)  # a second run finds nothing to do
    assert not again.changed
    assert "already up to date" in "\n".join(again.lines())


async def test_dry_run_creates_nothing_on_the_servers(
    shared_fixtures: Path, pg_dsn: str, redis: RedisServer
) -> None:
    src = shared_fixtures / SAMPLE
    client_id = f"dry-{uuid.uuid4().hex[:8]}"
    report = await migrate_stores(str(src), f"{redis.url}#{client_id}", dry_run=True)
    assert report.dry_run and report.changed
    raw = Redis.from_url(redis.url)
    try:
        assert await raw.keys(f"wamd:{{{client_id}}}*") == []
    finally:
        await raw.aclose()
    await migrate_stores(str(src), f"{pg_dsn}#{client_id}", dry_run=True)
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await conn.fetchval("SELECT to_regclass('wamd_accounts')") is None
    finally:
        await conn.close()


async def test_a_missing_remote_source_is_refused_and_not_created(
    tmp_path: Path, pg_dsn: str
) -> None:
    with pytest.raises(AccountMissingError):
        await migrate_stores(f"{pg_dsn}#nobody", str(tmp_path / "out"))
    await (await PostgresBackend.open(pg_dsn, "someone")).close()
    with pytest.raises(AccountMissingError, match="no such account"):
        await migrate_stores(f"{pg_dsn}#nobody", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


async def test_encrypted_native_to_encrypted_postgres(
    shared_fixtures: Path, tmp_path: Path, pg_dsn: str
) -> None:
    src_key, dst_key = b"s" * 32, b"d" * 32
    db = tmp_path / "store.db"
    await migrate_stores(str(shared_fixtures / SAMPLE), f"sqlite:{db}", destination_key=src_key)
    report = await migrate_stores(
        f"sqlite:{db}", f"{pg_dsn}#enc", source_key=src_key, destination_key=dst_key
    )
    assert report.verified
    with pytest.raises(StoreKeyError):
        await PostgresBackend.open(pg_dsn, "enc", encryption_key=src_key)
    back = tmp_path / "back"
    await migrate_stores(f"{pg_dsn}#enc", str(back), source_key=dst_key)
    assert _files(back) == _files(shared_fixtures / SAMPLE)


def test_the_wamd_command_takes_urls(
    shared_fixtures: Path, pg_dsn: str, redis: RedisServer
) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["migrate", str(shared_fixtures / SAMPLE), f"{pg_dsn}#cli"], stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    assert f"{pg_dsn}#cli" in out.getvalue()
    assert "verified" in out.getvalue()
    out = io.StringIO()
    code = main(["inspect", f"{pg_dsn}#cli"], stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    assert "account:" in out.getvalue()
    rd = f"{redis.url}#cli-{uuid.uuid4().hex[:8]}"
    out = io.StringIO()
    assert main(["migrate", f"{pg_dsn}#cli", rd], stdout=out, stderr=err) == 0, err.getvalue()
    assert "verified" in out.getvalue()
