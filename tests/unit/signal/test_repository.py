"""SignalRepository over the real transactional key store: atomic, rolled back on failure."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from tests.unit.signal.memstore import FlakyBackend, memory_store, snapshot
from wamd._proto.signal_pb2 import PreKeySignalMessage
from wamd.auth.keystore import KeyStore
from wamd.errors import (
    AuthStateError,
    DuplicateMessageError,
    InvalidMessageError,
    InvalidSignatureError,
    InvalidVersionError,
    NoSessionError,
    UnknownPreKeyError,
    UsageError,
)
from wamd.signal.keys import (
    PreKeyBundle,
    generate_identity_key_pair,
    generate_pre_keys,
    generate_registration_id,
    generate_signed_pre_key,
)
from wamd.signal.repository import LocalIdentity, SignalRepository
from wamd.signal.sender_key_message import SenderKeyMessage
from wamd.signal.sender_key_record import SenderKeyRecord
from wamd.signal.session_record import SessionRecord

GROUP = "120363000000000000@g.us"
_clock = itertools.count(1_700_000_000_000, 1000)


def now_ms() -> int:
    return next(_clock)


@dataclass
class Party:
    jid: str
    local: LocalIdentity
    store: KeyStore
    repo: SignalRepository
    next_pre_key: int = 1

    async def bundle(self, with_pre_key: bool = True) -> PreKeyBundle:
        pre_key = None
        if with_pre_key:
            pre_key = generate_pre_keys(self.next_pre_key, 1)[0]
            self.next_pre_key += 1
            pair = pre_key.key_pair
            await self.store.set({"pre-key": {str(pre_key.key_id): pair.private + pair.public}})
        return PreKeyBundle.of(
            self.local.registration_id, self.local.identity, self.local.signed_pre_key, pre_key
        )


def make_party(jid: str, store: KeyStore | None = None) -> Party:
    identity = generate_identity_key_pair()
    local = LocalIdentity(
        identity, generate_registration_id(), generate_signed_pre_key(identity, 1)
    )
    store = memory_store() if store is None else store
    return Party(jid, local, store, SignalRepository(store, local, now_ms=now_ms))


async def linked() -> tuple[Party, Party]:
    """Alice has a session with Bob from his bundle (nothing sent yet)."""
    alice = make_party("15550001111:1@s.whatsapp.net")
    bob = make_party("15550002222:3@s.whatsapp.net")
    await alice.repo.inject_session(bob.jid, await bob.bundle())
    return alice, bob


async def test_pkmsg_then_msg_both_ways() -> None:
    alice, bob = await linked()
    kind, ct = await alice.repo.encrypt_message(bob.jid, b"hello bob")
    assert kind == "pkmsg"
    assert await bob.repo.decrypt_message(alice.jid, kind, ct) == b"hello bob"
    kind2, ct2 = await alice.repo.encrypt_message(bob.jid, b"still pkmsg")
    assert kind2 == "pkmsg"  # no answer yet
    assert await bob.repo.decrypt_message(alice.jid, kind2, ct2) == b"still pkmsg"
    kind3, ct3 = await bob.repo.encrypt_message(alice.jid, b"hi alice")
    assert kind3 == "msg"
    assert await alice.repo.decrypt_message(bob.jid, kind3, ct3) == b"hi alice"
    kind4, ct4 = await alice.repo.encrypt_message(bob.jid, b"now msg")
    assert kind4 == "msg"
    assert await bob.repo.decrypt_message(alice.jid, kind4, ct4) == b"now msg"
    assert await alice.repo.has_session(bob.jid)
    assert await bob.repo.has_session(alice.jid)


async def test_used_pre_key_is_deleted_in_the_same_commit_as_the_session() -> None:
    alice, bob = await linked()
    _, ct = await alice.repo.encrypt_message(bob.jid, b"x")
    assert "1" in await bob.store.get("pre-key", ["1"])
    commits = bob.store.commits
    await bob.repo.decrypt_message(alice.jid, "pkmsg", ct)
    assert bob.store.commits == commits + 1
    after = await snapshot(bob.store)
    assert "1" not in after["pre-key"]
    assert set(after["session"]) == {"15550001111.1"}
    assert after["identity-key"]["15550001111.1"] == alice.local.identity.prefixed_public


async def test_failed_commit_loses_nothing_and_the_message_can_be_retried() -> None:
    backend = FlakyBackend()
    alice = make_party("15550001111:1@s.whatsapp.net")
    bob = make_party("15550002222:3@s.whatsapp.net", memory_store(backend))
    await alice.repo.inject_session(bob.jid, await bob.bundle())
    _, ct = await alice.repo.encrypt_message(bob.jid, b"important")
    before = await snapshot(bob.store)
    backend.fail_writes = 1
    with pytest.raises(AuthStateError):
        await bob.repo.decrypt_message(alice.jid, "pkmsg", ct)
    assert await snapshot(bob.store) == before  # pre-key still there, no session
    assert await bob.repo.decrypt_message(alice.jid, "pkmsg", ct) == b"important"


@pytest.mark.parametrize("what", ["tampered mac", "replay", "truncated", "wrong version"])
async def test_failed_pairwise_decrypt_leaves_every_category_unchanged(what: str) -> None:
    alice, bob = await linked()
    _, ct = await alice.repo.encrypt_message(bob.jid, b"first")
    await bob.repo.decrypt_message(alice.jid, "pkmsg", ct)
    _, reply = await bob.repo.encrypt_message(alice.jid, b"reply")
    await alice.repo.decrypt_message(bob.jid, "msg", reply)
    kind, ct2 = await alice.repo.encrypt_message(bob.jid, b"second")
    assert kind == "msg"
    error: type[Exception]
    if what == "replay":
        await bob.repo.decrypt_message(alice.jid, "msg", ct2)
        bad, error = ct2, DuplicateMessageError
    elif what == "tampered mac":
        bad, error = ct2[:-1] + bytes([ct2[-1] ^ 1]), InvalidMessageError
    elif what == "truncated":
        bad, error = ct2[:9], InvalidMessageError
    else:
        bad, error = b"\x23" + ct2[1:], InvalidMessageError
    before = await snapshot(bob.store)
    commits = bob.store.commits
    with pytest.raises(error):
        await bob.repo.decrypt_message(alice.jid, "msg", bad)
    assert await snapshot(bob.store) == before
    assert bob.store.commits == commits


async def test_tampered_pkmsg_keeps_the_pre_key() -> None:
    alice, bob = await linked()
    _, ct = await alice.repo.encrypt_message(bob.jid, b"first")
    before = await snapshot(bob.store)
    with pytest.raises(InvalidMessageError, match=r"MAC|mac"):
        await bob.repo.decrypt_message(alice.jid, "pkmsg", tamper_inner_mac(ct))
    assert await snapshot(bob.store) == before
    assert await bob.repo.decrypt_message(alice.jid, "pkmsg", ct) == b"first"


def tamper_inner_mac(pkmsg: bytes) -> bytes:
    body = PreKeySignalMessage()
    body.ParseFromString(pkmsg[1:])
    body.message = body.message[:-1] + bytes([body.message[-1] ^ 1])
    return pkmsg[:1] + body.SerializeToString()


async def test_pkmsg_for_a_used_pre_key_is_unknown_pre_key() -> None:
    alice, bob = await linked()
    _, ct = await alice.repo.encrypt_message(bob.jid, b"first")
    await bob.store.set({"pre-key": {"1": None}})
    before = await snapshot(bob.store)
    with pytest.raises(UnknownPreKeyError):
        await bob.repo.decrypt_message(alice.jid, "pkmsg", ct)
    assert await snapshot(bob.store) == before


async def test_session_from_a_bundle_with_a_bad_signature_is_refused() -> None:
    alice = make_party("15550001111:1@s.whatsapp.net")
    bob = make_party("15550002222:3@s.whatsapp.net")
    good = await bob.bundle()
    bad_sig = bytes([good.signed_pre_key_signature[0] ^ 1]) + good.signed_pre_key_signature[1:]
    bad = PreKeyBundle(
        good.registration_id,
        good.identity_key,
        good.signed_pre_key_id,
        good.signed_pre_key_public,
        bad_sig,
        good.pre_key_id,
        good.pre_key_public,
    )
    with pytest.raises(InvalidSignatureError):
        await alice.repo.inject_session(bob.jid, bad)
    assert await snapshot(alice.store) == await snapshot(memory_store())
    with pytest.raises(NoSessionError):
        await alice.repo.encrypt_message(bob.jid, b"no session")


async def test_changed_identity_on_pkmsg_replaces_session_and_identity() -> None:
    alice, bob = await linked()
    _, ct = await alice.repo.encrypt_message(bob.jid, b"old alice")
    await bob.repo.decrypt_message(alice.jid, "pkmsg", ct)
    # alice reinstalls: new identity, same JID
    alice2 = make_party(alice.jid)
    await alice2.repo.inject_session(bob.jid, await bob.bundle())
    kind, ct2 = await alice2.repo.encrypt_message(bob.jid, b"new alice")
    assert kind == "pkmsg"
    assert await bob.repo.decrypt_message(alice.jid, "pkmsg", ct2) == b"new alice"
    stored = await bob.store.get("identity-key", ["15550001111.1"])
    assert stored["15550001111.1"] == alice2.local.identity.prefixed_public
    record = SessionRecord.deserialize(
        (await bob.store.get("session", ["15550001111.1"]))["15550001111.1"]
    )
    assert {s.remote_identity_key for s in record.sessions.values()} == {
        alice2.local.identity.prefixed_public
    }


async def test_unknown_enc_type_is_refused() -> None:
    alice, bob = await linked()
    with pytest.raises(InvalidMessageError):
        await bob.repo.decrypt_message(alice.jid, "skmsg", b"\x33")


# --- LID mapping -----------------------------------------------------------------------------


async def test_lid_mapping_rewrites_pn_addresses() -> None:
    alice = make_party("15550001111:1@s.whatsapp.net")
    bob = make_party("15550002222:3@s.whatsapp.net")
    await alice.repo.store_lid_mapping("88877766@lid", "15550002222@s.whatsapp.net")
    assert await alice.repo.lid_for_pn(bob.jid) == "88877766"
    assert await alice.repo.pn_for_lid("88877766:3@lid") == "15550002222"
    assert str(await alice.repo.address_of(bob.jid)) == "88877766_1.3"
    assert str(await alice.repo.address_of("15550009999:3@s.whatsapp.net")) == "15550009999.3"
    await alice.repo.inject_session(bob.jid, await bob.bundle())
    stored = await snapshot(alice.store, ["session", "identity-key"])
    assert set(stored["session"]) == {"88877766_1.3"}
    # the PN and the LID JID now name the same session
    assert await alice.repo.has_session("88877766:3@lid")
    kind, ct = await alice.repo.encrypt_message("88877766:3@lid", b"via lid")
    assert await bob.repo.decrypt_message(alice.jid, kind, ct) == b"via lid"
    _, reply = await bob.repo.encrypt_message(alice.jid, b"reply")
    assert await alice.repo.decrypt_message(bob.jid, "msg", reply) == b"reply"


async def test_mapping_needs_a_lid_and_a_pn() -> None:
    alice = make_party("15550001111:1@s.whatsapp.net")
    with pytest.raises(UsageError):
        await alice.repo.store_lid_mapping("1@s.whatsapp.net", "2@s.whatsapp.net")


async def test_migrate_session_moves_open_pn_sessions_to_lid() -> None:
    alice = make_party("15550001111:1@s.whatsapp.net")
    bobs = [make_party(f"15550002222:{d}@s.whatsapp.net") for d in (0, 3)]
    for bob in bobs:
        await alice.repo.inject_session(bob.jid, await bob.bundle())
    await alice.store.set({"device-list": {"15550002222": json.dumps(["0", "3", "5"]).encode()}})
    before = await snapshot(alice.store, ["session"])
    assert set(before["session"]) == {"15550002222.0", "15550002222.3"}
    await alice.repo.store_lid_mapping("88877766@lid", "15550002222@s.whatsapp.net")
    moved = await alice.repo.migrate_session("15550002222@s.whatsapp.net", "88877766@lid")
    assert moved == 2
    after = await snapshot(alice.store, ["session", "identity-key"])
    assert after["session"] == {
        "88877766_1.0": before["session"]["15550002222.0"],
        "88877766_1.3": before["session"]["15550002222.3"],
    }
    assert set(after["identity-key"]) >= {"88877766_1.0", "88877766_1.3"}
    kind, ct = await alice.repo.encrypt_message(bobs[1].jid, b"after migration")
    assert await bobs[1].repo.decrypt_message(alice.jid, kind, ct) == b"after migration"
    assert await alice.repo.migrate_session("15550002222@s.whatsapp.net", "88877766@lid") == 0


# --- groups ----------------------------------------------------------------------------------


async def test_group_messages_through_the_repository() -> None:
    alice = make_party("88800011:2@lid")
    bob = make_party("88800022:1@lid")
    ct, skdm = await alice.repo.encrypt_group_message(GROUP, alice.jid, b"hello group")
    assert not await bob.repo.has_sender_key(GROUP, alice.jid)
    await bob.repo.process_sender_key_distribution(GROUP, alice.jid, skdm)
    assert await bob.repo.has_sender_key(GROUP, alice.jid)
    assert await bob.repo.decrypt_group_message(GROUP, alice.jid, ct) == b"hello group"
    ct2, skdm2 = await alice.repo.encrypt_group_message(GROUP, alice.jid, b"again")
    assert skdm2 != skdm  # the chain moved on
    assert await alice.repo.sender_key_distribution(GROUP, alice.jid) != skdm2
    assert await bob.repo.decrypt_group_message(GROUP, alice.jid, ct2) == b"again"
    own = await alice.store.get("sender-key", [f"{GROUP}::88800011_1::2"])
    assert SenderKeyRecord.deserialize(own[f"{GROUP}::88800011_1::2"]).states[0].iteration == 2


async def test_sender_key_distribution_alone_makes_and_keeps_one_key() -> None:
    alice = make_party("88800011:2@lid")
    first = await alice.repo.sender_key_distribution(GROUP, alice.jid)
    assert await alice.repo.sender_key_distribution(GROUP, alice.jid) == first
    assert await alice.repo.has_sender_key(GROUP, alice.jid)


@pytest.mark.parametrize(
    "what", ["tampered signature", "replay", "truncated", "unknown sender", "wrong version"]
)
async def test_failed_group_decrypt_leaves_every_category_unchanged(what: str) -> None:
    alice = make_party("88800011:2@lid")
    bob = make_party("88800022:1@lid")
    ct, skdm = await alice.repo.encrypt_group_message(GROUP, alice.jid, b"one")
    await bob.repo.process_sender_key_distribution(GROUP, alice.jid, skdm)
    author = alice.jid
    error: type[Exception]
    if what == "replay":
        await bob.repo.decrypt_group_message(GROUP, alice.jid, ct)
        bad, error = ct, DuplicateMessageError
    elif what == "tampered signature":
        bad, error = ct[:-1] + bytes([ct[-1] ^ 1]), InvalidSignatureError
    elif what == "truncated":
        bad, error = ct[:40], InvalidMessageError
    elif what == "wrong version":
        bad, error = b"\x43" + ct[1:], InvalidVersionError
    else:
        bad, error, author = ct, NoSessionError, "88800099:1@lid"
    before = await snapshot(bob.store)
    with pytest.raises(error):
        await bob.repo.decrypt_group_message(GROUP, author, bad)
    assert await snapshot(bob.store) == before


async def test_repeated_distribution_message_writes_nothing() -> None:
    alice = make_party("88800011:2@lid")
    bob = make_party("88800022:1@lid")
    _, skdm = await alice.repo.encrypt_group_message(GROUP, alice.jid, b"one")
    await bob.repo.process_sender_key_distribution(GROUP, alice.jid, skdm)
    commits = bob.store.commits
    await bob.repo.process_sender_key_distribution(GROUP, alice.jid, skdm)
    assert bob.store.commits == commits


# --- concurrency: one transaction per operation means no lost updates ---------------------------


async def test_concurrent_group_encrypts_never_reuse_an_iteration() -> None:
    alice = make_party("88800011:2@lid")
    bob = make_party("88800022:1@lid")
    results = await asyncio.gather(
        *(alice.repo.encrypt_group_message(GROUP, alice.jid, b"m%d" % i) for i in range(40))
    )
    iterations = sorted(SenderKeyMessage.parse(ct).iteration for ct, _ in results)
    assert iterations == list(range(40))
    await bob.repo.process_sender_key_distribution(GROUP, alice.jid, results[0][1])
    got = await asyncio.gather(
        *(bob.repo.decrypt_group_message(GROUP, alice.jid, ct) for ct, _ in results)
    )
    assert sorted(got) == sorted(b"m%d" % i for i in range(40))
    record = SenderKeyRecord.deserialize(
        (await bob.store.get("sender-key", [f"{GROUP}::88800011_1::2"]))[f"{GROUP}::88800011_1::2"]
    )
    assert record.states[0].iteration == 40
    assert not record.states[0].message_keys


async def test_concurrent_pn_and_lid_callers_share_one_session_lock() -> None:
    alice = make_party("15550001111:1@s.whatsapp.net")
    bob = make_party("15550002222:3@s.whatsapp.net")
    await alice.repo.store_lid_mapping("88877766@lid", "15550002222@s.whatsapp.net")
    await alice.repo.inject_session(bob.jid, await bob.bundle())
    kind, first = await alice.repo.encrypt_message(bob.jid, b"first")
    await bob.repo.decrypt_message(alice.jid, kind, first)
    _, reply = await bob.repo.encrypt_message(alice.jid, b"reply")
    await alice.repo.decrypt_message(bob.jid, "msg", reply)
    jids = [bob.jid, "88877766:3@lid"] * 15
    sent = await asyncio.gather(
        *(alice.repo.encrypt_message(jid, b"c%d" % i) for i, jid in enumerate(jids))
    )
    for i, (kind, ct) in enumerate(sent):
        assert kind == "msg"
        assert await bob.repo.decrypt_message(alice.jid, kind, ct) == b"c%d" % i


async def test_migration_keeps_a_live_lid_session_and_drops_the_pn_copy() -> None:
    alice = make_party("15550001111:1@s.whatsapp.net")
    bob = make_party("15550002222:3@s.whatsapp.net")
    await alice.repo.inject_session(bob.jid, await bob.bundle())  # PN session
    await alice.repo.store_lid_mapping("88877766@lid", "15550002222@s.whatsapp.net")
    await alice.repo.inject_session("88877766:3@lid", await bob.bundle())  # LID session
    live = (await alice.store.get("session", ["88877766_1.3"]))["88877766_1.3"]
    moved = await alice.repo.migrate_session(bob.jid, "88877766@lid")
    assert moved == 0
    after = await snapshot(alice.store, ["session"])
    assert after["session"] == {"88877766_1.3": live}


async def test_storing_a_known_mapping_again_commits_nothing() -> None:
    alice = make_party("15550001111:1@s.whatsapp.net")
    await alice.repo.store_lid_mapping("88877766@lid", "15550002222@s.whatsapp.net")
    commits = alice.store.commits
    await alice.repo.store_lid_mapping("88877766:4@lid", "15550002222:4@s.whatsapp.net")
    assert alice.store.commits == commits
    await alice.repo.store_lid_mapping("99999999@lid", "15550002222@s.whatsapp.net")
    assert alice.store.commits == commits + 1
    assert await alice.repo.lid_for_pn("15550002222@s.whatsapp.net") == "99999999"


async def test_cancelled_decrypt_leaves_nothing_behind() -> None:
    class SlowBackend(FlakyBackend):
        def __init__(self) -> None:
            super().__init__()
            self.block = asyncio.Event()
            self.blocking = False

        async def read(self, category: str, ids: Sequence[str]) -> dict[str, bytes]:
            if self.blocking and category == "session":
                await self.block.wait()
            return await super().read(category, ids)

    backend = SlowBackend()
    alice = make_party("15550001111:1@s.whatsapp.net")
    bob = make_party("15550002222:3@s.whatsapp.net", memory_store(backend))
    await alice.repo.inject_session(bob.jid, await bob.bundle())
    _, ct = await alice.repo.encrypt_message(bob.jid, b"cancel me")
    before = await snapshot(bob.store)
    backend.blocking = True
    task = asyncio.create_task(bob.repo.decrypt_message(alice.jid, "pkmsg", ct))
    await asyncio.sleep(0.01)
    assert not task.done()  # parked inside its transaction, loading the session
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    backend.blocking = False
    assert await snapshot(bob.store) == before
    assert await bob.repo.decrypt_message(alice.jid, "pkmsg", ct) == b"cancel me"


async def test_delete_sessions_forgets_exactly_the_named_devices() -> None:
    alice = make_party("15550001111:1@s.whatsapp.net")
    bobs = [make_party(f"15550002222:{d}@s.whatsapp.net") for d in (0, 3)]
    carol = make_party("15550003333:0@s.whatsapp.net")
    for peer in [*bobs, carol]:
        await alice.repo.inject_session(peer.jid, await peer.bundle())
    await alice.store.set({"device-list": {"15550002222": json.dumps(["0", "3"]).encode()}})
    await alice.repo.store_lid_mapping("88877766@lid", "15550002222@s.whatsapp.net")
    assert await alice.repo.migrate_session("15550002222@s.whatsapp.net", "88877766@lid") == 2
    # bob:3 named by its PN JID: deleted under the LID address the mapping gives it
    await alice.repo.delete_sessions([bobs[1].jid, carol.jid])
    assert await alice.repo.has_session(bobs[0].jid)
    assert not await alice.repo.has_session(bobs[1].jid)
    assert not await alice.repo.has_session(carol.jid)
    left = await snapshot(alice.store, ["session"])
    assert set(left["session"]) == {"88877766_1.0"}
    with pytest.raises(NoSessionError):
        await alice.repo.encrypt_message(carol.jid, b"gone")
    await alice.repo.delete_sessions([])  # nothing named: nothing changes
    assert await alice.repo.has_session(bobs[0].jid)
