"""The native SQLite backend: files, modes, locks, schema, encryption, many accounts."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wamd.auth import use_native_file_auth_state
from wamd.auth.backends.native import _MIGRATIONS, SCHEMA_VERSION, NativeBackend
from wamd.auth.creds import AuthCreds
from wamd.errors import (
    AuthStateError,
    CorruptStoreError,
    InsecureStoreError,
    StoreKeyError,
    StoreLockedError,
    StoreSchemaError,
)

KEY = bytes(range(32))


def _open_in_subprocess(path: Path, client_id: str) -> str:
    """Try to open ``client_id`` from another process; returns what it printed."""
    script = textwrap.dedent(
        f"""
        import asyncio
        from wamd.auth.backends.native import NativeBackend
        from wamd.errors import WamdError

        async def main():
            try:
                backend = await NativeBackend.open({str(path)!r}, {client_id!r})
            except WamdError as exc:
                print(type(exc).__name__, exc)
                return
            await backend.write({{"session": {{"from-child": b"1"}}}})
            await backend.close()
            print("opened")

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


async def test_new_store_is_0600_in_a_new_0700_folder(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "wamd.db"
    async with await use_native_file_auth_state(path) as handle:
        await handle.state.keys.set({"session": {"a": b"1"}})
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        for file in path.parent.iterdir():  # the db, its -wal/-shm and the lock file
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name


async def test_world_readable_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wamd.db"
    await (await NativeBackend.open(path, "x")).close()
    path.chmod(0o644)
    with pytest.raises(InsecureStoreError, match=r"chmod 600"):
        await NativeBackend.open(path, "y")


async def test_group_readable_store_opens_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "wamd.db"
    await (await NativeBackend.open(path)).close()
    path.chmod(0o640)
    backend = await NativeBackend.open(path)
    await backend.close()
    assert "group-accessible" in caplog.text


async def test_second_opener_of_an_account_gets_store_locked(tmp_path: Path) -> None:
    path = tmp_path / "wamd.db"
    backend = await NativeBackend.open(path, "main")
    try:
        out = _open_in_subprocess(path, "main")
        assert out.startswith("StoreLockedError")
        assert "'main'" in out
        with pytest.raises(StoreLockedError, match="'main'"):
            await NativeBackend.open(path, "main")  # a second handle in this process too
        # Another account in the same file is free.
        assert _open_in_subprocess(path, "other") == "opened"
    finally:
        await backend.close()
    # Once closed, the account opens elsewhere.
    assert _open_in_subprocess(path, "main") == "opened"


async def test_lock_is_released_when_the_holder_dies(tmp_path: Path) -> None:
    path = tmp_path / "wamd.db"
    script = textwrap.dedent(
        f"""
        import asyncio, os
        from wamd.auth.backends.native import NativeBackend

        async def main():
            await NativeBackend.open({str(path)!r}, "main")
            os._exit(0)  # no close: the kernel drops the flock

        asyncio.run(main())
        """
    )
    subprocess.run([sys.executable, "-c", script], timeout=60, check=True)
    backend = await NativeBackend.open(path, "main")
    await backend.close()


async def test_accounts_in_one_file_are_separate(tmp_path: Path) -> None:
    path = tmp_path / "wamd.db"
    async with (
        await use_native_file_auth_state(path, "alice") as alice,
        await use_native_file_auth_state(path, "bob") as bob,
    ):
        await alice.state.keys.set({"session": {"x": b"alice"}})
        await bob.state.keys.set({"session": {"x": b"bob"}, "pre-key": {"1": b"p"}})
        assert await alice.state.keys.get("session", ["x"]) == {"x": b"alice"}
        assert await alice.backend.list_ids("pre-key") == []
        assert alice.state.creds.noise_key != bob.state.creds.noise_key


async def test_creds_round_trip_and_save_creds_persists_changes(tmp_path: Path) -> None:
    path = tmp_path / "wamd.db"
    async with await use_native_file_auth_state(path, "main") as handle:
        first = handle.state.creds
        first.next_pre_key_id = 31
        await handle.save_creds()
    async with await use_native_file_auth_state(path, "main") as handle:
        assert handle.state.creds.to_bytes() == first.to_bytes()
        assert handle.state.creds.next_pre_key_id == 31


async def test_save_creds_adopts_creds_from_an_update_event(tmp_path: Path) -> None:
    class CredsUpdate:  # the shape of wamd.events.CredsUpdate
        def __init__(self, creds: AuthCreds) -> None:
            self.changed = ("registered",)
            self.creds = creds

    path = tmp_path / "wamd.db"
    async with await use_native_file_auth_state(path) as handle:
        newer = AuthCreds.from_bytes(handle.state.creds.to_bytes())
        newer.registered = True
        await handle.save_creds(CredsUpdate(newer))
        assert handle.state.creds is newer
    async with await use_native_file_auth_state(path) as handle:
        assert handle.state.creds.registered is True


def _schema_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT version FROM wamd_schema").fetchone()[0])


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wamd.db"
    await (await NativeBackend.open(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE wamd_schema SET version = ?", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreSchemaError, match=rf"version {SCHEMA_VERSION + 1}.*upgrade wamd"):
        await NativeBackend.open(path)
    assert _schema_version(path) == SCHEMA_VERSION + 1  # untouched


async def test_older_schema_migrates_forward_keeping_data(tmp_path: Path) -> None:
    path = tmp_path / "wamd.db"
    # A version-1 file, as the first release of the schema wrote it.
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in _MIGRATIONS[1]:
        conn.execute(statement)
    conn.execute("UPDATE wamd_schema SET version = 1")
    conn.execute("INSERT INTO accounts (client_id, creds) VALUES ('default', NULL)")
    conn.execute("INSERT INTO keys VALUES ('default', 'session', 'a.0', x'0102')")
    conn.close()
    path.chmod(0o600)
    backend = await NativeBackend.open(path)
    try:
        assert await backend.read("session", ["a.0"]) == {"a.0": b"\x01\x02"}
    finally:
        await backend.close()
    assert _schema_version(path) == SCHEMA_VERSION


async def test_non_sqlite_file_is_corrupt_store_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not a database at all, just some bytes" * 100)
    path.chmod(0o600)
    with pytest.raises(CorruptStoreError, match=r"garbage\.db"):
        await NativeBackend.open(path)


async def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE things (x)")
    path.chmod(0o600)
    with pytest.raises(CorruptStoreError, match=r"other.db is an SQLite database but not a wamd"):
        await NativeBackend.open(path)


async def test_damaged_creds_are_reported_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "wamd.db"
    await (await use_native_file_auth_state(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE accounts SET creds = x'00ff00'")
    with pytest.raises(CorruptStoreError, match="creds"):
        await use_native_file_auth_state(path)
    # The failed open released the lock and did not overwrite the creds.
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT creds FROM accounts").fetchone()[0] == b"\x00\xff\x00"
    backend = await NativeBackend.open(path)
    await backend.close()


async def test_encrypted_values_are_not_on_disk_in_clear(tmp_path: Path) -> None:
    path = tmp_path / "wamd.db"
    secret = b"SECRET-SESSION-BYTES" * 4
    async with await use_native_file_auth_state(path, encryption_key=KEY) as handle:
        await handle.state.keys.set({"session": {"a": secret}})
        noise_private = handle.state.creds.noise_key.private
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw = path.read_bytes()
    assert secret not in raw
    assert noise_private not in raw
    async with await use_native_file_auth_state(path, encryption_key=KEY) as handle:
        assert await handle.state.keys.get("session", ["a"]) == {"a": secret}
        assert handle.state.creds.noise_key.private == noise_private


async def test_wrong_or_missing_key_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "wamd.db"
    await (await use_native_file_auth_state(path, "enc", encryption_key=KEY)).close()
    with pytest.raises(StoreKeyError, match=r"'enc'.*wrong encryption_key"):
        await NativeBackend.open(path, "enc", encryption_key=b"\x01" * 32)
    with pytest.raises(StoreKeyError, match="is encrypted"):
        await NativeBackend.open(path, "enc")
    with pytest.raises(StoreKeyError, match="32 bytes"):
        await NativeBackend.open(path, "enc", encryption_key=b"short")
    await (await NativeBackend.open(path, "plain")).close()
    with pytest.raises(StoreKeyError, match="unencrypted"):
        await NativeBackend.open(path, "plain", encryption_key=KEY)


async def test_sealed_value_moved_to_another_row_fails_authentication(tmp_path: Path) -> None:
    path = tmp_path / "wamd.db"
    backend = await NativeBackend.open(path, encryption_key=KEY)
    await backend.write({"session": {"a": b"for a", "b": b"for b"}})
    await backend.close()
    with sqlite3.connect(path) as conn:
        (sealed_a,) = conn.execute("SELECT value FROM keys WHERE id = 'a'").fetchone()
        conn.execute("UPDATE keys SET value = ? WHERE id = 'b'", (sealed_a,))
    backend = await NativeBackend.open(path, encryption_key=KEY)
    try:
        assert await backend.read("session", ["a"]) == {"a": b"for a"}
        with pytest.raises(CorruptStoreError, match="session/b"):
            await backend.read("session", ["b"])
    finally:
        await backend.close()


async def test_many_ids_are_read_in_chunks(tmp_path: Path) -> None:
    backend = await NativeBackend.open(tmp_path / "wamd.db")
    try:
        values = {str(i): os.urandom(8) for i in range(2500)}
        await backend.write({"pre-key": values})
        assert await backend.read("pre-key", list(values)) == values
        assert await backend.count() == {"pre-key": 2500}
    finally:
        await backend.close()


async def test_commit_writes_keys_and_creds_in_one_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "wamd.db"
    async with await use_native_file_auth_state(path) as handle:
        creds = handle.state.creds
    creds.next_pre_key_id = 101
    backend = await NativeBackend.open(path)
    try:
        await backend.commit({"pre-key": {"100": b"p" * 64}}, creds)

        def disk_full(data: bytes) -> None:
            raise sqlite3.OperationalError("database or disk is full")

        # The creds update fails after the keys were written in the same transaction.
        monkeypatch.setattr(backend, "_save_creds_sync", disk_full)
        with pytest.raises(AuthStateError, match="disk is full"):
            await backend.commit({"pre-key": {"200": b"q" * 64, "100": None}}, creds)
        assert await backend.read("pre-key", ["100", "200"]) == {"100": b"p" * 64}
        loaded = await backend.load_creds()
        assert loaded is not None and loaded.next_pre_key_id == 101
    finally:
        await backend.close()
