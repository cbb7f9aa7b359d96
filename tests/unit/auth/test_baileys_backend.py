"""The Baileys-folder backend: Baileys' files, atomic batches, lock, modes, bad input."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from wamd.auth.backends.baileys import (
    JOURNAL_FILE,
    TEMP_PREFIX,
    BaileysFolderBackend,
    use_multi_file_auth_state,
)
from wamd.auth.baileys_creds import creds_to_bytes
from wamd.auth.baileys_keys import file_name
from wamd.auth.creds import init_auth_creds
from wamd.errors import AuthStateError, CorruptStoreError, StoreLockedError

from .test_baileys_fixtures import sample_values

SAMPLE = "baileys-auth-sample"


def _copy(shared_fixtures: Path, tmp_path: Path, name: str) -> Path:
    dst = tmp_path / name.replace("/", "_")
    shutil.copytree(shared_fixtures / SAMPLE / name, dst)
    for p in [dst, *dst.iterdir()]:
        p.chmod(0o700 if p.is_dir() else 0o600)
    return dst


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}


@pytest.mark.parametrize(
    "name", ["after-qr-pairing-and-login", "two-party-session/A", "two-party-session/B"]
)
async def test_baileys_folder_reads_fully_and_rewrites_byte_identical(
    shared_fixtures: Path, tmp_path: Path, name: str
) -> None:
    src = shared_fixtures / SAMPLE / name
    original = _files(src)
    backend = await BaileysFolderBackend.open(src, read_only=True)
    inventory = await backend.inventory()
    assert inventory.unknown == []
    creds = await backend.load_creds()
    assert creds is not None
    values = {c: await backend.read(c, ids) for c, ids in inventory.ids.items() if ids}
    assert sum(len(v) for v in values.values()) == len(original) - 1
    await backend.close()
    assert _files(src) == original  # read-only: nothing written, not even a lock file

    dst = tmp_path / "out"
    out = await BaileysFolderBackend.open(dst)
    await out.commit(values, creds)
    await out.close()
    assert _files(dst) == original


async def test_every_category_round_trips_through_the_folder(tmp_path: Path) -> None:
    values = sample_values()
    backend = await BaileysFolderBackend.open(tmp_path / "auth")
    await backend.write(values)
    for category, items in values.items():
        assert await backend.read(category, [*items, "missing"]) == items
        assert sorted(await backend.list_ids(category)) == sorted(items)
    await backend.close()


async def test_none_deletes_the_file(tmp_path: Path) -> None:
    values = sample_values()["pre-key"]
    backend = await BaileysFolderBackend.open(tmp_path)
    await backend.write({"pre-key": values})
    await backend.write({"pre-key": {"1": None, "404": None}})
    assert await backend.list_ids("pre-key") == ["17"]
    assert not (tmp_path / "pre-key-1.json").exists()
    await backend.close()


async def test_folder_is_0700_and_files_0600(tmp_path: Path) -> None:
    folder = tmp_path / "new" / "auth"
    async with await use_multi_file_auth_state(folder) as handle:
        await handle.state.keys.set({"pre-key": sample_values()["pre-key"]})
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    names = sorted(p.name for p in folder.iterdir())
    assert names == [".wamd.lock", "creds.json", "pre-key-1.json", "pre-key-17.json"]
    for p in folder.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p.name


async def test_creds_are_saved_in_baileys_form_and_reload_equal(tmp_path: Path) -> None:
    creds = init_auth_creds()
    backend = await BaileysFolderBackend.open(tmp_path)
    assert await backend.load_creds() is None
    await backend.save_creds(creds)
    assert (tmp_path / "creds.json").read_bytes() == creds_to_bytes(creds)
    assert await backend.load_creds() == creds
    await backend.close()


async def test_second_opener_gets_store_locked_error(tmp_path: Path) -> None:
    first = await BaileysFolderBackend.open(tmp_path)
    with pytest.raises(StoreLockedError, match=str(tmp_path)):
        await BaileysFolderBackend.open(tmp_path)
    with pytest.raises(StoreLockedError):
        await BaileysFolderBackend.open(tmp_path, read_only=True)
    await first.close()
    again = await BaileysFolderBackend.open(tmp_path)
    await again.close()


async def test_another_process_is_locked_out(tmp_path: Path) -> None:
    backend = await BaileysFolderBackend.open(tmp_path)
    code = (
        "import asyncio, sys\n"
        "from wamd.auth.backends.baileys import BaileysFolderBackend\n"
        "from wamd.errors import StoreLockedError\n"
        "try:\n"
        f"    asyncio.run(BaileysFolderBackend.open({str(tmp_path)!r}))\n"
        "except StoreLockedError as e:\n"
        "    print(e); sys.exit(3)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    await backend.close()
    assert proc.returncode == 3, proc.stderr
    assert "in use" in proc.stdout


async def test_read_only_folder_refuses_writes(tmp_path: Path) -> None:
    backend = await BaileysFolderBackend.open(tmp_path, read_only=True)
    with pytest.raises(AuthStateError, match="read-only"):
        await backend.write({"pre-key": sample_values()["pre-key"]})
    await backend.close()
    assert list(tmp_path.iterdir()) == []


async def test_committed_journal_is_finished_on_open(tmp_path: Path) -> None:
    # The state a crash leaves right after the journal (the commit point) reached disk.
    (tmp_path / f"{TEMP_PREFIX}aa-pre-key-5.json").write_bytes(b'"five"')
    (tmp_path / "pre-key-6.json").write_bytes(b'"gone"')
    (tmp_path / JOURNAL_FILE).write_text(
        f'{{"renames": [["{TEMP_PREFIX}aa-pre-key-5.json", "lid-mapping-5.json"]],'
        ' "deletes": ["pre-key-6.json"]}'
    )
    (tmp_path / f"{TEMP_PREFIX}bb-orphan.json").write_bytes(b"partial")
    backend = await BaileysFolderBackend.open(tmp_path)
    assert await backend.read("lid-mapping", ["5"]) == {"5": b"five"}
    await backend.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".wamd.lock", "lid-mapping-5.json"]


@pytest.mark.parametrize(
    ("renames", "deletes"),
    [
        ([[f"{TEMP_PREFIX}aa-x.json", "../outside.json"]], []),
        ([[f"{TEMP_PREFIX}aa-x.json", ".wamd.lock"]], []),
        ([["../../victim", "pre-key-1.json"]], []),
        ([["pre-key-2.json", "pre-key-1.json"]], []),
        ([], ["../outside.json"]),
        ([], [".."]),
        ([], ["sub/pre-key-1.json"]),
    ],
)
async def test_a_journal_naming_files_outside_the_folder_is_refused(
    tmp_path: Path, renames: list[list[str]], deletes: list[str]
) -> None:
    folder = tmp_path / "auth"
    folder.mkdir(mode=0o700)
    (tmp_path / "outside.json").write_text("keep")
    (folder / JOURNAL_FILE).write_text(json.dumps({"renames": renames, "deletes": deletes}))
    with pytest.raises(CorruptStoreError, match="bad file name in write journal"):
        await BaileysFolderBackend.open(folder)
    assert (tmp_path / "outside.json").read_text() == "keep"
    assert (folder / JOURNAL_FILE).exists()  # left for a person to look at


async def test_read_only_open_refuses_an_unfinished_journal(tmp_path: Path) -> None:
    (tmp_path / JOURNAL_FILE).write_text('{"renames": [], "deletes": []}')
    with pytest.raises(CorruptStoreError, match="interrupted"):
        await BaileysFolderBackend.open(tmp_path, read_only=True)


async def test_unknown_files_are_reported_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "weird-1.json").write_text("{}")
    backend = await BaileysFolderBackend.open(tmp_path)
    await backend.write({"pre-key": sample_values()["pre-key"]})
    inventory = await backend.inventory()
    await backend.close()
    assert inventory.unknown == ["notes.txt", "weird-1.json"]
    assert inventory.counts()["pre-key"] == 2
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("creds.json", b"", "file is empty"),
        ("creds.json", b'{"noiseKey":{"private":', "not valid JSON"),
        ("creds.json", b"[]", "must hold a JSON object"),
        ("creds.json", b'{"noiseKey":{}}', "signedPreKey is missing"),
        ("pre-key-1.json", b"not json", "not valid JSON"),
        ("pre-key-1.json", b'{"private":{"type":"Buffer","data":"AAAA"}}', "32 bytes"),
        ("identity-key-1.0.json", b'{"type":"Buffer","data":"BQ=="}', "33 bytes"),
    ],
)
async def test_bad_files_raise_errors_naming_the_file_and_problem(
    tmp_path: Path, name: str, data: bytes, problem: str
) -> None:
    (tmp_path / name).write_bytes(data)
    backend = await BaileysFolderBackend.open(tmp_path, read_only=True)
    with pytest.raises(CorruptStoreError) as info:
        if name == "creds.json":
            await backend.load_creds()
        else:
            category = "pre-key" if name.startswith("pre-key") else "identity-key"
            await backend.read(category, [name.rsplit("-", 1)[-1][: -len(".json")]])
    await backend.close()
    assert str(tmp_path / name) in str(info.value)
    assert problem in str(info.value)


async def test_truncated_creds_fail_to_open_and_are_not_replaced(tmp_path: Path) -> None:
    data = creds_to_bytes(init_auth_creds())[:100]
    (tmp_path / "creds.json").write_bytes(data)
    with pytest.raises(CorruptStoreError, match=r"creds\.json"):
        await use_multi_file_auth_state(tmp_path)
    assert (tmp_path / "creds.json").read_bytes() == data
    # The failed open released the lock.
    backend = await BaileysFolderBackend.open(tmp_path)
    await backend.close()


async def test_a_file_in_place_of_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(AuthStateError, match="not a folder"):
        await BaileysFolderBackend.open(tmp_path / "f")


async def test_file_names_are_baileys_names(tmp_path: Path) -> None:
    values = sample_values()
    backend = await BaileysFolderBackend.open(tmp_path)
    await backend.write(values)
    await backend.close()
    expected = {file_name(c, i) for c, items in values.items() for i in items}
    assert {p.name for p in tmp_path.iterdir()} - {".wamd.lock"} == expected


async def test_ids_with_nul_are_a_usage_error(tmp_path: Path) -> None:
    from wamd.errors import UsageError

    backend = await BaileysFolderBackend.open(tmp_path)
    with pytest.raises(UsageError, match="NUL"):
        await backend.read("session", ["a\x00b"])
    with pytest.raises(UsageError, match="NUL"):
        await backend.write({"lid-mapping": {"a\x00": b"x"}})
    await backend.close()


async def test_os_errors_on_open_are_auth_state_errors(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(AuthStateError, match="cannot open"):
        await BaileysFolderBackend.open(tmp_path / "file" / "auth")


async def test_values_baileys_would_treat_as_falsy_delete_the_file(tmp_path: Path) -> None:
    # Baileys' keys.set deletes instead of writing a falsy value (here an empty lid-mapping).
    backend = await BaileysFolderBackend.open(tmp_path)
    await backend.write({"lid-mapping": {"155": b"987"}})
    assert (tmp_path / "lid-mapping-155.json").read_bytes() == b'"987"'
    await backend.write({"lid-mapping": {"155": b""}})
    assert not (tmp_path / "lid-mapping-155.json").exists()
    assert await backend.read("lid-mapping", ["155"]) == {}
    await backend.close()
