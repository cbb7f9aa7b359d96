"""Group commit: one future per batch, and what cancellation does to a batch's commits."""

from __future__ import annotations

import asyncio

import pytest

from wamd.auth.backend import StorageBackend
from wamd.auth.keystore import KeyStore

from .test_keystore import GatedBackend


async def test_cancelling_one_committer_does_not_fail_its_batch(backend: StorageBackend) -> None:
    gated = GatedBackend(backend)
    store = KeyStore(gated)  # type: ignore[arg-type]
    first = asyncio.create_task(store.set({"lid-mapping": {"first": b"0"}}))
    await gated.writing.wait()  # the first write is in flight; the next batch fills up

    async def commit(i: int) -> None:
        async with store.transaction(f"k{i}"):
            await store.set({"lid-mapping": {f"k{i}": bytes([i])}})

    batch = [asyncio.create_task(commit(i)) for i in range(10)]
    await asyncio.sleep(0.01)
    batch[3].cancel()
    batch[7].cancel()
    await asyncio.sleep(0.01)
    assert not any(task.done() for task in batch)  # cancelled ones wait for the write too
    gated.gate.set()
    results = await asyncio.wait_for(asyncio.gather(first, *batch, return_exceptions=True), 10)
    assert [type(r).__name__ for r in results] == ["NoneType"] * 4 + ["CancelledError"] + [
        "NoneType"
    ] * 3 + ["CancelledError"] + ["NoneType"] * 2
    assert len(gated.writes) == 2  # the ten commits, cancelled ones included, in one write
    assert gated.writes[1]["lid-mapping"] == {f"k{i}": bytes([i]) for i in range(10)}
    assert await backend.read("lid-mapping", ["k3", "k7"]) == {"k3": b"\x03", "k7": b"\x07"}
    # The cancelled commits released their keys.
    await asyncio.wait_for(commit(3), 10)


async def test_a_cancelled_writer_cancels_its_commits_and_the_store_goes_on(
    backend: StorageBackend,
) -> None:
    gated = GatedBackend(backend)
    store = KeyStore(gated)  # type: ignore[arg-type]
    committing = asyncio.create_task(store.set({"lid-mapping": {"a": b"1"}}))
    await gated.writing.wait()
    waiting = asyncio.create_task(store.set({"lid-mapping": {"b": b"2"}}))  # next batch
    await asyncio.sleep(0)
    writer = store._writer
    assert writer is not None
    writer.cancel()
    for task in (committing, waiting):
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
    # A later commit starts a new writer and is written.
    gated.gate.set()
    await asyncio.wait_for(store.set({"lid-mapping": {"c": b"3"}}), 10)
    assert await backend.read("lid-mapping", ["c"]) == {"c": b"3"}


async def test_many_transactions_on_distinct_keys_share_one_write(backend: StorageBackend) -> None:
    store = KeyStore(backend)

    async def update(i: int) -> None:
        async with store.transaction(str(i)):
            await store.set({"lid-mapping": {str(i): str(i).encode()}})

    before = store.backend_writes
    await asyncio.gather(*(update(i) for i in range(300)))
    assert store.backend_writes - before == 1
    assert store.commits == 300
    assert await backend.read("lid-mapping", [str(i) for i in range(300)]) == {
        str(i): str(i).encode() for i in range(300)
    }


async def test_a_group_of_mixed_commits_ends_as_if_applied_in_order(
    backend: StorageBackend,
) -> None:
    gated = GatedBackend(backend)
    store = KeyStore(gated)  # type: ignore[arg-type]
    first = asyncio.create_task(store.set({"lid-mapping": {"first": b"0"}}))
    await gated.writing.wait()  # the next commits all wait for one later write
    commits: list[dict[str, dict[str, bytes | None]]] = [
        {"lid-mapping": {"a": b"1"}},
        {"lid-mapping": {"b": b"2"}},
        {"pre-key": {"1": b"p" * 64}, "lid-mapping": {"a": b"3", "c": b"4"}},
        {"lid-mapping": {"b": None}},
        {"pre-key": {"2": b"q" * 64}},
        {"lid-mapping": {"c": b"5"}},
        {"pre-key": {"1": None}},
    ]
    tasks = [asyncio.create_task(store.set(changes)) for changes in commits]
    await asyncio.sleep(0.01)
    gated.gate.set()
    await asyncio.wait_for(asyncio.gather(first, *tasks), 10)
    assert len(gated.writes) == 2
    assert gated.writes[1] == {
        "lid-mapping": {"a": b"3", "b": None, "c": b"5"},
        "pre-key": {"1": None, "2": b"q" * 64},
    }
    assert commits[0] == {"lid-mapping": {"a": b"1"}}  # the callers' dicts are untouched
    assert await store.get("lid-mapping", ["a", "b", "c"]) == {"a": b"3", "c": b"5"}
    assert await backend.read("pre-key", ["1", "2"]) == {"2": b"q" * 64}
