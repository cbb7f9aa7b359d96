"""The KeyStore contract, run against every backend kind in conftest.BACKENDS."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from wamd.auth.backend import StorageBackend
from wamd.auth.keystore import KeyStore
from wamd.errors import AuthStateError, UsageError
from wamd.signal.store import KeyStore as KeyStoreProtocol

from .conftest import BackendKind

PK1, PK2, PK3 = (bytes([n]) * 64 for n in (1, 2, 3))  # pre-key: private || public
IK = b"\x05" + b"i" * 32  # identity key: 0x05 || public


class Boom(Exception):
    """Raised inside transactions to force a rollback."""


async def test_keystore_satisfies_the_signal_protocol(backend: StorageBackend) -> None:
    assert isinstance(KeyStore(backend), KeyStoreProtocol)


async def test_get_returns_only_existing_ids(backend: StorageBackend) -> None:
    store = KeyStore(backend)
    await store.set({"pre-key": {"1": PK1, "2": PK2}, "lid-mapping": {"a.0": b"s"}})
    assert await store.get("pre-key", ["1", "2", "3"]) == {"1": PK1, "2": PK2}
    assert await store.get("lid-mapping", ["a.0"]) == {"a.0": b"s"}
    assert await store.get("lid-mapping", []) == {}
    assert await store.get("tctoken", ["x"]) == {}


async def test_none_deletes_and_set_overwrites(backend: StorageBackend) -> None:
    store = KeyStore(backend)
    await store.set({"pre-key": {"1": PK1, "2": PK2}})
    await store.set({"pre-key": {"1": None, "2": PK3, "9": None}})
    assert await store.get("pre-key", ["1", "2", "9"]) == {"2": PK3}
    assert await backend.list_ids("pre-key") == ["2"]


async def test_values_are_stored_opaquely(
    backend_kind: BackendKind, backend: StorageBackend
) -> None:
    if not backend_kind.opaque:
        pytest.skip("this backend stores each category in its own format")
    store = KeyStore(backend)
    odd = {"": b"", "id with spaces/and:colons": bytes(range(256)), "ünï": b"\x00" * 10}
    await store.set({"app-state-sync-key": odd})
    assert await store.get("app-state-sync-key", list(odd)) == odd


async def test_transaction_reads_see_own_writes_and_deletes(backend: StorageBackend) -> None:
    store = KeyStore(backend)
    await store.set({"lid-mapping": {"a": b"old", "b": b"keep"}})
    async with store.transaction("a"):
        await store.set({"lid-mapping": {"a": b"new", "b": None, "c": b"added"}})
        assert await store.get("lid-mapping", ["a", "b", "c"]) == {"a": b"new", "c": b"added"}
        # Nothing reached the backend yet.
        assert await backend.read("lid-mapping", ["a", "b", "c"]) == {"a": b"old", "b": b"keep"}
    assert await backend.read("lid-mapping", ["a", "b", "c"]) == {"a": b"new", "c": b"added"}


async def test_error_rolls_back_everything(backend: StorageBackend) -> None:
    store = KeyStore(backend)
    await store.set({"lid-mapping": {"a": b"old"}})
    with pytest.raises(Boom):
        async with store.transaction("a"):
            await store.set({"lid-mapping": {"a": b"new", "z": b"z"}, "pre-key": {"1": PK1}})
            async with store.transaction("other"):
                await store.set({"identity-key": {"a": IK}})
            raise Boom
    assert await store.get("lid-mapping", ["a", "z"]) == {"a": b"old"}
    assert await store.get("pre-key", ["1"]) == {}
    assert await store.get("identity-key", ["a"]) == {}
    assert not store.in_transaction()


async def test_nested_transaction_joins_outer_and_commits_once(backend: StorageBackend) -> None:
    store = KeyStore(backend)
    async with store.transaction("outer"):
        async with store.transaction("inner"):
            await store.set({"lid-mapping": {"a": b"1"}})
            assert store.in_transaction()
        # The inner exit committed nothing: the write is still only staged.
        assert await backend.read("lid-mapping", ["a"]) == {}
        assert await store.get("lid-mapping", ["a"]) == {"a": b"1"}
        await store.set({"lid-mapping": {"b": b"2"}})
    assert await backend.read("lid-mapping", ["a", "b"]) == {"a": b"1", "b": b"2"}
    assert store.commits == 1


async def test_failed_nested_block_rolls_back_to_its_start(backend: StorageBackend) -> None:
    store = KeyStore(backend)
    async with store.transaction("outer"):
        await store.set({"lid-mapping": {"a": b"outer"}})
        with pytest.raises(Boom):
            async with store.transaction():
                await store.set({"lid-mapping": {"a": b"inner", "b": b"inner"}})
                raise Boom
        assert await store.get("lid-mapping", ["a", "b"]) == {"a": b"outer"}
    assert await backend.read("lid-mapping", ["a", "b"]) == {"a": b"outer"}


async def test_same_key_transactions_serialise(backend: StorageBackend) -> None:
    store = KeyStore(backend)
    await store.set({"lid-mapping": {"counter": b"0"}})
    inside = 0
    most_inside = 0

    async def increment() -> None:
        nonlocal inside, most_inside
        async with store.transaction("counter"):
            inside += 1
            most_inside = max(most_inside, inside)
            value = int((await store.get("lid-mapping", ["counter"]))["counter"])
            await asyncio.sleep(0)  # let every other task try to get in
            await store.set({"lid-mapping": {"counter": str(value + 1).encode()}})
            inside -= 1

    await asyncio.wait_for(asyncio.gather(*(increment() for _ in range(30))), 30)
    assert most_inside == 1
    assert await store.get("lid-mapping", ["counter"]) == {"counter": b"30"}


async def test_different_key_transactions_interleave(backend: StorageBackend) -> None:
    store = KeyStore(backend)
    a_inside = asyncio.Event()
    b_inside = asyncio.Event()

    async def run(key: str, mine: asyncio.Event, theirs: asyncio.Event) -> None:
        async with store.transaction(key):
            mine.set()
            # Deadlocks (and times out) unless the other transaction is open meanwhile.
            await asyncio.wait_for(theirs.wait(), 5)
            await store.set({"lid-mapping": {key: key.encode()}})

    await asyncio.gather(run("a", a_inside, b_inside), run("b", b_inside, a_inside))
    assert await store.get("lid-mapping", ["a", "b"]) == {"a": b"a", "b": b"b"}


async def test_concurrent_commits_are_grouped_and_all_durable(backend: StorageBackend) -> None:
    store = KeyStore(backend)

    async def one(i: int) -> None:
        async with store.transaction(f"k{i}"):
            await store.set({"lid-mapping": {f"s{i}": str(i).encode()}})

    await asyncio.gather(*(one(i) for i in range(200)))
    # Every transaction returned, so every one is in the backend.
    found = await backend.read("lid-mapping", [f"s{i}" for i in range(200)])
    assert found == {f"s{i}": str(i).encode() for i in range(200)}
    assert store.commits == 200
    assert store.backend_writes < 200


async def test_later_commit_wins_within_a_group(backend: StorageBackend) -> None:
    store = KeyStore(backend)
    await asyncio.gather(*(store.set({"lid-mapping": {"x": str(i).encode()}}) for i in range(50)))
    assert await store.get("lid-mapping", ["x"]) == {"x": b"49"}


async def test_task_started_inside_a_transaction_joins_it(backend: StorageBackend) -> None:
    store = KeyStore(backend)
    async with store.transaction("a"):
        await asyncio.create_task(store.set({"lid-mapping": {"child": b"c"}}))
        assert await backend.read("lid-mapping", ["child"]) == {}
    assert await backend.read("lid-mapping", ["child"]) == {"child": b"c"}


async def test_bad_values_are_refused(backend: StorageBackend) -> None:
    store = KeyStore(backend)
    with pytest.raises(UsageError, match="lid-mapping/a"):
        await store.set({"lid-mapping": {"a": "text"}})  # type: ignore[dict-item]
    with pytest.raises(UsageError, match="single str"):
        await store.get("lid-mapping", "abc")
    assert await store.get("lid-mapping", ["a"]) == {}


async def test_failing_backend_write_fails_only_that_commit(backend: StorageBackend) -> None:
    class Flaky:
        """Wraps a backend and refuses any write that touches the id 'poison'."""

        def __init__(self, inner: StorageBackend) -> None:
            self.inner = inner

        def __getattr__(self, name: str) -> object:
            return getattr(self.inner, name)

        async def write(self, changes: dict[str, dict[str, bytes | None]]) -> None:
            if any("poison" in values for values in changes.values()):
                raise AuthStateError("disk says no")
            await self.inner.write(changes)

    store = KeyStore(Flaky(backend))  # type: ignore[arg-type]
    results = await asyncio.gather(
        store.set({"lid-mapping": {"good1": b"1"}}),
        store.set({"lid-mapping": {"poison": b"x"}}),
        store.set({"lid-mapping": {"good2": b"2"}}),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], AuthStateError)
    assert await backend.read("lid-mapping", ["good1", "good2"]) == {"good1": b"1", "good2": b"2"}
    assert await backend.read("lid-mapping", ["poison"]) == {}


async def test_cancelled_committer_still_waits_for_durability(backend: StorageBackend) -> None:
    store = KeyStore(backend)
    entered = asyncio.Event()
    release = asyncio.Event()

    async def body() -> None:
        async with store.transaction("a"):
            await store.set({"lid-mapping": {"a": b"v"}})
            entered.set()
            await release.wait()

    task = asyncio.create_task(body())
    await entered.wait()
    release.set()
    await asyncio.sleep(0)  # the task is now committing
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Whatever the cancellation did, the lock is free and the store consistent.
    async with store.transaction("a"):
        value = await store.get("lid-mapping", ["a"])
    assert value in ({}, {"a": b"v"})


async def test_closed_store_refuses_use(backend: StorageBackend) -> None:
    store = KeyStore(backend)
    await store.set({"lid-mapping": {"a": b"1"}})
    await store.aclose()
    with pytest.raises(AuthStateError, match="closed"):
        await store.get("lid-mapping", ["a"])


async def test_committed_data_survives_reopening(backend_kind: BackendKind, tmp_path: Path) -> None:
    if not backend_kind.persistent:
        pytest.skip("not a persistent backend")
    first = await backend_kind.open(tmp_path, "default")
    store = KeyStore(first)
    async with store.transaction("a"):
        await store.set({"lid-mapping": {"a": b"kept"}, "pre-key": {"1": PK1}})
    await store.set({"pre-key": {"1": None}})
    await first.close()
    second = await backend_kind.open(tmp_path, "default")
    try:
        assert await second.read("lid-mapping", ["a"]) == {"a": b"kept"}
        assert await second.read("pre-key", ["1"]) == {}
    finally:
        await second.close()


class GatedBackend:
    """Wraps a backend; each write waits until the test opens the gate, and is counted."""

    def __init__(self, inner: StorageBackend) -> None:
        self.inner = inner
        self.gate = asyncio.Event()
        self.writing = asyncio.Event()
        self.writes: list[dict[str, dict[str, bytes | None]]] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def write(self, changes: dict[str, dict[str, bytes | None]]) -> None:
        self.writing.set()
        await self.gate.wait()
        self.writes.append(changes)
        await self.inner.write(changes)


async def test_commits_arriving_during_a_write_share_the_next_write(
    backend: StorageBackend,
) -> None:
    gated = GatedBackend(backend)
    store = KeyStore(gated)  # type: ignore[arg-type]
    first = asyncio.create_task(store.set({"lid-mapping": {"first": b"1"}}))
    await gated.writing.wait()  # the first write is in flight
    rest = [
        asyncio.create_task(store.set({"lid-mapping": {f"s{i}": str(i).encode()}}))
        for i in range(20)
    ]
    await asyncio.sleep(0.01)
    assert not any(task.done() for task in [first, *rest])  # nobody returns before durable
    gated.gate.set()
    await asyncio.wait_for(asyncio.gather(first, *rest), 10)
    assert len(gated.writes) == 2  # the 20 later commits went out as one write
    assert gated.writes[1]["lid-mapping"] == {f"s{i}": str(i).encode() for i in range(20)}


async def test_cancelled_commit_keeps_the_key_locked_until_written(
    backend: StorageBackend,
) -> None:
    gated = GatedBackend(backend)
    store = KeyStore(gated)  # type: ignore[arg-type]

    async def first() -> None:
        async with store.transaction("k"):
            await store.set({"lid-mapping": {"k": b"first"}})

    seen: list[dict[str, bytes]] = []

    async def second() -> None:
        async with store.transaction("k"):
            seen.append(await store.get("lid-mapping", ["k"]))

    task = asyncio.create_task(first())
    await gated.writing.wait()
    task.cancel()
    follower = asyncio.create_task(second())
    await asyncio.sleep(0.01)
    assert not task.done() and not follower.done()  # still waiting for the write
    gated.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(follower, 10)
    assert seen == [{"k": b"first"}]  # the follower read the committed value


class CountingBackend:
    """Wraps a backend, counting reads; ``hold_reads`` parks reads until released."""

    def __init__(self, inner: StorageBackend) -> None:
        self.inner = inner
        self.reads: list[tuple[str, list[str]]] = []
        self.hold_reads: asyncio.Event | None = None
        self.read_started = asyncio.Event()
        self.fail_writes = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def read(self, category: str, ids: list[str]) -> dict[str, bytes]:
        self.reads.append((category, list(ids)))
        found = await self.inner.read(category, ids)
        self.read_started.set()
        if self.hold_reads is not None:
            await self.hold_reads.wait()
        return found

    async def write(self, changes: dict[str, dict[str, bytes | None]]) -> None:
        if self.fail_writes:
            raise AuthStateError("disk says no")
        await self.inner.write(changes)


async def test_read_cache_serves_repeats_and_knows_misses(backend: StorageBackend) -> None:
    counting = CountingBackend(backend)
    store = KeyStore(counting)  # type: ignore[arg-type]
    await store.set({"lid-mapping": {"a": b"1"}})
    assert await store.get("lid-mapping", ["a", "zz"]) == {"a": b"1"}  # a written, zz read
    assert await store.get("lid-mapping", ["a", "zz"]) == {"a": b"1"}
    async with store.transaction("a"):
        assert await store.get("lid-mapping", ["a"]) == {"a": b"1"}
    assert counting.reads == [("lid-mapping", ["zz"])]


async def test_read_overlapping_a_commit_is_not_cached(backend: StorageBackend) -> None:
    counting = CountingBackend(backend)
    store = KeyStore(counting)  # type: ignore[arg-type]
    await backend.write({"lid-mapping": {"a": b"old"}})
    counting.hold_reads = asyncio.Event()
    reader = asyncio.create_task(store.get("lid-mapping", ["a"]))
    await counting.read_started.wait()  # the read has fetched "old" and is in flight
    await store.set({"lid-mapping": {"a": b"new"}})
    counting.hold_reads.set()
    assert await reader == {"a": b"old"}  # it began before the commit
    assert await store.get("lid-mapping", ["a"]) == {"a": b"new"}  # and did not poison


async def test_failed_write_drops_cached_values(backend: StorageBackend) -> None:
    counting = CountingBackend(backend)
    store = KeyStore(counting)  # type: ignore[arg-type]
    await store.set({"lid-mapping": {"a": b"1"}})
    counting.fail_writes = True
    with pytest.raises(AuthStateError):
        await store.set({"lid-mapping": {"a": b"2"}})
    counting.fail_writes = False
    assert await store.get("lid-mapping", ["a"]) == {"a": b"1"}
    assert counting.reads == [("lid-mapping", ["a"])]  # asked the backend again


async def test_cache_is_bounded_and_can_be_off(backend: StorageBackend) -> None:
    counting = CountingBackend(backend)
    small = KeyStore(counting, cache_size=2)  # type: ignore[arg-type]
    await small.set({"lid-mapping": {"a": b"1", "b": b"2", "c": b"3"}})
    assert await small.get("lid-mapping", ["a", "b", "c"]) == {"a": b"1", "b": b"2", "c": b"3"}
    assert counting.reads == [("lid-mapping", ["a"])]  # only the oldest was evicted
    counting.reads.clear()
    off = KeyStore(counting, cache_size=0)  # type: ignore[arg-type]
    await off.set({"lid-mapping": {"a": b"1"}})
    await off.get("lid-mapping", ["a"])
    await off.get("lid-mapping", ["a"])
    assert len(counting.reads) == 2
