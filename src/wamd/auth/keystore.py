"""The transactional key store over any storage backend.

:class:`KeyStore` implements :class:`wamd.signal.store.KeyStore` on top of a raw
:class:`~wamd.auth.backend.StorageBackend`:

- ``get``/``set`` in batches; a ``None`` value deletes.
- ``transaction(key)`` opens a transaction held in a context variable, so code called
  from inside it (in the same task, or a task started from it) joins it. Reads see the
  transaction's own writes; writes are staged and committed at once when the outermost
  block exits normally; an exception rolls back. A nested block that fails is rolled
  back to where it began (a savepoint) and its exception propagates.
- Transactions on the same key run one at a time, in arrival order (a FIFO lock per
  key, held until the commit is durable); different keys run concurrently.
- Group commit: commits that arrive while the backend is busy writing are merged and
  written together by the next backend ``write`` (one atomic, durable write, so one
  fsync); they all wait on one future per batch. Every caller still returns from its
  commit only after the write that holds its changes is durable. A committer cancelled
  while its batch is being written keeps its key's lock until the write is over (its
  changes cannot be called back), then sees the cancellation (a committer counts as
  cancelled when its task's ``cancelling()`` is non-zero, so a task that swallows a
  cancellation should ``uncancel()`` as asyncio asks).
- A bounded read cache (``cache_size`` entries, misses included) saves backend reads;
  it is updated by every commit and never fed by a read that overlapped a write. It
  relies on all writes going through this store, which the backends' account locks
  make true across processes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
from collections.abc import Awaitable, Generator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

from wamd.auth.backend import StorageBackend
from wamd.errors import AuthStateError, UsageError
from wamd.signal.store import KeyChanges

__all__ = ["KeyStore"]

_Changes = dict[str, dict[str, bytes | None]]


class _Done:
    """An awaitable that is already complete: what the uncontended paths return."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return _EXHAUSTED  # an exhausted generator: awaiting it returns None at once


def _exhausted() -> Generator[Any, None, None]:
    yield from ()


_EXHAUSTED = _exhausted()
next(_EXHAUSTED, None)
_DONE = _Done()


class _KeyLocks:
    """FIFO locks by key, held across awaits; a free key takes no memory.

    ``_held[key]`` exists while the key is held, and lists the waiters' futures in
    arrival order (if any); release hands the lock straight to the first waiter.
    """

    __slots__ = ("_held",)

    def __init__(self) -> None:
        # key -> its waiters, or None while held with nobody waiting (the common case).
        self._held: dict[str, collections.deque[asyncio.Future[None]] | None] = {}

    async def acquire(self, key: str) -> None:
        held = self._held
        if key not in held:
            held[key] = None
            return
        waiters = held[key]
        if waiters is None:
            waiters = held[key] = collections.deque()
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release(key)  # handed over just as we were cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    waiters.remove(fut)
            raise

    def release(self, key: str) -> None:
        held = self._held
        waiters = held[key]
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        del held[key]


def _checked(category: object, values: Mapping[str, object]) -> dict[str, bytes | None]:
    """A private copy of one category's changes, after checking every type."""
    if type(category) is not str:
        raise UsageError(f"key category must be a str, got {type(category).__name__}")
    bucket = dict(values)
    for key_id, value in bucket.items():
        if type(value) is bytes or value is None:
            if type(key_id) is str:
                continue
            raise UsageError(
                f"key id in category {category!r} must be a str, got {type(key_id).__name__}"
            )
        if isinstance(value, bytes | bytearray | memoryview):
            bucket[key_id] = bytes(value)
        else:
            raise UsageError(
                f"value of {category}/{key_id} must be bytes or None, got {type(value).__name__}"
            )
    return bucket  # type: ignore[return-value]


def _merge(batches: Iterable[_Changes]) -> _Changes:
    """Apply ``batches`` in order into one new change set (later changes win)."""
    merged: _Changes = {}
    last: str | None = None  # the category of the previous one-category change set
    bucket: dict[str, bytes | None] = {}
    for changes in batches:
        if len(changes) == 1:  # the common case: one category, often the previous one
            for category in changes:
                if category is not last:
                    found = merged.get(category)
                    bucket = merged[category] = {} if found is None else found
                    last = category
                bucket.update(changes[category])
            continue
        for category, values in changes.items():
            found = merged.get(category)
            if found is None:
                merged[category] = dict(values)
            else:
                found.update(values)
        last = None
    return merged


class _Batch:
    """Commits to be written together, the future they await, and how the write went.

    ``done`` is a plain future (so the event loop's fast path serves its waiters). A
    committer whose task is cancelled while it waits cancels ``done`` too and wakes
    every other committer of the batch early: they then wait on ``backup`` (see
    :meth:`settled`) until the writer has settled the batch.
    """

    __slots__ = ("abandoned", "backup", "commits", "done", "failures", "is_settled", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.commits: list[_Changes] = []
        self.done: asyncio.Future[None] = loop.create_future()
        self.is_settled = False
        # The writer died before the batch was written: nothing of it is known written.
        self.abandoned = False
        # Index in ``commits`` -> the error its own write raised (only after a failed merge).
        self.failures: dict[int, Exception] | None = None
        self.backup: asyncio.Future[None] | None = None

    def settle(self, *, abandoned: bool = False) -> None:
        """The writer is done with the batch: wake every committer."""
        self.is_settled = True
        self.abandoned = abandoned
        for fut in (self.done, self.backup):
            if fut is not None and not fut.done():
                if abandoned:
                    fut.cancel()
                else:
                    fut.set_result(None)

    async def settled(self) -> None:
        """Called when awaiting ``done`` raised CancelledError: wait until the batch is settled.

        Then raise CancelledError if the batch was abandoned or the calling task is being
        cancelled (its changes were handed to the writer, so it waits for the write either
        way); otherwise return normally (another committer's cancellation woke it).
        """
        while not self.is_settled:
            backup = self.backup
            if backup is None or backup.done():
                backup = self.backup = self.loop.create_future()
            with contextlib.suppress(asyncio.CancelledError):
                await backup
        task = asyncio.current_task()
        if self.abandoned or (task is not None and task.cancelling()):
            raise asyncio.CancelledError


class _TransactionContext:
    """The async context manager :meth:`KeyStore.transaction` returns.

    The outermost block is itself the transaction (held in the store's context
    variable): its staged ``writes`` and the ``reads`` it cached (None = known missing).
    A nested block only remembers the outer one and a savepoint of its writes.
    """

    __slots__ = ("_key", "_outer", "_savepoint", "_store", "_token", "active", "reads", "writes")

    # Set by __aenter__ for an outermost block (_token and the transaction state) or a
    # nested one (_outer and _savepoint).
    _token: contextvars.Token[_TransactionContext | None]
    _savepoint: _Changes
    writes: _Changes
    reads: _Changes | None

    def __init__(self, store: KeyStore, key: str) -> None:
        self._store = store
        self._key = key
        self._outer: _TransactionContext | None = None
        self.active = False

    def __aenter__(self) -> Awaitable[None]:
        store = self._store
        if store._closed:
            raise AuthStateError("the key store is closed")
        current = store._current.get()
        if current is not None and current.active:
            self._outer = current
            self._savepoint = {c: dict(values) for c, values in current.writes.items()}
            return _DONE
        held = store._locks._held
        if self._key in held:
            return self._enter_contended()
        held[self._key] = None  # free: take it without awaiting
        self.writes = {}
        self.reads = None
        self.active = True
        self._token = store._current.set(self)
        return _DONE

    async def _enter_contended(self) -> None:
        store = self._store
        await store._locks.acquire(self._key)
        self.writes = {}
        self.reads = None
        self.active = True
        self._token = store._current.set(self)

    def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Awaitable[None]:
        outer = self._outer
        if outer is not None:
            if exc_type is not None:
                outer.writes = self._savepoint
            return _DONE
        self.active = False
        store = self._store
        store._current.reset(self._token)
        if exc_type is None and self.writes:
            return self._commit()
        store._locks.release(self._key)
        return _DONE

    async def _commit(self) -> None:
        store = self._store
        batch = store._batch or store._open_batch()
        index = len(batch.commits)
        batch.commits.append(self.writes)
        try:
            try:
                await batch.done
            except asyncio.CancelledError:
                await batch.settled()
            failures = batch.failures
            if failures is not None and index in failures:
                raise failures[index]
        finally:
            store._locks.release(self._key)


class KeyStore:
    """Transactional batch key store over a :class:`StorageBackend` (see the module doc).

    One instance serves one event loop. It satisfies :class:`wamd.signal.store.KeyStore`.
    """

    def __init__(self, backend: StorageBackend, *, cache_size: int = 4096) -> None:
        self._backend = backend
        # Read cache: (category, id) -> value, or None for "known missing". Correct because
        # every write to the backend goes through this store (backends lock the account).
        self._cache: collections.OrderedDict[tuple[str, str], bytes | None] = (
            collections.OrderedDict()
        )
        self._cache_size = max(0, cache_size)
        # Bumped before and after every backend write: a read that overlapped a write
        # may have seen either side of it, so its result is not cached.
        self._epoch = 0
        self._current: contextvars.ContextVar[_TransactionContext | None] = contextvars.ContextVar(
            f"wamd_keystore_txn_{id(self):x}", default=None
        )
        self._locks = _KeyLocks()
        self._batch: _Batch | None = None  # the batch still taking commits
        self._writer: asyncio.Task[None] | None = None
        self._closed = False
        self.commits = 0
        """Number of transactions and ``set`` calls committed so far."""
        self.backend_writes = 0
        """Number of backend writes done so far (fewer than ``commits`` under load)."""

    @property
    def backend(self) -> StorageBackend:
        """The storage backend this store writes to."""
        return self._backend

    def in_transaction(self) -> bool:
        """Whether the calling context is inside an open transaction of this store."""
        return self._active() is not None

    async def get(self, category: str, ids: Sequence[str]) -> dict[str, bytes]:
        """The stored values of ``ids`` in ``category`` (missing ids are absent).

        Inside a transaction, the transaction's own writes (and deletes) are visible.
        """
        self._check_open()
        if isinstance(ids, str):
            raise UsageError("ids must be a sequence of str, not a single str")
        txn = self._active()
        if txn is None:
            return await self._read(category, ids)
        result: dict[str, bytes] = {}
        staged = txn.writes.get(category, {})
        reads = txn.reads
        if reads is None:
            reads = txn.reads = {}
        cached = reads.setdefault(category, {})
        missing: list[str] = []
        for key_id in ids:
            if key_id in staged or key_id in cached:
                continue
            missing.append(key_id)
        if missing:
            found = await self._read(category, missing)
            for key_id in missing:
                cached[key_id] = found.get(key_id)
        for key_id in ids:
            value = staged[key_id] if key_id in staged else cached.get(key_id)
            if value is not None:
                result[key_id] = value
        return result

    async def set(self, changes: KeyChanges) -> None:
        """Write (or, for ``None`` values, delete) keys atomically.

        Inside a transaction the changes are staged; outside one they are committed and
        durable when this returns.
        """
        if self._closed:
            raise AuthStateError("the key store is closed")
        txn = self._current.get()
        if txn is not None and txn.active:
            writes = txn.writes
            for category, values in changes.items():
                staged = writes.get(category)
                if staged is None:
                    writes[category] = _checked(category, values)
                else:
                    staged.update(_checked(category, values))
            return
        copied = {c: _checked(c, v) for c, v in changes.items() if v}
        if copied:
            await self._commit(copied)

    def transaction(self, key: str = "") -> _TransactionContext:
        """Open (or join) a transaction; ``key`` serialises transactions on one resource."""
        return _TransactionContext(self, key)

    async def aclose(self) -> None:
        """Wait for pending commits, then refuse further use (the backend stays open)."""
        self._closed = True
        writer = self._writer
        if writer is not None and not writer.done():
            await asyncio.shield(writer)

    # --- internals ----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise AuthStateError("the key store is closed")

    def _active(self) -> _TransactionContext | None:
        txn = self._current.get()
        if txn is None or not txn.active:
            return None
        return txn

    def _open_batch(self) -> _Batch:
        """Start a batch for the next commits, and a writer task if none is running."""
        loop = asyncio.get_running_loop()
        batch = self._batch = _Batch(loop)
        writer = self._writer
        if writer is None or writer.done():
            self._writer = loop.create_task(self._write_loop(), name="wamd-keystore")
        return batch

    async def _commit(self, changes: _Changes) -> None:
        batch = self._batch or self._open_batch()
        index = len(batch.commits)
        batch.commits.append(changes)
        try:
            await batch.done
        except asyncio.CancelledError:
            await batch.settled()
        failures = batch.failures
        if failures is not None and index in failures:
            raise failures[index]

    async def _write_loop(self) -> None:
        """Write each batch (all commits waiting at once) with one backend write."""
        while (batch := self._batch) is not None:
            self._batch = None
            try:
                await self._write_batch(batch)
            except BaseException:
                # The writer itself is going (cancelled): nothing queued will be written.
                batch.settle(abandoned=True)
                pending, self._batch = self._batch, None
                if pending is not None:
                    pending.settle(abandoned=True)
                raise
            batch.settle()

    async def _read(self, category: str, ids: Sequence[str]) -> dict[str, bytes]:
        """Backend values of ``ids`` (missing ones absent), through the read cache."""
        if not self._cache_size:
            return await self._backend.read(category, list(dict.fromkeys(ids)))
        cache = self._cache
        result: dict[str, bytes] = {}
        missing: list[str] = []
        for key_id in ids:
            key = (category, key_id)
            if key in cache:
                value = cache[key]
                if value is not None:
                    result[key_id] = value
            else:
                missing.append(key_id)
        if missing:
            missing = list(dict.fromkeys(missing))
            epoch = self._epoch
            found = await self._backend.read(category, missing)
            result.update(found)
            if epoch == self._epoch:
                for key_id in missing:
                    self._remember(category, key_id, found.get(key_id))
        return result

    def _remember(self, category: str, key_id: str, value: bytes | None) -> None:
        cache = self._cache
        cache[(category, key_id)] = value
        if len(cache) > self._cache_size:
            cache.popitem(last=False)

    async def _backend_write(self, changes: _Changes) -> None:
        """One backend write, keeping the read cache in step with what it did."""
        self._epoch += 1
        try:
            await self._backend.write(changes)
        except BaseException:
            for category, values in changes.items():  # the outcome is unknown: forget
                for key_id in values:
                    self._cache.pop((category, key_id), None)
            raise
        finally:
            self._epoch += 1
        if self._cache_size:
            cache = self._cache
            for category, values in changes.items():
                for key_id, value in values.items():
                    cache[(category, key_id)] = value
            while len(cache) > self._cache_size:  # oldest first, as _remember does
                cache.popitem(last=False)

    async def _write_batch(self, batch: _Batch) -> None:
        """Write ``batch`` in one backend write; on failure, each commit on its own."""
        commits = batch.commits
        try:
            await self._backend_write(commits[0] if len(commits) == 1 else _merge(commits))
        except Exception as exc:
            if len(commits) == 1:
                batch.failures = {0: exc}
                return
            # One bad commit must not fail the others: retry them one by one.
            failures: dict[int, Exception] = {}
            for index, changes in enumerate(commits):
                try:
                    await self._backend_write(changes)
                except Exception as single_exc:
                    failures[index] = single_exc
                else:
                    self.backend_writes += 1
                    self.commits += 1
            batch.failures = failures
            return
        self.backend_writes += 1
        self.commits += len(commits)
