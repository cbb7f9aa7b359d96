"""The Baileys-folder backend: ``useMultiFileAuthState``'s layout, written safely.

A folder of ``creds.json`` and ``<category>-<id>.json`` files, byte-compatible with what
Baileys reads and writes (protocol.md §8): same file names, same JSON, so a folder can go
back and forth between wamd and Baileys. Unlike Baileys, wamd

- writes every file atomically (a temporary file in the folder, fsync, rename, fsync the
  folder), and makes a batch of files atomic with a small journal (``.wamd-journal.json``,
  replayed when the folder is next opened);
- locks the folder (an ``flock`` on ``.wamd.lock``), so two processes never drive it;
- creates the folder 0700 and the files 0600;
- reports a damaged file (naming it) instead of silently starting a fresh account.

Files it does not know are left alone. The folder work runs in threads, never on the
event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import functools
import json
import logging
import os
import secrets
import stat
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from wamd.auth import baileys_json
from wamd.auth.baileys_creds import creds_from_bytes, creds_to_bytes
from wamd.auth.baileys_keys import (
    CATEGORIES,
    file_name,
    id_from_file_name,
    is_deletion,
    value_from_baileys,
    value_to_baileys,
)
from wamd.auth.creds import AuthCreds
from wamd.auth.state import AuthHandle, open_auth_state
from wamd.errors import AuthStateError, CorruptStoreError, StoreLockedError, UsageError
from wamd.signal.store import KeyChanges

__all__ = ["BaileysFolderBackend", "FolderInventory", "use_multi_file_auth_state"]

_log = logging.getLogger(__name__)

CREDS_FILE = "creds.json"
LOCK_FILE = ".wamd.lock"
JOURNAL_FILE = ".wamd-journal.json"
TEMP_PREFIX = ".wamd-tmp-"
_OWN_FILES = (LOCK_FILE, JOURNAL_FILE)


@dataclass(frozen=True, slots=True)
class FolderInventory:
    """What a Baileys folder holds: key ids per category, and files that are not Baileys'."""

    has_creds: bool
    ids: dict[str, list[str]] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """The number of keys per category (every category, zero included)."""
        return {c: len(self.ids.get(c, ())) for c in CATEGORIES}


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(folder: Path, name: str, data: bytes, *, sync: bool = True) -> str:
    """Write ``data`` to a fresh 0600 temporary file in ``folder``; returns its name.

    With ``sync`` the file is fsynced; without, the caller must sync the file system.
    """
    temp = f"{TEMP_PREFIX}{secrets.token_hex(6)}-{name}"[:255]
    fd = os.open(folder / temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    return temp


@functools.cache
def _syncfs() -> Callable[[int], int] | None:
    """Linux's ``syncfs(2)``: one call makes every written file of a file system durable.

    Looked up on first use, so importing wamd does not load ctypes.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # noqa: PLC0415 (only a batch of many files needs it)

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.syncfs
    except (OSError, AttributeError):  # pragma: no cover - every glibc/musl has it
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return cast("Callable[[int], int]", fn)


# Above this many files in one batch, one syncfs beats an fsync per file (a new file's
# fsync costs milliseconds on journalling file systems; syncfs flushes them together).
_SYNCFS_MIN_FILES = 8


def _sync_folder_files(folder: Path, syncfs: Callable[[int], int]) -> None:
    import ctypes  # noqa: PLC0415 (loaded already by _syncfs)

    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    finally:
        os.close(fd)


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


class BaileysFolderBackend:
    """A :class:`~wamd.auth.backend.StorageBackend` over a Baileys multi-file auth folder.

    Open it with :meth:`open`. Opened for writing it holds the folder's lock until
    :meth:`close`; opened ``read_only`` it never writes anything into the folder.
    """

    def __init__(self, folder: Path, *, read_only: bool, lock_fd: int) -> None:
        self._folder = folder
        self._read_only = read_only
        self._lock_fd = lock_fd
        self._write_lock = asyncio.Lock()
        self._closed = False

    @property
    def folder(self) -> Path:
        """The auth folder."""
        return self._folder

    @property
    def read_only(self) -> bool:
        """True if this backend refuses every write."""
        return self._read_only

    @classmethod
    async def open(
        cls, folder: str | os.PathLike[str], *, read_only: bool = False
    ) -> BaileysFolderBackend:
        """Open the folder (created 0700 if missing, unless ``read_only``).

        Raises :class:`StoreLockedError` if another process (or handle) has it open for
        writing, :class:`AuthStateError` if the path is not a folder (or, read-only, does
        not exist), :class:`CorruptStoreError` if a read-only folder has an unfinished
        batch in its journal.
        """
        path = Path(os.fspath(folder)).absolute()
        fd = await asyncio.to_thread(_open_folder, path, read_only)
        return cls(path, read_only=read_only, lock_fd=fd)

    def _where(self, name: str) -> str:
        return str(self._folder / name)

    def _check_usable(self, writing: bool) -> None:
        if self._closed:
            raise AuthStateError(f"{self._folder}: the store is closed")
        if writing and self._read_only:
            raise AuthStateError(f"{self._folder}: opened read-only, refusing to write")

    # --- keys -------------------------------------------------------------------------------

    async def read(self, category: str, ids: Sequence[str]) -> dict[str, bytes]:
        """The stored values of ``ids`` in ``category``; missing ids are absent."""
        self._check_usable(False)
        _check_category(category)
        return await asyncio.to_thread(self._read_sync, category, list(ids))

    def _read_sync(self, category: str, ids: list[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for key_id in ids:
            _check_id(key_id)
            name = file_name(category, key_id)
            data = self._read_file(name)
            if data is None:
                continue
            obj = baileys_json.loads(data, self._where(name))
            if obj is None:  # Baileys reads a "null" file as a missing key
                continue
            out[key_id] = value_from_baileys(category, obj, self._where(name))
        return out

    def _read_file(self, name: str) -> bytes | None:
        try:
            return (self._folder / name).read_bytes()
        except FileNotFoundError:
            return None
        except IsADirectoryError:
            raise CorruptStoreError(f"{self._where(name)}: is a folder, not a file") from None
        except OSError as exc:
            raise AuthStateError(f"{self._where(name)}: cannot read ({exc.strerror})") from None

    async def write(self, changes: KeyChanges) -> None:
        """Apply every change (``None`` deletes) atomically; durable when it returns."""
        await self.commit(changes)

    async def commit(self, changes: KeyChanges, creds: AuthCreds | None = None) -> None:
        """Write key changes and (optionally) the creds as one atomic, durable batch."""
        self._check_usable(True)
        ops = self._encode(changes)
        if creds is not None:
            ops[CREDS_FILE] = creds_to_bytes(creds)
        if not ops:
            return
        async with self._write_lock:
            await asyncio.to_thread(_apply, self._folder, ops)

    def _encode(self, changes: KeyChanges) -> dict[str, bytes | None]:
        ops: dict[str, bytes | None] = {}
        for category, items in changes.items():
            _check_category(category)
            for key_id, value in items.items():
                _check_id(key_id)
                name = file_name(category, key_id)
                if value is None:
                    ops[name] = None
                    continue
                obj = value_to_baileys(category, value, f"{category} {key_id!r}")
                ops[name] = None if is_deletion(obj) else baileys_json.dumps(obj)
        return ops

    async def list_ids(self, category: str) -> list[str]:
        """Every id stored in ``category`` (recovered from the file names)."""
        self._check_usable(False)
        _check_category(category)
        inventory = await self.inventory()
        return inventory.ids.get(category, [])

    async def inventory(self) -> FolderInventory:
        """Every key file by category, and every file that is neither Baileys' nor wamd's."""
        self._check_usable(False)
        return await asyncio.to_thread(_scan, self._folder)

    # --- creds ------------------------------------------------------------------------------

    async def load_creds(self) -> AuthCreds | None:
        """The creds in ``creds.json``, or ``None`` if there is none yet."""
        self._check_usable(False)
        data = await asyncio.to_thread(self._read_file, CREDS_FILE)
        if data is None:
            return None
        return creds_from_bytes(data, self._where(CREDS_FILE))

    async def save_creds(self, creds: AuthCreds) -> None:
        """Replace ``creds.json`` atomically; durable when it returns."""
        await self.commit({}, creds)

    async def close(self) -> None:
        """Release the folder's lock; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        async with self._write_lock:
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1

    def __repr__(self) -> str:
        mode = "read-only" if self._read_only else "read-write"
        state = "closed" if self._closed else "open"
        return f"<BaileysFolderBackend {self._folder} {mode} {state}>"


def _check_category(category: str) -> None:
    if category not in CATEGORIES:
        raise UsageError(f"unknown key category {category!r}")


def _check_id(key_id: str) -> None:
    if not isinstance(key_id, str) or "\x00" in key_id:
        raise UsageError(f"bad key id {key_id!r} (ids are str without NUL)")


# --- folder work (in threads) --------------------------------------------------------------


def _open_folder(path: Path, read_only: bool) -> int:
    try:
        return _open_folder_unguarded(path, read_only)
    except OSError as exc:
        raise AuthStateError(f"{path}: cannot open ({exc.strerror or exc})") from None


def _open_folder_unguarded(path: Path, read_only: bool) -> int:
    if path.exists() and not path.is_dir():
        raise AuthStateError(f"{path} is not a folder (wanted a Baileys auth folder)")
    if read_only:
        if not path.is_dir():
            raise AuthStateError(f"{path}: no such auth folder")
        _check_not_locked(path)
        if (path / JOURNAL_FILE).exists():
            raise CorruptStoreError(
                f"{path / JOURNAL_FILE}: a batch of writes was interrupted; open the folder "
                "for writing once (use_multi_file_auth_state) to finish it"
            )
        return -1
    if not path.exists():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        if (path / CREDS_FILE).exists() or not any(os.scandir(path)):
            _log.info("%s: tightening folder mode %s to 0700 (private keys)", path, oct(mode))
            path.chmod(0o700)
        else:  # someone else's folder we were pointed at: say so, but leave it alone
            _log.warning("%s has mode %s and will hold private keys", path, oct(mode))
    fd = _take_lock(path)
    try:
        _recover(path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _lock_holder(path: Path) -> str:
    try:
        text = (path / LOCK_FILE).read_text(errors="replace").strip()
    except OSError:
        return ""
    return f" ({text})" if text else ""


def _take_lock(path: Path) -> int:
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StoreLockedError(
            f"{path} is in use by another process or handle{_lock_holder(path)}"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(fd, f"pid {os.getpid()}\n".encode())
    return fd


def _check_not_locked(path: Path) -> None:
    """Raise StoreLockedError if a writer holds the folder (a read-only opener takes no lock)."""
    try:
        fd = os.open(path / LOCK_FILE, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise StoreLockedError(
            f"{path} is in use by another process or handle{_lock_holder(path)}; "
            "stop it before reading the folder"
        ) from None
    finally:
        os.close(fd)


def _apply(folder: Path, ops: dict[str, bytes | None]) -> None:
    """Make every op durable, all or nothing (a journal makes multi-file batches atomic)."""
    temps: dict[str, str] = {}
    writes = sum(1 for data in ops.values() if data is not None)
    syncfs = _syncfs() if writes >= _SYNCFS_MIN_FILES else None
    try:
        for name, data in ops.items():
            if data is not None:
                temps[name] = _write_temp(folder, name, data, sync=syncfs is None)
        if syncfs is not None:
            _sync_folder_files(folder, syncfs)
    except OSError as exc:
        for temp in temps.values():
            _unlink(folder / temp)
        raise AuthStateError(f"{folder}: cannot write ({exc.strerror})") from None
    deletes = [name for name, data in ops.items() if data is None]
    journal = len(ops) > 1
    try:
        if journal:
            record = {"renames": [[t, n] for n, t in temps.items()], "deletes": deletes}
            jtemp = _write_temp(folder, JOURNAL_FILE, json.dumps(record).encode())
            os.replace(folder / jtemp, folder / JOURNAL_FILE)
            _fsync_dir(folder)  # the commit point
        _replay(folder, [(t, n) for n, t in temps.items()], deletes)
        _fsync_dir(folder)
        if journal:
            (folder / JOURNAL_FILE).unlink()
            _fsync_dir(folder)  # a stale journal must never replay over later writes
    except OSError as exc:
        raise AuthStateError(f"{folder}: cannot write ({exc.strerror})") from None


def _replay(folder: Path, renames: list[tuple[str, str]], deletes: list[str]) -> None:
    for temp, name in renames:
        try:
            os.replace(folder / temp, folder / name)
        except FileNotFoundError:
            continue  # already renamed before a crash
    for name in deletes:
        _unlink(folder / name)


def _recover(folder: Path) -> None:
    """Finish a committed batch left by a crash, and drop temporary files of unfinished ones."""
    journal = folder / JOURNAL_FILE
    if journal.exists():
        try:
            record = json.loads(journal.read_bytes())
            renames = [(str(t), str(n)) for t, n in record["renames"]]
            deletes = [str(n) for n in record["deletes"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptStoreError(f"{journal}: damaged write journal ({exc})") from None
        # Every name must stay inside the folder: a temporary file we wrote, renamed to
        # (or a deleted) plain file name.
        bad = [t for t, _ in renames if not _is_plain(t) or not t.startswith(TEMP_PREFIX)]
        bad += [n for _, n in renames if not _is_plain(n) or n.startswith(".")]
        bad += [n for n in deletes if not _is_plain(n) or n.startswith(".")]
        if bad:
            raise CorruptStoreError(f"{journal}: bad file name in write journal: {bad[0]!r}")
        _log.warning("%s: finishing a batch of writes interrupted by a crash", folder)
        _replay(folder, renames, deletes)
        _fsync_dir(folder)
        journal.unlink()
        _fsync_dir(folder)
    for entry in os.scandir(folder):
        if entry.name.startswith(TEMP_PREFIX):
            _unlink(Path(entry.path))


def _is_plain(name: str) -> bool:
    return bool(name) and "/" not in name and "\0" not in name and name not in (".", "..")


def _scan(folder: Path) -> FolderInventory:
    ids: dict[str, list[str]] = {c: [] for c in CATEGORIES}
    unknown: list[str] = []
    has_creds = False
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise AuthStateError(f"{folder}: no such auth folder") from None
        raise AuthStateError(f"{folder}: cannot list ({exc.strerror})") from None
    for entry in entries:
        name = entry.name
        if name == CREDS_FILE:
            has_creds = True
            continue
        if name in _OWN_FILES or name.startswith(TEMP_PREFIX):
            continue
        found = id_from_file_name(name) if entry.is_file() else None
        if found is None:
            unknown.append(name)
        else:
            ids[found[0]].append(found[1])
    return FolderInventory(has_creds, ids, unknown)


async def use_multi_file_auth_state(folder: str | os.PathLike[str]) -> AuthHandle:
    """Open (or create) the Baileys multi-file auth folder at ``folder``.

    Baileys can keep using the folder afterwards (not at the same time). Close the returned
    handle (or use it as an async context manager) to release the folder's lock.
    """
    backend = await BaileysFolderBackend.open(folder)
    return await open_auth_state(backend)
