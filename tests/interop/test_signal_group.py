"""Sender keys against Baileys: every skmsg either side makes, the other decrypts.

Baileys runs its own group cipher through ``makeLibSignalRepository`` (ops in
``ops/signal_group.mjs``); our side is :mod:`wamd.signal.group` over
:class:`SenderKeyRecord` values.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Oracle, OracleError
from wamd.signal.address import ProtocolAddress, SenderKeyName
from wamd.signal.group import (
    create_distribution_message,
    group_decrypt,
    group_encrypt,
    process_distribution_message,
)
from wamd.signal.sender_key_message import SenderKeyMessage
from wamd.signal.sender_key_record import SenderKeyRecord

pytestmark = pytest.mark.interop

GROUP = "120363000000000000@g.us"


def new_party(oracle: Oracle) -> int:
    return int(oracle.call("sg_party_new")["party"])


class PySender:
    """Our side of one sender: its own record."""

    def __init__(self, jid: str) -> None:
        self.jid = jid
        self.record = SenderKeyRecord()

    def encrypt(self, data: bytes) -> tuple[bytes, bytes]:
        skdm = create_distribution_message(self.record).serialize()
        return group_encrypt(self.record, data), skdm


# --- addresses ---------------------------------------------------------------------------


ADDRESS_JIDS = [
    "15551234567@s.whatsapp.net",
    "15551234567:12@s.whatsapp.net",
    "987654321@lid",
    "987654321:3@lid",
    "5551:99@hosted",
    "5551:99@hosted.lid",
    "5551:7@hosted.lid",
    "15551234567@c.us",
]


@pytest.mark.parametrize("jid", ADDRESS_JIDS)
def test_addresses_and_sender_key_names_match_baileys(oracle: Oracle, jid: str) -> None:
    assert str(ProtocolAddress.from_jid(jid)) == oracle.call("sg_address", jid=jid)
    assert str(SenderKeyName.from_jids(GROUP, jid)) == oracle.call(
        "sg_sender_key_name", group=GROUP, author=jid
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    user=st.from_regex(r"[1-9][0-9]{0,14}", fullmatch=True),
    device=st.integers(min_value=0, max_value=98),
    server=st.sampled_from(["s.whatsapp.net", "lid", "hosted", "hosted.lid"]),
)
def test_generated_addresses_match_baileys(
    oracle: Oracle, user: str, device: int, server: str
) -> None:
    jid = f"{user}:{device}@{server}" if device else f"{user}@{server}"
    assert str(ProtocolAddress.from_jid(jid)) == oracle.call("sg_address", jid=jid)


# --- one sender, one receiver --------------------------------------------------------------


def test_baileys_sender_to_python_receiver_in_and_out_of_order(oracle: Oracle) -> None:
    alice = new_party(oracle)
    me = "15550001111:2@s.whatsapp.net"
    receiver = SenderKeyRecord()
    sent = []
    for i in range(12):
        r = oracle.call("sg_group_encrypt", party=alice, group=GROUP, me=me, data=f"m{i}".encode())
        if i == 0:
            assert process_distribution_message(receiver, r["skdm"])
        sent.append((i, r["ciphertext"]))
    # Baileys skips every other iteration on send: 0, 2, 4, ...
    assert [SenderKeyMessage.parse(ct).iteration for _, ct in sent[:4]] == [0, 2, 4, 6]
    order = sent[:3] + list(reversed(sent[3:]))
    for i, ct in order:
        assert group_decrypt(receiver, ct) == f"m{i}".encode()


def test_python_sender_to_baileys_receiver_with_gaps(oracle: Oracle) -> None:
    bob = new_party(oracle)
    sender = PySender("987654321:4@lid")
    sent = []
    for i in range(12):
        ct, skdm = sender.encrypt(f"p{i}".encode())
        if i == 0:
            oracle.call(
                "sg_group_process_skdm", party=bob, group=GROUP, author=sender.jid, skdm=skdm
            )
        sent.append((i, ct))
    assert [SenderKeyMessage.parse(ct).iteration for _, ct in sent[:4]] == [0, 1, 2, 3]
    for i, ct in sent:
        if i in (1, 4, 5, 9):
            continue  # lost on the way: Baileys jumps over them
        got = oracle.call(
            "sg_group_decrypt", party=bob, group=GROUP, author=sender.jid, ciphertext=ct
        )
        assert got == f"p{i}".encode()


@pytest.mark.parametrize("python_sender", [False, True])
def test_baileys_cannot_use_a_stored_skipped_key(oracle: Oracle, python_sender: bool) -> None:
    """Pins a Baileys bug, whoever the sender: a late message fails once its key was stored.

    Baileys stores skipped keys as ``Buffer.toJSON()`` objects and its reviver only turns
    base64 buffers back into Buffers, so libsignal's HKDF gets a plain object. That is why
    the cross-tests deliver to Baileys in order per sender (with gaps). We decrypt such
    late messages (see the tests above and the unit tests).
    """
    bob = new_party(oracle)
    me = "15550003333:1@s.whatsapp.net"
    py_sender, alice = PySender(me), new_party(oracle)
    cts, skdms = [], []
    for _ in range(3):
        if python_sender:
            ct, skdm = py_sender.encrypt(b"x")
        else:
            r = oracle.call("sg_group_encrypt", party=alice, group=GROUP, me=me, data=b"x")
            ct, skdm = r["ciphertext"], r["skdm"]
        cts.append(ct)
        skdms.append(skdm)
    oracle.call("sg_group_process_skdm", party=bob, group=GROUP, author=me, skdm=skdms[0])
    oracle.call("sg_group_decrypt", party=bob, group=GROUP, author=me, ciphertext=cts[2])
    with pytest.raises(OracleError, match="Expected Buffer"):
        oracle.call("sg_group_decrypt", party=bob, group=GROUP, author=me, ciphertext=cts[1])


# --- many senders, many receivers, random schedules ------------------------------------------


def in_order_per_sender(
    deliveries: list[tuple[str, bytes, bytes]],
) -> list[tuple[str, bytes, bytes]]:
    """Keep the random interleaving of senders but each sender's messages in send order.

    Baileys cannot decrypt a message whose key it stored as skipped (see
    test_baileys_cannot_use_a_stored_skipped_key), so its receivers get no late messages.
    """
    by_sender: dict[str, list[tuple[str, bytes, bytes]]] = {}
    for d in deliveries:
        by_sender.setdefault(d[0], []).append(d)
    for items in by_sender.values():
        items.sort(key=lambda d: SenderKeyMessage.parse(d[1]).iteration)
    return [by_sender[d[0]].pop(0) for d in deliveries]


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    n_py=st.integers(min_value=1, max_value=2),
    n_js=st.integers(min_value=1, max_value=2),
    n_messages=st.integers(min_value=5, max_value=30),
)
def test_random_group_schedules_decrypt_everywhere(
    oracle: Oracle, seed: int, n_py: int, n_js: int, n_messages: int
) -> None:
    rnd = random.Random(seed)
    members: list[dict[str, Any]] = []
    for i in range(n_py):
        members.append({"kind": "py", "jid": f"1000{i}:{i + 1}@lid", "sender": None, "recv": {}})
    for i in range(n_js):
        members.append(
            {"kind": "js", "jid": f"2000{i}:{i + 1}@s.whatsapp.net", "party": new_party(oracle)}
        )
    for m in members:
        if m["kind"] == "py":
            m["sender"] = PySender(m["jid"])
    # every member sends; every other member is a receiver
    outbox: dict[str, list[tuple[bytes, bytes]]] = {m["jid"]: [] for m in members}
    skdms: dict[str, bytes] = {}
    for k in range(n_messages):
        author = rnd.choice(members)
        text = f"{author['jid']}#{k}".encode()
        if author["kind"] == "py":
            ct, skdm = author["sender"].encrypt(text)
        else:
            r = oracle.call(
                "sg_group_encrypt", party=author["party"], group=GROUP, me=author["jid"], data=text
            )
            ct, skdm = r["ciphertext"], r["skdm"]
        skdms.setdefault(author["jid"], skdm)
        outbox[author["jid"]].append((ct, text))
    for receiver in members:
        deliveries = [
            (jid, ct, text)
            for jid, items in outbox.items()
            if jid != receiver["jid"]
            for ct, text in items
            if rnd.random() > 0.15  # some messages never arrive
        ]
        rnd.shuffle(deliveries)
        if receiver["kind"] == "js":
            deliveries = in_order_per_sender(deliveries)
        for jid in {d[0] for d in deliveries}:
            if receiver["kind"] == "py":
                process_distribution_message(
                    receiver["recv"].setdefault(jid, SenderKeyRecord()), skdms[jid]
                )
            else:
                oracle.call(
                    "sg_group_process_skdm",
                    party=receiver["party"],
                    group=GROUP,
                    author=jid,
                    skdm=skdms[jid],
                )
        for jid, ct, text in deliveries:
            if receiver["kind"] == "py":
                # stored and loaded between messages, in either form, as a store would
                record = receiver["recv"][jid]
                if rnd.random() < 0.5:
                    record = SenderKeyRecord.from_baileys_bytes(record.to_baileys_bytes())
                else:
                    record = SenderKeyRecord.deserialize(record.serialize())
                got = group_decrypt(record, ct)
                receiver["recv"][jid] = record
            else:
                got = oracle.call(
                    "sg_group_decrypt",
                    party=receiver["party"],
                    group=GROUP,
                    author=jid,
                    ciphertext=ct,
                )
            assert got == text
    for m in members:
        if m["kind"] == "js":
            oracle.call("sg_party_drop", party=m["party"])


# --- records Baileys wrote load here, and ours load there ---------------------------------------


def test_baileys_receiver_record_loads_byte_identically_and_continues(oracle: Oracle) -> None:
    alice, bob = new_party(oracle), new_party(oracle)
    me = "15550001111:2@s.whatsapp.net"
    name = str(SenderKeyName.from_jids(GROUP, me))
    cts = []
    for i in range(6):
        r = oracle.call("sg_group_encrypt", party=alice, group=GROUP, me=me, data=f"r{i}".encode())
        if i == 0:
            oracle.call("sg_group_process_skdm", party=bob, group=GROUP, author=me, skdm=r["skdm"])
        cts.append(r["ciphertext"])
    # bob decrypts 0 and 3 only: his record then holds skipped keys
    for i in (0, 3):
        oracle.call("sg_group_decrypt", party=bob, group=GROUP, author=me, ciphertext=cts[i])
    blob = oracle.call("sg_sender_key_export", party=bob, name=name)
    record = SenderKeyRecord.from_baileys_bytes(blob)
    assert record.to_baileys_bytes() == blob
    assert SenderKeyRecord.deserialize(record.serialize()).to_baileys_bytes() == blob
    assert record.states[0].message_keys  # skipped iterations came along
    # we continue where bob left off, out of order
    for i in (5, 1, 4, 2):
        assert group_decrypt(record, cts[i]) == f"r{i}".encode()
    # and bob continues from our record written back
    r = oracle.call("sg_group_encrypt", party=alice, group=GROUP, me=me, data=b"after")
    oracle.call("sg_sender_key_import", party=bob, name=name, data=record.to_baileys_bytes())
    assert (
        oracle.call(
            "sg_group_decrypt", party=bob, group=GROUP, author=me, ciphertext=r["ciphertext"]
        )
        == b"after"
    )


def test_baileys_own_sender_record_continues_in_python_and_back(oracle: Oracle) -> None:
    alice, bob = new_party(oracle), new_party(oracle)
    me = "15550001111:2@s.whatsapp.net"
    name = str(SenderKeyName.from_jids(GROUP, me))
    r = oracle.call("sg_group_encrypt", party=alice, group=GROUP, me=me, data=b"first")
    oracle.call("sg_group_process_skdm", party=bob, group=GROUP, author=me, skdm=r["skdm"])
    assert (
        oracle.call(
            "sg_group_decrypt", party=bob, group=GROUP, author=me, ciphertext=r["ciphertext"]
        )
        == b"first"
    )
    blob = oracle.call("sg_sender_key_export", party=alice, name=name)
    own = SenderKeyRecord.from_baileys_bytes(blob)
    assert own.to_baileys_bytes() == blob
    assert own.states[0].has_private
    # we send as alice with her stored key; bob (Baileys) decrypts
    for i in range(3):
        ct = group_encrypt(own, f"py{i}".encode())
        assert (
            oracle.call("sg_group_decrypt", party=bob, group=GROUP, author=me, ciphertext=ct)
            == f"py{i}".encode()
        )
    # hand the record back to alice's Baileys store: she goes on sending
    oracle.call("sg_sender_key_import", party=alice, name=name, data=own.to_baileys_bytes())
    r = oracle.call("sg_group_encrypt", party=alice, group=GROUP, me=me, data=b"back in js")
    assert (
        oracle.call(
            "sg_group_decrypt", party=bob, group=GROUP, author=me, ciphertext=r["ciphertext"]
        )
        == b"back in js"
    )
    assert (
        json.loads(oracle.call("sg_sender_key_export", party=alice, name=name))[0]["senderKeyId"]
        == own.states[0].key_id
    )


def test_python_own_sender_record_runs_in_baileys(oracle: Oracle) -> None:
    alice, bob = new_party(oracle), new_party(oracle)
    me = "987654321:4@lid"
    name = str(SenderKeyName.from_jids(GROUP, me))
    sender = PySender(me)
    ct, skdm = sender.encrypt(b"from python")
    oracle.call("sg_group_process_skdm", party=bob, group=GROUP, author=me, skdm=skdm)
    assert (
        oracle.call("sg_group_decrypt", party=bob, group=GROUP, author=me, ciphertext=ct)
        == b"from python"
    )
    # alice (Baileys) takes over our sender key and keeps sending on it
    oracle.call(
        "sg_sender_key_import", party=alice, name=name, data=sender.record.to_baileys_bytes()
    )
    r = oracle.call("sg_group_encrypt", party=alice, group=GROUP, me=me, data=b"from baileys")
    assert (
        oracle.call(
            "sg_group_decrypt", party=bob, group=GROUP, author=me, ciphertext=r["ciphertext"]
        )
        == b"from baileys"
    )
    # the record she stored reads back here and goes on
    back = SenderKeyRecord.from_baileys_bytes(
        oracle.call("sg_sender_key_export", party=alice, name=name)
    )
    assert back.states[0].key_id == sender.record.states[0].key_id
    ct = group_encrypt(back, b"python again")
    assert (
        oracle.call("sg_group_decrypt", party=bob, group=GROUP, author=me, ciphertext=ct)
        == b"python again"
    )


def test_baileys_record_with_a_repeated_distribution_loads_and_behaves_alike(
    oracle: Oracle,
) -> None:
    """Baileys appends a state per SKDM even when it knows the key; such records load."""
    alice, bob = new_party(oracle), new_party(oracle)
    me = "15550008888:1@s.whatsapp.net"
    name = str(SenderKeyName.from_jids(GROUP, me))
    r0 = oracle.call("sg_group_encrypt", party=alice, group=GROUP, me=me, data=b"a")
    r1 = oracle.call("sg_group_encrypt", party=alice, group=GROUP, me=me, data=b"b")
    for skdm in (r0["skdm"], r1["skdm"]):
        oracle.call("sg_group_process_skdm", party=bob, group=GROUP, author=me, skdm=skdm)
    blob = oracle.call("sg_sender_key_export", party=bob, name=name)
    record = SenderKeyRecord.from_baileys_bytes(blob)
    assert len(record.states) == 2
    assert record.states[0].key_id == record.states[1].key_id
    assert record.to_baileys_bytes() == blob
    assert not process_distribution_message(record, r1["skdm"])  # we don't add a third
    # both sides use the first (oldest) state for the key id
    assert group_decrypt(record, r0["ciphertext"]) == b"a"
    assert group_decrypt(record, r1["ciphertext"]) == b"b"
    got = [
        oracle.call(
            "sg_group_decrypt", party=bob, group=GROUP, author=me, ciphertext=r["ciphertext"]
        )
        for r in (r0, r1)
    ]
    assert got == [b"a", b"b"]
    assert (
        SenderKeyRecord.from_baileys_bytes(
            oracle.call("sg_sender_key_export", party=bob, name=name)
        ).to_baileys_json()
        == record.to_baileys_json()
    )


def _skip(record: SenderKeyRecord, steps: int) -> None:
    """Advance our own sender chain without sending (messages lost on the way)."""
    import hmac

    state = record.states[-1]
    for _ in range(steps):
        state.chain_key = hmac.digest(state.chain_key, b"\x02", "sha256")
    state.iteration += steps


def test_receiver_state_matches_baileys_after_every_message(oracle: Oracle) -> None:
    """Same messages in, same record out: skipped keys, their order and the 2,000 cap."""
    bob = new_party(oracle)
    sender = PySender("77711122:9@lid")
    name = str(SenderKeyName.from_jids(GROUP, sender.jid))
    ours = SenderKeyRecord()
    skdm = create_distribution_message(sender.record).serialize()
    process_distribution_message(ours, skdm)
    oracle.call("sg_group_process_skdm", party=bob, group=GROUP, author=sender.jid, skdm=skdm)
    for gap in (0, 2, 0, 1500, 1599, 0, 3):
        _skip(sender.record, gap)
        ct = group_encrypt(sender.record, b"payload")
        assert group_decrypt(ours, ct) == b"payload"
        got = oracle.call(
            "sg_group_decrypt", party=bob, group=GROUP, author=sender.jid, ciphertext=ct
        )
        assert got == b"payload"
        theirs = oracle.call("sg_sender_key_export", party=bob, name=name)
        assert ours.to_baileys_bytes() == theirs
    assert len(ours.states[0].message_keys) == 2000
