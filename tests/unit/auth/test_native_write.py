"""The native backend's batched writes: multi-row statements of every size, one transaction."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from wamd.auth.backends.native import _ROW_CHUNK, NativeBackend, _chunk_sizes
from wamd.errors import AuthStateError

KEY = bytes(range(32))
SIZES = [0, 1, 2, 3, 127, 255, 256, 257, 511, 600]


@pytest.mark.parametrize("n", [*SIZES, 1000, 1023])
def test_chunk_sizes_cover_n_with_few_distinct_statements(n: int) -> None:
    sizes = _chunk_sizes(n)
    assert sum(sizes) == n
    assert all(0 < size <= _ROW_CHUNK and size & (size - 1) == 0 for size in sizes)
    assert sizes == sorted(sizes, reverse=True)
    assert sizes.count(_ROW_CHUNK) == n // _ROW_CHUNK
    tail = [size for size in sizes if size < _ROW_CHUNK]
    assert len(set(tail)) == len(tail)  # one statement per binary digit of the rest


def _values(n: int, tag: int) -> dict[str, bytes]:
    return {f"{15550000000 + i}.{i % 3}": bytes([tag, i % 256]) * (1 + i % 50) for i in range(n)}


@pytest.mark.parametrize("encrypted", [False, True])
async def test_writes_of_every_size_read_back_exactly(tmp_path: Path, encrypted: bool) -> None:
    key = KEY if encrypted else None
    backend = await NativeBackend.open(tmp_path / "s.db", encryption_key=key)
    try:
        expected: dict[str, dict[str, bytes]] = {}
        for tag, n in enumerate(SIZES):
            category = f"cat-{n}"
            values = _values(n, tag)
            # Several categories in one write, one of them also present in every write.
            await backend.write({category: dict(values), "session": dict(values)})
            expected[category] = values
            expected["session"] = {**expected.get("session", {}), **values}
        for category, values in expected.items():
            assert await backend.read(category, [*values, "absent"]) == values
            assert await backend.list_ids(category) == sorted(values)
    finally:
        await backend.close()
    # What is on disk is what was written (sealed when encrypted, as is otherwise).
    with sqlite3.connect(tmp_path / "s.db") as conn:
        rows = dict(
            conn.execute("SELECT id, value FROM keys WHERE category = 'cat-600'").fetchall()
        )
    assert set(rows) == set(expected["cat-600"])
    assert (rows == expected["cat-600"]) is not encrypted


async def test_deletes_and_upserts_of_many_sizes_in_one_write(tmp_path: Path) -> None:
    backend = await NativeBackend.open(tmp_path / "s.db")
    try:
        before = _values(600, 1)
        await backend.write({"pre-key": dict(before), "session": dict(before)})
        ids = list(before)
        changes: dict[str, dict[str, bytes | None]] = {
            # 257 deletes (two statements), 300 overwrites, 43 left alone, 5 new.
            "pre-key": {
                **{i: None for i in ids[:257]},
                **{i: b"new" for i in ids[257:557]},
                **{f"n{i}": b"added" for i in range(5)},
            },
            # Deleting ids that do not exist is no error; one real delete among them.
            "session": {"missing-1": None, ids[0]: None, "missing-2": None},
        }
        await backend.write(changes)
        got = await backend.read("pre-key", [*ids, *(f"n{i}" for i in range(5))])
        want = {
            **{i: b"new" for i in ids[257:557]},
            **{i: before[i] for i in ids[557:]},
            **{f"n{i}": b"added" for i in range(5)},
        }
        assert got == want
        assert len(await backend.list_ids("session")) == 599
    finally:
        await backend.close()


async def test_a_failing_write_changes_nothing(tmp_path: Path) -> None:
    backend = await NativeBackend.open(tmp_path / "s.db")
    try:
        await backend.write({"pre-key": {"1": b"one"}})
        bad: dict[str, dict[str, object]] = {
            "pre-key": {"1": b"changed", **{str(i): b"x" for i in range(2, 300)}},
            "session": {"s": b"ok", "t": _Unbindable()},
        }
        # The last statement of the write fails: the statements before it are rolled back.
        with pytest.raises(AuthStateError, match=r"s\.db"):
            await backend.write(bad)  # type: ignore[arg-type]
        assert await backend.read("pre-key", ["1", "2"]) == {"1": b"one"}
        assert await backend.list_ids("session") == []
    finally:
        await backend.close()


class _Unbindable:
    """A value sqlite3 cannot bind, to make the last statement of a write fail."""
