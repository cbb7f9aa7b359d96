"""One-shot migration of an account's auth state between any two backends.

:func:`migrate` copies the creds and every key of a source backend into a destination
so that the destination mirrors the source: it never writes to the source, refuses to
overwrite a different account unless forced, writes only what differs (so a second run
changes nothing and says so), verifies by reading everything back, and leaves the
destination as it was when anything fails.

:func:`open_store` turns the store syntax of the ``wamd`` command into a backend:

- ``sqlite:PATH`` or ``sqlite:PATH#CLIENT_ID``, or a ``PATH`` ending in ``.db`` (with an
  optional ``#CLIENT_ID``): wamd's native SQLite store (client id ``default`` if omitted);
- ``postgres://…`` / ``postgresql://…`` or ``redis://…`` / ``rediss://…`` URLs, with
  ``#CLIENT_ID`` (client id ``default`` if omitted): an account in a PostgreSQL database
  or a Redis server;
- anything else: a Baileys multi-file auth folder.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from wamd.auth.backend import StorageBackend
from wamd.auth.backends._remote import open_remote_store, parse_remote_url, redact_url
from wamd.auth.backends.baileys import BaileysFolderBackend
from wamd.auth.backends.memory import MemoryBackend
from wamd.auth.backends.native import SCHEMA_VERSION, NativeBackend
from wamd.auth.baileys_keys import id_from_file_name
from wamd.auth.creds import AuthCreds
from wamd.errors import MigrationError, UsageError
from wamd.signal.store import KeyCategory

__all__ = [
    "CategoryResult",
    "MigrationReport",
    "StoreSpec",
    "account_label",
    "migrate",
    "migrate_stores",
    "native_accounts",
    "open_store",
    "parse_store",
    "same_store",
]

_log = logging.getLogger(__name__)

CATEGORIES = tuple(c.value for c in KeyCategory)
READ_CHUNK = 256
Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while keys are read and verified."""


@dataclass(frozen=True, slots=True)
class StoreSpec:
    """A parsed store argument: ``kind`` is ``"native"``, ``"baileys"``, ``"postgres"``
    or ``"redis"`` (the last two with a ``url``)."""

    kind: str
    path: Path
    client_id: str = "default"
    url: str | None = None

    def __str__(self) -> str:
        if self.url is not None:
            return f"{redact_url(self.url)}#{self.client_id}"
        if self.kind == "native":
            return f"sqlite:{self.path}#{self.client_id}"
        return str(self.path)


def parse_store(text: str) -> StoreSpec:
    """Parse the store syntax (see the module docs); :class:`UsageError` if it is empty."""
    if not text:
        raise UsageError("a store must be a folder path, a *.db path or sqlite:PATH[#CLIENT_ID]")
    remote = parse_remote_url(text)
    if remote is not None:
        return StoreSpec(remote[0], Path(), remote[2], url=remote[1])
    native = text.startswith("sqlite:")
    body = text.removeprefix("sqlite:")
    path_text, _, client_id = body.partition("#")
    if not native and not path_text.endswith(".db"):
        return StoreSpec("baileys", Path(text).expanduser())
    if not path_text:
        raise UsageError(f"{text!r}: sqlite: needs a file path")
    if "#" in body and not client_id:
        raise UsageError(f"{text!r}: empty client id after '#'")
    return StoreSpec("native", Path(path_text).expanduser(), client_id or "default")


def native_accounts(path: Path) -> list[str]:
    """The client ids a native store file holds (read-only; [] if it is not one)."""
    uri = f"file:{urllib.parse.quote(str(path.absolute()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
        try:
            rows = conn.execute("SELECT client_id FROM accounts").fetchall()
        finally:
            conn.close()
    except sqlite3.Error:
        return []
    return sorted(str(r[0]) for r in rows)


def _check_native_source(spec: StoreSpec) -> None:
    """Make sure opening a native source will not write to it (no schema migration, no new row)."""
    if not spec.path.is_file():
        raise MigrationError(f"{spec.path}: no such native store")
    uri = f"file:{urllib.parse.quote(str(spec.path.absolute()))}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise MigrationError(f"{spec.path}: cannot open read-only ({exc})") from None
    try:
        version = conn.execute("SELECT version FROM wamd_schema").fetchone()
        rows = conn.execute("SELECT client_id FROM accounts").fetchall()
    except sqlite3.DatabaseError as exc:
        raise MigrationError(f"{spec.path} is not a wamd native store ({exc})") from None
    finally:
        conn.close()
    if version is None or version[0] != SCHEMA_VERSION:
        found = None if version is None else version[0]
        raise MigrationError(
            f"{spec.path} has schema version {found}, this wamd writes {SCHEMA_VERSION}: "
            "open it with this wamd once (or upgrade wamd) before migrating from it"
        )
    accounts = sorted(str(r[0]) for r in rows)
    if spec.client_id not in accounts:
        held = ", ".join(accounts) or "none"
        raise MigrationError(f"{spec.path} has no account {spec.client_id!r} (it holds: {held})")


async def open_store(
    spec: StoreSpec,
    *,
    source: bool = False,
    dry_run: bool = False,
    encryption_key: bytes | None = None,
) -> StorageBackend:
    """Open the store ``spec`` names.

    A ``source`` is opened so that nothing is written to it (a Baileys folder read-only;
    a native store only if it exists at the current schema and holds the account). A
    ``dry_run`` destination that does not exist yet is an empty in-memory stand-in, so
    that nothing is created.
    """
    if spec.url is not None:
        return await open_remote_store(
            spec.kind,
            spec.url,
            spec.client_id,
            source=source,
            dry_run=dry_run,
            encryption_key=encryption_key,
        )
    if spec.kind == "baileys":
        if source or (dry_run and spec.path.is_dir()):
            return await BaileysFolderBackend.open(spec.path, read_only=True)
        if dry_run:
            return MemoryBackend()
        return await BaileysFolderBackend.open(spec.path)
    if source:
        _check_native_source(spec)
    elif dry_run and not spec.path.exists():
        return MemoryBackend()
    elif dry_run:
        _check_native_source(spec)
    return await NativeBackend.open(spec.path, spec.client_id, encryption_key=encryption_key)


@dataclass(slots=True)
class CategoryResult:
    """Per category: keys in the source, and what the destination needed."""

    source: int = 0
    written: int = 0
    unchanged: int = 0
    deleted: int = 0


@dataclass(slots=True)
class MigrationReport:
    """What a migration found and did (or, on a dry run, would do)."""

    account: str
    dry_run: bool
    creds_changed: bool
    replaced_account: str | None = None
    categories: dict[str, CategoryResult] = field(default_factory=dict)
    verified: bool = False
    skipped_files: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True if the destination needed any change."""
        return self.creds_changed or any(r.written or r.deleted for r in self.categories.values())

    def lines(self) -> list[str]:
        """A human summary, one line per category with keys."""
        verb = "would write" if self.dry_run else "wrote"
        out = [f"account: {self.account}"]
        if self.replaced_account:
            out.append(f"replacing account in destination: {self.replaced_account}")
        out.append(f"creds: {verb if self.creds_changed else 'unchanged'}")
        width = max((len(c) for c in self.categories), default=8)
        for category, r in self.categories.items():
            if r.source or r.deleted:
                extra = f", {'would delete' if self.dry_run else 'deleted'} {r.deleted}"
                out.append(
                    f"{category:<{width}}  {r.source:>6} keys: {verb} {r.written}, "
                    f"unchanged {r.unchanged}" + (extra if r.deleted else "")
                )
        if self.skipped_files:
            names = ", ".join(self.skipped_files[:5])
            more = f" and {len(self.skipped_files) - 5} more" if len(self.skipped_files) > 5 else ""
            out.append(f"not auth files, not copied: {names}{more}")
        if not self.changed:
            out.append("destination already up to date: nothing to do")
        elif self.dry_run:
            out.append("dry run: nothing was written")
        elif self.verified:
            out.append("verified: destination matches the source")
        return out


def account_label(creds: AuthCreds) -> str:
    """Who an account is, without secrets: ``me.id`` or, unpaired, its identity key prefix."""
    ident = creds.signed_identity_key.public.hex()[:16]
    if creds.me is not None:
        return f"{creds.me.id} (identity {ident}…)"
    return f"unpaired device (identity {ident}…)"


async def _all_ids(backend: StorageBackend) -> dict[str, list[str]]:
    """Every stored id per category, sorted (a Baileys folder is listed once, not per category)."""
    if isinstance(backend, BaileysFolderBackend):
        found = (await backend.inventory()).ids
        return {c: sorted(found.get(c, ())) for c in CATEGORIES}
    return {c: sorted(await backend.list_ids(c)) for c in CATEGORIES}


async def _read_all(
    backend: StorageBackend, ids: dict[str, list[str]], tick: Callable[[int], None]
) -> dict[str, dict[str, bytes]]:
    values: dict[str, dict[str, bytes]] = {}
    for category, keys in ids.items():
        got: dict[str, bytes] = {}
        for start in range(0, len(keys), READ_CHUNK):
            chunk = keys[start : start + READ_CHUNK]
            got.update(await backend.read(category, chunk))
            tick(len(chunk))
        missing = set(keys) - set(got)
        if missing:
            raise MigrationError(f"{category} keys listed but unreadable: {sorted(missing)[:5]}")
        values[category] = got
    return values


async def migrate(
    source: StorageBackend,
    destination: StorageBackend,
    *,
    dry_run: bool = False,
    force: bool = False,
    progress: Progress | None = None,
) -> MigrationReport:
    """Make ``destination`` hold exactly the creds and keys of ``source``.

    Raises :class:`MigrationError` (with nothing written) if the source has no creds, if
    the destination holds a different account and ``force`` is false, or if verification
    fails; errors of either backend propagate the same way.
    """
    creds = await source.load_creds()
    if creds is None:
        raise MigrationError("the source holds no creds (no account to migrate)")
    old_creds = await destination.load_creds()
    replaced: str | None = None
    if old_creds is not None and (
        old_creds.signed_identity_key.public != creds.signed_identity_key.public
    ):
        if not force:
            raise MigrationError(
                f"the destination holds a different account ({account_label(old_creds)}); "
                f"refusing to overwrite it with {account_label(creds)} without --force"
            )
        replaced = account_label(old_creds)

    done = 0
    total_hint = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, max(total_hint, done))

    src_ids = await _all_ids(source)
    # Reading, then (unless this is a dry run) verifying, every key once.
    total_hint = sum(len(v) for v in src_ids.values()) * (1 if dry_run else 2)
    values = await _read_all(source, src_ids, tick)
    report = MigrationReport(
        account=account_label(creds),
        dry_run=dry_run,
        creds_changed=old_creds is None or old_creds != creds,
        replaced_account=replaced,
    )
    changes: dict[str, dict[str, bytes | None]] = {}
    undo: dict[str, dict[str, bytes | None]] = {}
    dst_all = await _all_ids(destination)
    for category in CATEGORIES:
        wanted = values[category]
        dst_ids = set(dst_all[category])
        current = await destination.read(category, sorted(dst_ids | set(wanted)))
        result = CategoryResult(source=len(wanted))
        delta: dict[str, bytes | None] = {}
        for key_id, value in wanted.items():
            if current.get(key_id) == value:
                result.unchanged += 1
            else:
                delta[key_id] = value
                result.written += 1
        for key_id in sorted(dst_ids - set(wanted)):
            delta[key_id] = None
            result.deleted += 1
        report.categories[category] = result
        if delta:
            changes[category] = delta
            undo[category] = {k: current.get(k) for k in delta}

    if dry_run or not report.changed:
        total_hint = done
        tick(0)
        return report
    await _write(destination, changes, creds, undo, old_creds)
    try:
        await _verify(destination, values, creds, tick)
    except BaseException:
        await _restore(destination, undo, old_creds)
        raise
    report.verified = True
    return report


async def _write(
    destination: StorageBackend,
    changes: dict[str, dict[str, bytes | None]],
    creds: AuthCreds,
    undo: dict[str, dict[str, bytes | None]],
    old_creds: AuthCreds | None,
) -> None:
    commit = getattr(destination, "commit", None)
    if commit is not None:  # one atomic batch (the Baileys folder's journal)
        await commit(changes, creds)
        return
    if changes:
        await destination.write(changes)
    try:
        await destination.save_creds(creds)
    except BaseException:
        await _restore(destination, undo, None)
        raise


async def _restore(
    destination: StorageBackend,
    undo: dict[str, dict[str, bytes | None]],
    old_creds: AuthCreds | None,
) -> None:
    """Put the destination's previous keys (and creds) back after a failed migration."""
    try:
        if undo:
            await destination.write(undo)
        if old_creds is not None:
            await destination.save_creds(old_creds)
    except Exception:  # the original error is the one to report
        _log.exception("could not restore the destination after a failed migration")


async def _verify(
    destination: StorageBackend,
    values: dict[str, dict[str, bytes]],
    creds: AuthCreds,
    tick: Callable[[int], None],
) -> None:
    back = await destination.load_creds()
    if back != creds:
        raise MigrationError("verification failed: the creds read back differ from the source")
    dst_all = await _all_ids(destination)
    for category, wanted in values.items():
        ids = dst_all[category]
        if ids != sorted(wanted):
            raise MigrationError(
                f"verification failed: {category} ids in the destination differ from the source"
            )
        for start in range(0, len(ids), READ_CHUNK):
            chunk = ids[start : start + READ_CHUNK]
            got = await destination.read(category, chunk)
            bad = [k for k in chunk if got.get(k) != wanted[k]]
            if bad:
                raise MigrationError(
                    f"verification failed: {category} {bad[0]!r} read back differs from the source"
                )
            tick(len(chunk))


def same_store(a: StoreSpec, b: StoreSpec) -> bool:
    """True if ``a`` and ``b`` name the same store (migrating onto itself is refused)."""
    if a.url is not None or b.url is not None:
        return (a.kind, a.url, a.client_id) == (b.kind, b.url, b.client_id)
    try:
        pa, pb = os.path.realpath(a.path), os.path.realpath(b.path)
    except OSError:  # pragma: no cover - realpath only fails on exotic errors
        return False
    return pa == pb and (a.kind, a.client_id) == (b.kind, b.client_id)


def _check_folder_destination(path: Path) -> None:
    """Refuse to fill a folder that holds other things than an auth state (e.g. ``~``)."""
    if not path.is_dir() or (path / "creds.json").exists():
        return
    others = sorted(
        e.name
        for e in os.scandir(path)
        if id_from_file_name(e.name) is None and not e.name.startswith(".wamd")
    )
    if others:
        shown = ", ".join(others[:3]) + (" ..." if len(others) > 3 else "")
        raise MigrationError(
            f"{path} is a folder with other files ({shown}) and no creds.json: not an auth "
            "folder; pick an empty or new folder (or --force to use it anyway)"
        )


def _created_paths(spec: StoreSpec) -> set[Path]:
    """The files and folders a store occupies (to remove them if a failed run created them)."""
    if spec.url is not None:
        return set()  # a server's store: nothing on this machine
    if spec.kind == "baileys":
        return {spec.path} if spec.path.exists() else set()
    parent = spec.path.parent
    if not parent.is_dir():
        return set()
    return {parent, *(p for p in parent.iterdir() if p.name.startswith(spec.path.name))}


def _remove_new(spec: StoreSpec, before: set[Path], parent_existed: bool) -> None:
    after = _created_paths(spec)
    for path in sorted(after - before, key=lambda p: len(p.parts), reverse=True):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    if not parent_existed and spec.path.parent.is_dir():
        shutil.rmtree(spec.path.parent, ignore_errors=True)


async def migrate_stores(
    source: str | StoreSpec,
    destination: str | StoreSpec,
    *,
    dry_run: bool = False,
    force: bool = False,
    progress: Progress | None = None,
    source_key: bytes | None = None,
    destination_key: bytes | None = None,
) -> MigrationReport:
    """Open two stores by name (see :func:`parse_store`) and :func:`migrate` between them.

    A destination that did not exist before is removed again if the migration fails, so
    a failed run leaves nothing behind. ``source_key`` and ``destination_key`` are the
    ``encryption_key`` of encrypted native stores.
    """
    src = source if isinstance(source, StoreSpec) else parse_store(source)
    dst = destination if isinstance(destination, StoreSpec) else parse_store(destination)
    if same_store(src, dst):
        raise UsageError(f"source and destination are the same store ({src})")
    if dst.kind == "baileys" and not force:
        _check_folder_destination(dst.path)
    parent_existed = dst.path.parent.exists()
    before = _created_paths(dst)
    src_backend = await open_store(src, source=True, encryption_key=source_key)
    try:
        dst_backend = await open_store(dst, dry_run=dry_run, encryption_key=destination_key)
        try:
            report = await migrate(
                src_backend, dst_backend, dry_run=dry_run, force=force, progress=progress
            )
        finally:
            await dst_backend.close()
        if isinstance(src_backend, BaileysFolderBackend):
            report.skipped_files = (await src_backend.inventory()).unknown
        return report
    except BaseException:
        if not dry_run:
            _remove_new(dst, before, parent_existed)
        raise
    finally:
        await src_backend.close()
