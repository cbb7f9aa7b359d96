"""Baileys auth folders both ways, checked by real Baileys (useMultiFileAuthState).

- a folder Baileys wrote (every key category) loads in wamd and is written back
  byte-identical, through the native store and back;
- a folder wamd wrote loads in Baileys with the values wamd meant;
- the Signal sessions and sender keys in a folder keep working across the hop: Baileys
  continues them after wamd rewrote the folder, and wamd continues them from Baileys'.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import Oracle
from tests.unit.auth.test_baileys_fixtures import sample_values
from wamd.auth import use_multi_file_auth_state
from wamd.auth.backends.baileys import BaileysFolderBackend
from wamd.auth.baileys_creds import creds_to_bytes
from wamd.auth.baileys_keys import file_name
from wamd.auth.creds import init_auth_creds
from wamd.auth.migrate import migrate_stores
from wamd.signal.repository import SignalRepository

pytestmark = pytest.mark.interop

SAMPLE = "baileys-auth-sample"
ME = "15550001111:7@s.whatsapp.net"
PEER = "15559998888:2@s.whatsapp.net"
GROUP = "120363000000000001@g.us"
A_JID = "1111111111:0@s.whatsapp.net"
B_JID = "2222222222:3@s.whatsapp.net"


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _all_ids(folder: Path) -> dict[str, list[str]]:
    backend = await BaileysFolderBackend.open(folder, read_only=True)
    try:
        inventory = await backend.inventory()
    finally:
        await backend.close()
    assert inventory.unknown == []
    return {c: ids for c, ids in inventory.ids.items() if ids}


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    for p in [dst, *dst.iterdir()]:
        p.chmod(0o700 if p.is_dir() else 0o600)
    return dst


async def test_folder_baileys_made_loads_in_wamd_and_round_trips_byte_identical(
    oracle: Oracle, tmp_path: Path
) -> None:
    made = tmp_path / "baileys"
    oracle.call("auth_folder_make", folder=str(made), me=ME, peer=PEER, group=GROUP)
    ids = await _all_ids(made)
    assert set(ids) == {
        "pre-key",
        "session",
        "sender-key",
        "sender-key-memory",
        "app-state-sync-key",
        "app-state-sync-version",
        "lid-mapping",
        "device-list",
        "tctoken",
        "identity-key",
    }
    db = tmp_path / "wamd.db"
    await migrate_stores(str(made), str(db))
    back = tmp_path / "back"
    await migrate_stores(str(db), str(back))
    assert _files(back) == _files(made)
    ours = oracle.call("auth_folder_read", folder=str(back), keys=ids)
    theirs = oracle.call("auth_folder_read", folder=str(made), keys=ids)
    assert ours == theirs
    assert all(v is not None for cat in ours["values"].values() for v in cat.values())


async def test_folder_wamd_wrote_loads_in_baileys_with_the_same_values(
    oracle: Oracle, tmp_path: Path
) -> None:
    folder = tmp_path / "wamd"
    creds = init_auth_creds()
    values = sample_values()
    backend = await BaileysFolderBackend.open(folder)
    await backend.commit(values, creds)
    await backend.close()
    ids = {c: list(items) for c, items in values.items()}
    seen = oracle.call("auth_folder_read", folder=str(folder), keys=ids)
    assert seen["identity_public"] == creds.signed_identity_key.public
    assert seen["registration_id"] == creds.registration_id
    # What Baileys loaded, written back by Baileys, is exactly the file wamd wrote.
    assert seen["creds"].encode() == creds_to_bytes(creds)
    for category, items in values.items():
        for key_id in items:
            loaded = seen["values"][category][key_id]
            assert loaded is not None, (category, key_id)
            assert loaded.encode() == (folder / file_name(category, key_id)).read_bytes()


async def test_baileys_continues_sessions_after_wamd_rewrote_the_folder(
    oracle: Oracle, shared_fixtures: Path, tmp_path: Path
) -> None:
    a = _copy(shared_fixtures / SAMPLE / "two-party-session" / "A", tmp_path / "A")
    b = _copy(shared_fixtures / SAMPLE / "two-party-session" / "B", tmp_path / "B")
    db = tmp_path / "a.db"
    for round_ in range(2):
        # A's folder goes through wamd (native and back) before every exchange.
        rewritten = tmp_path / f"A{round_}"
        await migrate_stores(str(a), str(db))
        await migrate_stores(str(db), str(rewritten))
        a = rewritten
        for text in (f"to A, round {round_}", "and again"):
            sent = oracle.call("auth_folder_encrypt", folder=str(b), jid=A_JID, data=text.encode())
            got = oracle.call("auth_folder_decrypt", folder=str(a), jid=B_JID, **sent)
            assert got == text.encode()
        reply = oracle.call("auth_folder_encrypt", folder=str(a), jid=B_JID, data=b"to B")
        assert reply["type"] == "msg"
        assert oracle.call("auth_folder_decrypt", folder=str(b), jid=A_JID, **reply) == b"to B"


async def test_wamd_continues_sessions_from_a_baileys_folder_and_baileys_after_it(
    oracle: Oracle, shared_fixtures: Path, tmp_path: Path
) -> None:
    a = _copy(shared_fixtures / SAMPLE / "two-party-session" / "A", tmp_path / "A")
    b = _copy(shared_fixtures / SAMPLE / "two-party-session" / "B", tmp_path / "B")
    sent = oracle.call("auth_folder_encrypt", folder=str(b), jid=A_JID, data=b"from Baileys")
    async with await use_multi_file_auth_state(a) as handle:
        repo = SignalRepository(
            handle.state.keys, handle.state.creds.local_identity(), now_ms=_now_ms
        )
        assert (
            await repo.decrypt_message(B_JID, sent["type"], sent["ciphertext"]) == b"from Baileys"
        )
        kind, body = await repo.encrypt_message(B_JID, b"from wamd")
    got = oracle.call("auth_folder_decrypt", folder=str(b), jid=A_JID, type=kind, ciphertext=body)
    assert got == b"from wamd"
    # Baileys picks the folder up where wamd left it.
    again = oracle.call("auth_folder_encrypt", folder=str(b), jid=A_JID, data=b"still there?")
    assert oracle.call("auth_folder_decrypt", folder=str(a), jid=B_JID, **again) == b"still there?"
    reply = oracle.call("auth_folder_encrypt", folder=str(a), jid=B_JID, data=b"yes")
    assert oracle.call("auth_folder_decrypt", folder=str(b), jid=A_JID, **reply) == b"yes"


async def test_sender_keys_continue_across_wamd_and_baileys(oracle: Oracle, tmp_path: Path) -> None:
    made = tmp_path / "baileys"
    skdm = oracle.call("auth_folder_make", folder=str(made), me=ME, peer=PEER, group=GROUP)["skdm"]
    oracle.call("auth_receiver_new", name="r1", group=GROUP, author=ME, skdm=skdm)
    db = tmp_path / "x.db"
    await migrate_stores(str(made), str(db))
    rewritten = tmp_path / "rewritten"
    await migrate_stores(str(db), str(rewritten))
    # Baileys sends on with the sender key wamd carried over.
    sent = oracle.call(
        "auth_folder_group_encrypt", folder=str(rewritten), group=GROUP, me=ME, data=b"one"
    )
    got = oracle.call(
        "auth_receiver_decrypt", name="r1", group=GROUP, author=ME, ciphertext=sent["ciphertext"]
    )
    assert got == b"one"
    # wamd sends on from the folder Baileys just advanced.
    async with await use_multi_file_auth_state(rewritten) as handle:
        repo = SignalRepository(
            handle.state.keys, handle.state.creds.local_identity(), now_ms=_now_ms
        )
        ciphertext, _ = await repo.encrypt_group_message(GROUP, ME, b"two")
    got = oracle.call(
        "auth_receiver_decrypt", name="r1", group=GROUP, author=ME, ciphertext=ciphertext
    )
    assert got == b"two"
    # And Baileys again, after wamd.
    sent = oracle.call(
        "auth_folder_group_encrypt", folder=str(rewritten), group=GROUP, me=ME, data=b"three"
    )
    got = oracle.call(
        "auth_receiver_decrypt", name="r1", group=GROUP, author=ME, ciphertext=sent["ciphertext"]
    )
    assert got == b"three"
