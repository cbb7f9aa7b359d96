"""Many accounts of one SQLite file written concurrently from one process.

Regression: each account has its own SQLite connection and thread, and SQLite lets one
writer in at a time; the others polled its busy handler (sleeps of up to 100 ms) and,
with hundreds of accounts busy at once (500 in the soak test), some waited past the
10 s busy timeout and failed with "database is locked". Writers of one process now queue
on a per-file lock and reach SQLite one after another; the busy timeout only matters
against other processes. Setting it to zero here makes any in-process collision fail.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from wamd.auth.backends import native
from wamd.auth.backends.native import NativeBackend
from wamd.auth.creds import init_auth_creds
from wamd.errors import AuthStateError

ACCOUNTS = 16
WRITES = 40


async def _open_all(path: Path, count: int) -> list[NativeBackend]:
    return [await NativeBackend.open(path, f"account-{i}") for i in range(count)]


async def test_concurrent_writers_of_one_file_never_see_it_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(native, "_BUSY_TIMEOUT", 0.0)
    path = tmp_path / "many.db"
    backends = await _open_all(path, ACCOUNTS)
    try:

        async def writer(i: int, backend: NativeBackend) -> None:
            for n in range(WRITES):
                await backend.write({"session": {f"peer-{n}": bytes([i, n])}})
                if n % 10 == 0:
                    await backend.save_creds(init_auth_creds())
                    await backend.commit({"pre-key": {str(n): bytes([n])}}, init_auth_creds())

        await asyncio.gather(*(writer(i, b) for i, b in enumerate(backends)))
        for i, backend in enumerate(backends):
            stored = await backend.read("session", [f"peer-{n}" for n in range(WRITES)])
            assert stored == {f"peer-{n}": bytes([i, n]) for n in range(WRITES)}
            assert await backend.list_ids("pre-key") == ["0", "10", "20", "30"]
    finally:
        for backend in backends:
            await backend.close()


async def test_opening_while_others_write_does_not_collide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(native, "_BUSY_TIMEOUT", 0.0)
    path = tmp_path / "many.db"
    first = await _open_all(path, 4)
    try:

        async def keep_writing(backend: NativeBackend) -> None:
            for n in range(WRITES):
                await backend.write({"session": {str(n): b"x"}})

        opening = [NativeBackend.open(path, f"late-{i}") for i in range(8)]
        results = await asyncio.gather(*(keep_writing(b) for b in first), *opening)
        late = [r for r in results if isinstance(r, NativeBackend)]
        assert len(late) == 8
        first.extend(late)
    finally:
        for backend in first:
            await backend.close()


async def test_the_wait_for_another_accounts_write_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(native, "_WRITE_WAIT", 0.2)
    path = tmp_path / "many.db"
    backend = await NativeBackend.open(path, "waiting")
    try:
        lock = native._writer_lock(path)
        assert lock is native._writer_lock(tmp_path / "." / "many.db")  # one per file
        # another account of this process, stuck mid-write
        with lock, pytest.raises(AuthStateError, match="another account's write") as info:
            await backend.write({"session": {"a": b"1"}})
        assert "many.db" in str(info.value) and "'waiting'" in str(info.value)
        await backend.write({"session": {"a": b"2"}})  # free again
        assert await backend.read("session", ["a"]) == {"a": b"2"}
    finally:
        await backend.close()
