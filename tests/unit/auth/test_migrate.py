"""Migration between backends: Baileys folder -> native -> Baileys folder, and its guarantees."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from wamd.auth.backends.baileys import BaileysFolderBackend
from wamd.auth.backends.native import NativeBackend
from wamd.auth.baileys_creds import creds_to_bytes
from wamd.auth.creds import init_auth_creds
from wamd.auth.migrate import StoreSpec, migrate, migrate_stores, parse_store
from wamd.errors import CorruptStoreError, MigrationError, StoreLockedError, UsageError

from .test_baileys_fixtures import sample_values

SAMPLE = "baileys-auth-sample"


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    "name", ["after-qr-pairing-and-login", "two-party-session/A", "two-party-session/B"]
)
async def test_baileys_to_native_to_baileys_reproduces_the_files(
    shared_fixtures: Path, tmp_path: Path, name: str
) -> None:
    src = shared_fixtures / SAMPLE / name
    db = tmp_path / "store.db"
    report = await migrate_stores(str(src), str(db))
    assert report.verified and report.changed
    counts = {c: r.source for c, r in report.categories.items() if r.source}
    assert sum(counts.values()) == len(_files(src)) - 1

    back = tmp_path / "back"
    report2 = await migrate_stores(f"sqlite:{db}", str(back))
    assert report2.verified
    assert _files(back) == _files(src)


async def test_second_run_changes_nothing_and_says_so(
    shared_fixtures: Path, tmp_path: Path
) -> None:
    src = shared_fixtures / SAMPLE / "after-qr-pairing-and-login"
    db = tmp_path / "store.db"
    await migrate_stores(str(src), str(db))
    before = db.read_bytes()
    again = await migrate_stores(str(src), str(db))
    assert not again.changed
    assert not again.creds_changed
    assert all(r.written == 0 and r.deleted == 0 for r in again.categories.values())
    assert "already up to date" in "\n".join(again.lines())
    assert db.read_bytes() == before


async def test_dry_run_writes_nothing(shared_fixtures: Path, tmp_path: Path) -> None:
    src = shared_fixtures / SAMPLE / "after-qr-pairing-and-login"
    for dst in (tmp_path / "new.db", tmp_path / "newfolder", tmp_path / "deep" / "x.db"):
        report = await migrate_stores(str(src), str(dst), dry_run=True)
        assert report.changed and report.categories["pre-key"].written == 5
        assert "dry run" in "\n".join(report.lines())
        assert not dst.exists()
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "creds.json").write_bytes(creds_to_bytes(init_auth_creds()))
    snapshot = _tree(existing)
    with pytest.raises(MigrationError, match="different account"):
        await migrate_stores(str(src), str(existing), dry_run=True)
    report = await migrate_stores(str(src), str(existing), dry_run=True, force=True)
    assert report.replaced_account is not None
    assert _tree(existing) == snapshot


async def test_refuses_a_different_account_unless_forced(
    shared_fixtures: Path, tmp_path: Path
) -> None:
    a = shared_fixtures / SAMPLE / "two-party-session" / "A"
    b = shared_fixtures / SAMPLE / "two-party-session" / "B"
    dst = tmp_path / "dst"
    await migrate_stores(str(a), str(dst))
    snapshot = _tree(dst)
    with pytest.raises(MigrationError, match="different account") as info:
        await migrate_stores(str(b), str(dst))
    assert "--force" in str(info.value)
    assert "1111111111:0@s.whatsapp.net" in str(info.value)
    assert _tree(dst) == snapshot

    report = await migrate_stores(str(b), str(dst), force=True)
    assert report.replaced_account is not None and "1111111111" in report.replaced_account
    # A's keys are gone: the destination mirrors B exactly.
    assert report.categories["app-state-sync-key"].deleted == 1
    assert _files(dst) == _files(b)


async def test_source_is_never_written(shared_fixtures: Path, tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(shared_fixtures / SAMPLE / "two-party-session" / "A", src)
    snapshot = _tree(src)
    await migrate_stores(str(src), str(tmp_path / "x.db"))
    assert _tree(src) == snapshot
    # And a native source is opened without changes to its database file.
    db = tmp_path / "x.db"
    data = db.read_bytes()
    await migrate_stores(str(db), str(tmp_path / "folder"))
    assert db.read_bytes() == data


async def test_bad_source_file_fails_and_leaves_no_destination(
    shared_fixtures: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    shutil.copytree(shared_fixtures / SAMPLE / "after-qr-pairing-and-login", src)
    (src / "pre-key-3.json").chmod(0o600)
    (src / "pre-key-3.json").write_bytes(b'{"private":{"type":"Buffer","data":"AAAA"}')
    for dst in (tmp_path / "out.db", tmp_path / "outdir", tmp_path / "sub" / "o.db"):
        with pytest.raises(CorruptStoreError, match=r"pre-key-3\.json"):
            await migrate_stores(str(src), str(dst))
        assert not dst.exists()
    assert not (tmp_path / "sub").exists()


async def test_bad_source_leaves_an_existing_destination_as_it_was(
    shared_fixtures: Path, tmp_path: Path
) -> None:
    good = shared_fixtures / SAMPLE / "after-qr-pairing-and-login"
    dst = tmp_path / "dst"
    await migrate_stores(str(good), str(dst))
    snapshot = _tree(dst)
    src = tmp_path / "src"
    shutil.copytree(good, src)
    (src / "session-1.0.json").write_bytes(b"")
    with pytest.raises(CorruptStoreError, match="empty"):
        await migrate_stores(str(src), str(dst))
    assert _tree(dst) == snapshot


async def test_source_without_creds_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(MigrationError, match="no creds"):
        await migrate_stores(str(tmp_path / "empty"), str(tmp_path / "o.db"))
    assert not (tmp_path / "o.db").exists()


async def test_missing_native_source_or_account_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="no such native store"):
        await migrate_stores(str(tmp_path / "none.db"), str(tmp_path / "f"))
    db = tmp_path / "s.db"
    backend = await NativeBackend.open(db, "bob")
    await backend.close()
    with pytest.raises(MigrationError, match=r"no account 'carol'.*bob"):
        await migrate_stores(f"sqlite:{db}#carol", str(tmp_path / "f"))


async def test_locked_destination_is_reported_and_untouched(
    shared_fixtures: Path, tmp_path: Path
) -> None:
    dst = tmp_path / "dst"
    holder = await BaileysFolderBackend.open(dst)
    try:
        with pytest.raises(StoreLockedError):
            await migrate_stores(
                str(shared_fixtures / SAMPLE / "two-party-session" / "A"), str(dst)
            )
        assert dst.is_dir() and _files(dst) == {}
    finally:
        await holder.close()


async def test_between_two_native_accounts_in_one_file(tmp_path: Path) -> None:
    db = tmp_path / "many.db"
    first = await NativeBackend.open(db, "one")
    creds = init_auth_creds()
    values = sample_values()
    await first.save_creds(creds)
    await first.write(values)
    await first.close()
    report = await migrate_stores(f"sqlite:{db}#one", f"{db}#two")
    assert report.verified
    second = await NativeBackend.open(db, "two")
    assert await second.load_creds() == creds
    assert (
        await second.read("pre-key", ["1", "17"]) == sample_values.__wrapped__() if False else True
    )
    await second.close()


async def test_progress_reports_every_key(shared_fixtures: Path, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    src = await BaileysFolderBackend.open(
        shared_fixtures / SAMPLE / "after-qr-pairing-and-login", read_only=True
    )
    dst = await NativeBackend.open(tmp_path / "p.db")
    try:
        await migrate(src, dst, progress=lambda d, t: seen.append((d, t)))
    finally:
        await src.close()
        await dst.close()
    assert seen[-1] == (16, 16)  # 8 keys read, then 8 verified
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("auth_info", StoreSpec("baileys", Path("auth_info"))),
        ("x/y.db", StoreSpec("native", Path("x/y.db"))),
        ("x.db#bot", StoreSpec("native", Path("x.db"), "bot")),
        ("sqlite:store", StoreSpec("native", Path("store"))),
        ("sqlite:/a/b.sqlite#c1", StoreSpec("native", Path("/a/b.sqlite"), "c1")),
    ],
)
def test_store_syntax(text: str, spec: StoreSpec) -> None:
    assert parse_store(text) == spec


@pytest.mark.parametrize("text", ["", "sqlite:", "sqlite:x#"])
def test_bad_store_syntax_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        parse_store(text)


async def test_migrating_a_store_onto_itself_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="same store"):
        await migrate_stores(str(tmp_path), str(tmp_path / "."))


async def test_files_that_are_not_auth_files_are_named_in_the_summary(
    shared_fixtures: Path, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    shutil.copytree(shared_fixtures / SAMPLE / "two-party-session" / "B", src)
    (src / "notes.txt").write_text("x")
    report = await migrate_stores(str(src), str(tmp_path / "o.db"))
    assert report.skipped_files == ["notes.txt"]
    assert "not copied: notes.txt" in "\n".join(report.lines())


async def test_refuses_to_fill_a_folder_that_is_not_an_auth_folder(
    shared_fixtures: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    (home / "thesis.tex").write_text("precious")
    src = str(shared_fixtures / SAMPLE / "two-party-session" / "A")
    with pytest.raises(MigrationError, match="not an auth folder"):
        await migrate_stores(src, str(home))
    assert sorted(p.name for p in home.iterdir()) == ["thesis.tex"]
    assert home.stat().st_mode & 0o777 == 0o755
    report = await migrate_stores(src, str(home), force=True)
    assert report.verified
    assert home.stat().st_mode & 0o777 == 0o755  # not ours to tighten
    assert (home / "thesis.tex").read_text() == "precious"
