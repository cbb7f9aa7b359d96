"""SignalRepository against Baileys' makeLibSignalRepository: the two façades talk.

Our side runs on the auth package's transactional in-memory key store; Baileys' side is a
party of ``ops/signal_group.mjs``.
"""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Oracle
from tests.unit.signal.memstore import memory_store, snapshot
from wamd.signal.keys import (
    PreKeyBundle,
    generate_identity_key_pair,
    generate_pre_keys,
    generate_registration_id,
    generate_signed_pre_key,
)
from wamd.signal.repository import LocalIdentity, SignalRepository

pytestmark = pytest.mark.interop

GROUP = "120363999999999999@g.us"
_clock = itertools.count(1_700_000_000_000, 1000)


class PyParty:
    def __init__(self, jid: str) -> None:
        self.jid = jid
        identity = generate_identity_key_pair()
        self.local = LocalIdentity(
            identity, generate_registration_id(), generate_signed_pre_key(identity, 1)
        )
        self.store = memory_store()
        self.repo = SignalRepository(self.store, self.local, now_ms=lambda: next(_clock))
        self.next_pre_key = 1

    async def bundle(self) -> dict[str, object]:
        pre_key = generate_pre_keys(self.next_pre_key, 1)[0]
        self.next_pre_key += 1
        await self.store.set(
            {"pre-key": {str(pre_key.key_id): pre_key.key_pair.private + pre_key.key_pair.public}}
        )
        b = PreKeyBundle.of(
            self.local.registration_id, self.local.identity, self.local.signed_pre_key, pre_key
        )
        return {
            "registrationId": b.registration_id,
            "identityKey": b.identity_key,
            "signedPreKey": {
                "keyId": b.signed_pre_key_id,
                "publicKey": b.signed_pre_key_public,
                "signature": b.signed_pre_key_signature,
            },
            "preKey": {"keyId": b.pre_key_id, "publicKey": b.pre_key_public},
        }


def js_bundle(oracle: Oracle, party: int) -> PreKeyBundle:
    b = oracle.call("sg_bundle", party=party)
    return PreKeyBundle(
        b["registrationId"],
        b["identityKey"],
        b["signedPreKey"]["keyId"],
        b["signedPreKey"]["publicKey"],
        b["signedPreKey"]["signature"],
        b["preKey"]["keyId"],
        b["preKey"]["publicKey"],
    )


async def test_python_starts_pkmsg_then_msg_both_ways(oracle: Oracle) -> None:
    py = PyParty("15550001111:1@s.whatsapp.net")
    js = oracle.call("sg_party_new")["party"]
    js_jid = "15550002222:4@s.whatsapp.net"
    await py.repo.inject_session(js_jid, js_bundle(oracle, js))
    for i in range(2):
        kind, ct = await py.repo.encrypt_message(js_jid, f"py{i}".encode())
        assert kind == "pkmsg"
        got = oracle.call("sg_decrypt", party=js, jid=py.jid, type=kind, ciphertext=ct)
        assert got == f"py{i}".encode()
    r = oracle.call("sg_encrypt", party=js, jid=py.jid, data=b"js reply")
    assert r["type"] == "msg"
    assert await py.repo.decrypt_message(js_jid, r["type"], r["ciphertext"]) == b"js reply"
    kind, ct = await py.repo.encrypt_message(js_jid, b"now a msg")
    assert kind == "msg"
    assert oracle.call("sg_decrypt", party=js, jid=py.jid, type=kind, ciphertext=ct) == b"now a msg"


async def test_baileys_starts_and_python_consumes_its_pre_key(oracle: Oracle) -> None:
    py = PyParty("88877766:2@lid")
    js = oracle.call("sg_party_new")["party"]
    js_jid = "15550003333:1@s.whatsapp.net"
    oracle.call("sg_inject", party=js, jid=py.jid, bundle=await py.bundle())
    r = oracle.call("sg_encrypt", party=js, jid=py.jid, data=b"hello python")
    assert r["type"] == "pkmsg"
    assert "1" in await py.store.get("pre-key", ["1"])
    assert await py.repo.decrypt_message(js_jid, "pkmsg", r["ciphertext"]) == b"hello python"
    state = await snapshot(py.store)
    assert "1" not in state["pre-key"]
    assert set(state["session"]) == {"15550003333.1"}
    kind, ct = await py.repo.encrypt_message(js_jid, b"hello baileys")
    assert kind == "msg"
    assert (
        oracle.call("sg_decrypt", party=js, jid=py.jid, type=kind, ciphertext=ct)
        == b"hello baileys"
    )
    r = oracle.call("sg_encrypt", party=js, jid=py.jid, data=b"msg now")
    assert r["type"] == "msg"
    assert await py.repo.decrypt_message(js_jid, "msg", r["ciphertext"]) == b"msg now"


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    runs=st.lists(
        st.tuples(st.booleans(), st.integers(min_value=1, max_value=5)), min_size=1, max_size=8
    ),
    python_first=st.booleans(),
)
def test_random_conversations_through_both_facades(
    oracle: Oracle, seed: int, runs: list[tuple[bool, int]], python_first: bool
) -> None:
    import asyncio

    asyncio.run(_conversation(oracle, random.Random(seed), runs, python_first))


async def _conversation(
    oracle: Oracle, rnd: random.Random, runs: list[tuple[bool, int]], python_first: bool
) -> None:
    py = PyParty("15550004444:2@s.whatsapp.net")
    js = oracle.call("sg_party_new")["party"]
    js_jid = "15550005555:7@s.whatsapp.net"
    if python_first:
        await py.repo.inject_session(js_jid, js_bundle(oracle, js))
        runs = [(True, 1), *runs]
    else:
        oracle.call("sg_inject", party=js, jid=py.jid, bundle=await py.bundle())
        runs = [(False, 1), *runs]
    k = 0
    for from_python, count in runs:
        batch = []
        for _ in range(count):
            text = f"m{k}".encode()
            k += 1
            if from_python:
                kind, ct = await py.repo.encrypt_message(js_jid, text)
            else:
                r = oracle.call("sg_encrypt", party=js, jid=py.jid, data=text)
                kind, ct = r["type"], r["ciphertext"]
            batch.append((kind, ct, text))
        # within a run, delivery order is random (the first pkmsg of a session goes first)
        head, tail = batch[:1], batch[1:]
        rnd.shuffle(tail)
        for kind, ct, text in head + tail:
            if from_python:
                got = oracle.call("sg_decrypt", party=js, jid=py.jid, type=kind, ciphertext=ct)
            else:
                got = await py.repo.decrypt_message(js_jid, kind, ct)
            assert got == text
    oracle.call("sg_party_drop", party=js)


async def test_lid_mapped_session_talks_to_baileys(oracle: Oracle) -> None:
    py = PyParty("15550006666:1@s.whatsapp.net")
    js = oracle.call("sg_party_new")["party"]
    pn_jid, lid_jid = "15550007777:3@s.whatsapp.net", "44455566:3@lid"
    await py.repo.store_lid_mapping("44455566@lid", "15550007777@s.whatsapp.net")
    await py.repo.inject_session(pn_jid, js_bundle(oracle, js))
    assert set((await snapshot(py.store, ["session"]))["session"]) == {"44455566_1.3"}
    kind, ct = await py.repo.encrypt_message(pn_jid, b"to pn")
    assert oracle.call("sg_decrypt", party=js, jid=py.jid, type=kind, ciphertext=ct) == b"to pn"
    r = oracle.call("sg_encrypt", party=js, jid=py.jid, data=b"from lid")
    assert await py.repo.decrypt_message(lid_jid, r["type"], r["ciphertext"]) == b"from lid"
    kind, ct = await py.repo.encrypt_message(lid_jid, b"to lid")
    assert kind == "msg"
    assert oracle.call("sg_decrypt", party=js, jid=py.jid, type=kind, ciphertext=ct) == b"to lid"


async def test_group_through_both_facades(oracle: Oracle) -> None:
    pys = [PyParty(f"7770000{i}:1@lid") for i in range(2)]
    jss = [(oracle.call("sg_party_new")["party"], f"7780000{i}:2@lid") for i in range(2)]
    skdms: dict[str, bytes] = {}
    sent: list[tuple[str, bytes, bytes]] = []
    for round_ in range(3):
        for py in pys:
            text = f"{py.jid} r{round_}".encode()
            ct, skdm = await py.repo.encrypt_group_message(GROUP, py.jid, text)
            skdms.setdefault(py.jid, skdm)
            sent.append((py.jid, ct, text))
        for party, jid in jss:
            text = f"{jid} r{round_}".encode()
            r = oracle.call("sg_group_encrypt", party=party, group=GROUP, me=jid, data=text)
            skdms.setdefault(jid, r["skdm"])
            sent.append((jid, r["ciphertext"], text))
    for py in pys:
        for author, skdm in skdms.items():
            if author != py.jid:
                await py.repo.process_sender_key_distribution(GROUP, author, skdm)
        for author, ct, text in sent:
            if author != py.jid:
                assert await py.repo.decrypt_group_message(GROUP, author, ct) == text
    for party, jid in jss:
        for author, skdm in skdms.items():
            if author != jid:
                oracle.call(
                    "sg_group_process_skdm", party=party, group=GROUP, author=author, skdm=skdm
                )
        for author, ct, text in sent:
            if author != jid:
                got = oracle.call(
                    "sg_group_decrypt", party=party, group=GROUP, author=author, ciphertext=ct
                )
                assert got == text
