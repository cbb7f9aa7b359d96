"""The message layer against Baileys: acks, ids, and stanzas that each side decrypts.

Baileys' side is a party of ``ops/signal.mjs`` (``makeLibSignalRepository`` over an
in-memory store) driven by ``ops/messages.mjs``. Stanzas cross as WABinary bytes: ours
are encoded by :mod:`wamd.binary` and decoded by Baileys, and the other way round.
"""

from __future__ import annotations

import asyncio
import os
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import Oracle
from tests.unit.messages.accounts import Account, deliver
from wamd._proto.message_pb2 import Message
from wamd.binary import Node, decode_node, encode_node
from wamd.messages import (
    build_ack,
    build_direct_message,
    build_group_message,
    build_peer_message,
    build_retry_receipt,
    device_jids,
    generate_message_id,
    lid_mappings,
    parse_device_reply,
    parse_key_fetch_reply,
    text_message,
)
from wamd.messages.receipt import RetryKeys
from wamd.messages.retry import take_pre_key
from wamd.signal.keys import PreKeyBundle

pytestmark = pytest.mark.interop

GROUP = "120363095440186860@g.us"
T = 1_795_440_144

# --- acks (the cases of Baileys' stanza-ack tests, and more) ------------------------------

ACK_CASES: list[tuple[dict[str, Any], int | None, str | None]] = [
    ({"tag": "message", "attrs": {"id": "msg-001", "from": "user@s.whatsapp.net"}}, None, None),
    (
        {
            "tag": "receipt",
            "attrs": {
                "id": "rcpt-001",
                "from": "group@g.us",
                "participant": "sender@s.whatsapp.net",
                "recipient": "me@s.whatsapp.net",
                "type": "read",
            },
        },
        None,
        None,
    ),
    ({"tag": "message", "attrs": {"id": "msg-001", "from": "user@s.whatsapp.net"}}, 500, None),
    (
        {
            "tag": "message",
            "attrs": {"id": "msg-001", "from": "user@s.whatsapp.net", "type": "text"},
        },
        None,
        "me@s.whatsapp.net",
    ),
    (
        {
            "tag": "notification",
            "attrs": {"id": "n-1", "from": "user@s.whatsapp.net", "type": "encrypt"},
        },
        None,
        "me@s.whatsapp.net",
    ),
    (
        {
            "tag": "message",
            "attrs": {
                "id": "3EB0F7",
                "from": "120363095440186860@g.us",
                "participant": "100015550001111:1@lid",
                "participant_pn": "15550001111@s.whatsapp.net",
                "type": "text",
                "t": "1",
                "notify": "Alice",
            },
        },
        487,
        "15550002222:1@s.whatsapp.net",
    ),
    (
        {"tag": "call", "attrs": {"id": "c1", "from": "1@s.whatsapp.net", "type": ""}},
        None,
        "m@s.whatsapp.net",
    ),
    (
        {"tag": "receipt", "attrs": {"id": "r", "from": "1:2@lid", "type": "retry"}},
        495,
        "m@s.whatsapp.net",
    ),
]


@pytest.mark.parametrize(("node", "error", "me"), ACK_CASES)
def test_ack_matches_baileys(
    oracle: Oracle, node: dict[str, Any], error: int | None, me: str | None
) -> None:
    theirs = oracle.call("msg_build_ack", node=node, error=error, me=me)
    ours = build_ack(Node(node["tag"], dict(node["attrs"])), me, error=error)
    assert ours.tag == theirs["tag"] == "ack"
    assert list(ours.attrs.items()) == list(theirs["attrs"].items())


@pytest.mark.parametrize(
    ("me", "now_s"),
    [
        ("15550001111:3@s.whatsapp.net", 1_700_000_000),
        ("100015550001111:3@lid", 1_795_440_144),
        ("123456789012345678@s.whatsapp.net", 1),  # user + "@c.us" longer than 20 bytes
        (None, 0),
    ],
)
def test_message_id_matches_baileys(oracle: Oracle, me: str | None, now_s: int) -> None:
    rand = os.urandom(16)
    theirs = oracle.call("msg_message_id", me=me, now_s=now_s, random=rand)
    assert generate_message_id(me, now_s=now_s, random=rand) == theirs


# --- Baileys parties -------------------------------------------------------------------------


def js_party(oracle: Oracle) -> int:
    return int(oracle.call("party_new")["party"])


def js_bundle(oracle: Oracle, party: int) -> PreKeyBundle:
    b = oracle.call("party_bundle", party=party)
    return PreKeyBundle(
        b["registrationId"],
        b["identityKey"],
        b["signedPreKey"]["keyId"],
        b["signedPreKey"]["publicKey"],
        b["signedPreKey"]["signature"],
        b["preKey"]["keyId"],
        b["preKey"]["publicKey"],
    )


async def give_js_our_session(oracle: Oracle, party: int, jid: str, acc: Account) -> None:
    b = await acc.bundle()
    assert b.pre_key_id is not None
    bundle = {
        "registrationId": b.registration_id,
        "identityKey": b.identity_key,
        "signedPreKey": {
            "keyId": b.signed_pre_key_id,
            "publicKey": b.signed_pre_key_public,
            "signature": b.signed_pre_key_signature,
        },
        "preKey": {"keyId": b.pre_key_id, "publicKey": b.pre_key_public},
    }
    oracle.call("party_inject", party=party, jid=jid, bundle=bundle)


def js_decrypt(
    oracle: Oracle, party: int, stanza: Node, me: str, me_lid: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = oracle.call(
        "msg_decrypt", party=party, data=encode_node(stanza), me_id=me, me_lid=me_lid
    )
    assert out["stubType"] is None, out["stubParameters"]
    out["decoded"] = Message.FromString(out["message"])
    return out


async def test_python_to_baileys_one_to_one_and_back(oracle: Oracle) -> None:
    alice = Account("15550001111", 1)
    bob_jid = "15550002222:1@s.whatsapp.net"
    bob = js_party(oracle)
    await alice.repo.inject_session(bob_jid, js_bundle(oracle, bob))

    out = await build_direct_message(
        alice.repo,
        alice.me,
        "15550002222@s.whatsapp.net",
        text_message("hello baileys"),
        [bob_jid],
        message_id="3EB0000000000000000001",
    )
    got = js_decrypt(oracle, bob, deliver(out, alice.pn, bob_jid, t=T, notify="Alice"), bob_jid)
    assert got["decoded"].conversation == "hello baileys"
    assert got["key"]["remoteJid"] == alice.pn and got["key"]["fromMe"] is False
    assert got["key"]["id"] == "3EB0000000000000000001"
    assert got["pushName"] == "Alice" and int(got["timestamp"]) == T

    # Baileys answers (a msg on the session our pkmsg started); we decrypt it.
    reply = Message(conversation="hello python")
    data = oracle.call(
        "msg_direct_stanza",
        party=bob,
        to=alice.pn,
        message=reply.SerializeToString(),
        attrs={"from": bob_jid, "id": "3EB0B1", "t": str(T), "type": "text", "notify": "Bob"},
    )
    received = await alice.receiver.receive(decode_node(data))
    assert received.message is not None, received.failure
    assert received.message.text == "hello python" and received.message.push_name == "Bob"
    assert received.replies[0].attrs == {"id": "3EB0B1", "to": bob_jid}

    # Our next message is a plain msg, and Baileys keeps up over several.
    for n in range(3):
        more = await build_direct_message(
            alice.repo,
            alice.me,
            "15550002222@s.whatsapp.net",
            text_message(f"more {n}"),
            [bob_jid],
            message_id=f"3EB0M{n}",
        )
        assert more.stanza.get_child("device-identity") is None
        got = js_decrypt(oracle, bob, deliver(more, alice.pn, bob_jid), bob_jid)
        assert got["decoded"].conversation == f"more {n}"


async def test_baileys_first_message_to_python(oracle: Oracle) -> None:
    alice = Account("15550001111", 1)
    bob_jid = "100015550002222:4@lid"
    bob = js_party(oracle)
    await give_js_our_session(oracle, bob, alice.lid, alice)
    data = oracle.call(
        "msg_direct_stanza",
        party=bob,
        to=alice.lid,
        message=Message(conversation="first from baileys").SerializeToString(),
        attrs={
            "from": bob_jid,
            "id": "3EB0C1",
            "t": str(T),
            "type": "text",
            "sender_pn": "15550002222@s.whatsapp.net",
        },
    )
    stanza = decode_node(data)
    assert stanza.children()[0].attrs["type"] == "pkmsg"
    received = await alice.receiver.receive(stanza)
    assert received.message is not None, received.failure
    assert received.message.text == "first from baileys"
    assert received.message.chat == "100015550002222@lid"
    assert received.message.sender_alt == "15550002222@s.whatsapp.net"
    assert await alice.repo.lid_for_pn("15550002222@s.whatsapp.net") == "100015550002222"


async def test_dsm_to_our_other_device_is_unwrapped_by_baileys(oracle: Oracle) -> None:
    alice1 = Account("15550001111", 1)
    alice2_jid = "15550001111:2@s.whatsapp.net"
    alice2 = js_party(oracle)
    await alice1.repo.inject_session(alice2_jid, js_bundle(oracle, alice2))
    out = await build_direct_message(
        alice1.repo,
        alice1.me,
        "15550002222@s.whatsapp.net",
        text_message("sent by me"),
        [alice2_jid],
        message_id="3EB0D1",
    )
    got = js_decrypt(oracle, alice2, deliver(out, alice1.pn, alice2_jid), alice2_jid, alice1.lid)
    assert got["key"]["fromMe"] is True
    assert got["key"]["remoteJid"] == "15550002222@s.whatsapp.net"
    assert got["decoded"].conversation == "sent by me"
    assert not got["decoded"].HasField("deviceSentMessage")


async def test_group_both_ways_with_sender_keys(oracle: Oracle) -> None:
    alice = Account("15550001111", 1)
    bob_jid, carol_jid = "100015550002222:1@lid", "100015550003333@lid"
    bob, carol = js_party(oracle), js_party(oracle)
    for jid, party in ((bob_jid, bob), (carol_jid, carol)):
        await alice.repo.inject_session(jid, js_bundle(oracle, party))
    devices = [alice.lid, bob_jid, carol_jid]
    for n, text in enumerate(["to the group", "second, skmsg only", "third"]):
        out = await build_group_message(
            alice.repo, alice.me, GROUP, text_message(text), devices, message_id=f"3EB0G{n}"
        )
        assert bool(out.skdm_devices) == (n == 0)
        for jid, party in ((bob_jid, bob), (carol_jid, carol)):
            got = js_decrypt(
                oracle,
                party,
                deliver(out, alice.lid, jid),
                jid.replace("@lid", "@s.whatsapp.net"),
                jid,
            )
            assert got["decoded"].conversation == text
            assert got["key"]["remoteJid"] == GROUP and got["key"]["participant"] == alice.lid

    # Bob's sender key reaches us with its SKDM; later skmsgs alone decrypt.
    await give_js_our_session(oracle, bob, alice.lid, alice)
    for n in range(3):
        data = oracle.call(
            "msg_group_stanza",
            party=bob,
            group=GROUP,
            me=bob_jid,
            to=alice.lid,
            message=Message(conversation=f"bob {n}").SerializeToString(),
            attrs={
                "from": GROUP,
                "participant": bob_jid,
                "id": f"3EB0H{n}",
                "t": str(T),
                "type": "text",
                "addressing_mode": "lid",
            },
            skip_skdm=n > 0,
        )
        received = await alice.receiver.receive(decode_node(data))
        assert received.message is not None, received.failure
        assert received.message.text == f"bob {n}" and received.message.chat == GROUP
        assert received.replies[0].attrs == {"id": f"3EB0H{n}", "to": GROUP, "participant": bob_jid}


# --- usync and key fetch ------------------------------------------------------------------


def _usync_user(jid: str, devices: list[dict[str, str]], lid: str | None) -> Node:
    return Node(
        "user",
        {"jid": jid},
        [
            Node(
                "devices",
                {},
                [
                    Node("device-list", {}, [Node("device", d) for d in devices]),
                    Node("key-index-list", {"ts": "1795440144"}, b""),
                ],
            ),
            Node("lid", {} if lid is None else {"val": lid}),
        ],
    )


def test_usync_reply_read_as_baileys_reads_it(oracle: Oracle) -> None:
    me = "15550001111:1@s.whatsapp.net"
    reply = Node(
        "iq",
        {"from": "@s.whatsapp.net", "type": "result", "id": "1.2-9"},
        [
            Node(
                "usync",
                {
                    "sid": "1.2-8",
                    "index": "0",
                    "last": "true",
                    "mode": "query",
                    "context": "message",
                },
                [
                    Node(
                        "result",
                        {},
                        [
                            Node("devices", {"refresh": "604800"}),
                            Node("lid", {"refresh": "604800"}),
                        ],
                    ),
                    Node(
                        "list",
                        {},
                        [
                            _usync_user(
                                "15550002222@s.whatsapp.net",
                                [{"id": "0"}, {"id": "1", "key-index": "1"}, {"id": "5"}],
                                "100015550002222@lid",
                            ),
                            _usync_user(
                                "15550001111@s.whatsapp.net",
                                [
                                    {"id": "0"},
                                    {"id": "1", "key-index": "1"},
                                    {"id": "2", "key-index": "2"},
                                ],
                                "100015550001111@lid",
                            ),
                            _usync_user(
                                "100015550003333@lid",
                                [
                                    {"id": "0"},
                                    {"id": "7", "key-index": "3"},
                                    {"id": "99", "key-index": "4", "is_hosted": "true"},
                                ],
                                None,
                            ),
                            Node(
                                "user",
                                {"jid": "15550009999@s.whatsapp.net"},
                                [Node("devices", {}, [Node("device-list", {})]), Node("lid", {})],
                            ),
                        ],
                    ),
                ],
            ),
        ],
    )
    data = encode_node(reply)
    theirs = oracle.call("msg_usync_devices", data=data, me_id=me, me_lid=None)
    users = parse_device_reply(decode_node(data))
    assert device_jids(users, me) == theirs["jids"]
    assert lid_mappings(users) == [
        (m["lid"], m["pn"]) for m in theirs["lids"] if m["pn"].endswith("net")
    ]


async def test_key_fetch_reply_both_ways(oracle: Oracle) -> None:
    alice = Account("15550001111", 1)
    bob_jid = "100015550002222:1@lid"
    bob = js_party(oracle)

    def user_node(jid: str, b: PreKeyBundle) -> Node:
        children = [
            Node("registration", {}, b.registration_id.to_bytes(4, "big")),
            Node("type", {}, b"\x05"),
            Node("identity", {}, b.identity_key[1:]),
            Node(
                "skey",
                {},
                [
                    Node("id", {}, b.signed_pre_key_id.to_bytes(3, "big")),
                    Node("value", {}, b.signed_pre_key_public[1:]),
                    Node("signature", {}, b.signed_pre_key_signature),
                ],
            ),
        ]
        assert b.pre_key_id is not None and b.pre_key_public is not None
        children.append(
            Node(
                "key",
                {},
                [
                    Node("id", {}, b.pre_key_id.to_bytes(3, "big")),
                    Node("value", {}, b.pre_key_public[1:]),
                ],
            )
        )
        return Node("user", {"jid": jid}, children)

    def reply(*users: Node) -> bytes:
        return encode_node(
            Node(
                "iq",
                {"from": "@s.whatsapp.net", "type": "result", "id": "x"},
                [Node("list", {}, list(users))],
            )
        )

    # Baileys' bundle, served as the fake server serves it, read by us.
    bundles = parse_key_fetch_reply(decode_node(reply(user_node(bob_jid, js_bundle(oracle, bob)))))
    await alice.repo.inject_session(bob_jid, bundles[bob_jid])
    out = await build_direct_message(
        alice.repo,
        alice.me,
        "100015550002222@lid",
        text_message("via fetched keys"),
        [bob_jid],
        message_id="3EB0K1",
    )
    got = js_decrypt(
        oracle, bob, deliver(out, alice.lid, bob_jid), "15550002222:1@s.whatsapp.net", bob_jid
    )
    assert got["decoded"].conversation == "via fetched keys"

    # Our bundle read by Baileys' parseAndInjectE2ESessions; Baileys' message decrypts here.
    carol = js_party(oracle)
    oracle.call(
        "msg_inject_key_reply", party=carol, data=reply(user_node(alice.lid, await alice.bundle()))
    )
    data = oracle.call(
        "msg_direct_stanza",
        party=carol,
        to=alice.lid,
        message=Message(conversation="carol here").SerializeToString(),
        attrs={"from": "100015550003333@lid", "id": "3EB0K2", "t": str(T), "type": "text"},
    )
    received = await alice.receiver.receive(decode_node(data))
    assert received.message is not None and received.message.text == "carol here"


async def test_retry_receipt_keys_start_a_session_in_baileys(oracle: Oracle) -> None:
    alice = Account("15550001111", 1)
    bob_jid = "15550002222:1@s.whatsapp.net"
    bob = js_party(oracle)
    pre_key, _ = await take_pre_key(alice.creds, alice.store)
    spk = alice.creds.signed_pre_key
    keys = RetryKeys(
        identity=alice.creds.signed_identity_key.public,
        pre_key=pre_key,
        signed_pre_key_id=spk.key_id,
        signed_pre_key_public=spk.key_pair.public,
        signed_pre_key_signature=spk.signature,
        device_identity=alice.creds.account or b"",
    )
    failed = Node("message", {"id": "3EB0R1", "from": bob_jid, "t": str(T)})
    receipt = build_retry_receipt(
        failed, count=2, registration_id=alice.creds.registration_id, keys=keys
    )
    as_delivered = Node("receipt", {**receipt.attrs, "from": alice.pn}, receipt.content)
    assert oracle.call(
        "msg_inject_retry_receipt", party=bob, jid=alice.pn, data=encode_node(as_delivered)
    )
    data = oracle.call(
        "msg_direct_stanza",
        party=bob,
        to=alice.pn,
        message=Message(conversation="resent").SerializeToString(),
        attrs={"from": bob_jid, "id": "3EB0R1", "t": str(T), "type": "text"},
    )
    received = await alice.receiver.receive(decode_node(data))
    assert received.message is not None and received.message.text == "resent"


async def test_baileys_dsm_from_our_other_device_is_unwrapped_here(oracle: Oracle) -> None:
    alice1 = Account("15550001111", 1)
    alice2_jid = "15550001111:2@s.whatsapp.net"
    alice2 = js_party(oracle)
    await give_js_our_session(oracle, alice2, alice1.pn, alice1)
    dsm = Message()
    dsm.deviceSentMessage.destinationJid = "15550002222@s.whatsapp.net"
    dsm.deviceSentMessage.message.conversation = "I sent this from my other device"
    data = oracle.call(
        "msg_direct_stanza",
        party=alice2,
        to=alice1.pn,
        message=dsm.SerializeToString(),
        attrs={
            "from": alice2_jid,
            "recipient": "15550002222@s.whatsapp.net",
            "id": "3EB0S1",
            "t": str(T),
            "type": "text",
        },
    )
    received = await alice1.receiver.receive(decode_node(data))
    assert received.message is not None, received.failure
    assert received.message.from_me and received.message.chat == "15550002222@s.whatsapp.net"
    assert received.message.text == "I sent this from my other device"
    assert received.replies[0].attrs == {
        "id": "3EB0S1",
        "recipient": "15550002222@s.whatsapp.net",
        "to": alice2_jid,
        "type": "sender",
    }


async def test_our_retry_receipts_recover_a_lost_session_with_baileys(oracle: Oracle) -> None:
    alice = Account("15550001111", 1)
    bob_jid = "15550002222:1@s.whatsapp.net"
    bob = js_party(oracle)
    await give_js_our_session(oracle, bob, alice.pn, alice)
    # We lose the one-time pre-key Baileys is about to use (say, a restored backup).
    lost = {k: None for k in await alice.store.backend.list_ids("pre-key")}
    await alice.store.set({"pre-key": lost})

    def baileys_message(text: str) -> Node:
        data = oracle.call(
            "msg_direct_stanza",
            party=bob,
            to=alice.pn,
            message=Message(conversation=text).SerializeToString(),
            attrs={"from": bob_jid, "id": "3EB0L1", "t": str(T), "type": "text"},
        )
        return decode_node(data)

    first = await alice.receiver.receive(baileys_message("lost"))
    assert first.failure is not None and first.failure.error_type == "UnknownPreKeyError"
    assert [r.tag for r in first.replies] == ["receipt", "ack"]
    assert first.replies[0].get_child("keys") is None
    second = await alice.receiver.receive(baileys_message("lost"))
    retry = second.replies[0]
    assert retry.get_child("keys") is not None and second.creds_changed

    # The server forwards our retry receipt to Baileys, which starts over from its keys.
    forwarded = Node("receipt", {**retry.attrs, "from": alice.pn}, retry.content)
    assert oracle.call(
        "msg_inject_retry_receipt", party=bob, jid=alice.pn, data=encode_node(forwarded)
    )
    again = await alice.receiver.receive(baileys_message("found"))
    assert again.message is not None and again.message.text == "found"
    assert again.replies[0].attrs == {"id": "3EB0L1", "to": bob_jid}


async def test_peer_message_decrypts_on_a_baileys_phone(oracle: Oracle) -> None:
    me = Account("15550001111", 3)
    phone_jid = "15550001111@s.whatsapp.net"
    phone = js_party(oracle)
    await me.repo.inject_session(phone_jid, js_bundle(oracle, phone))
    request = Message()
    request.protocolMessage.type = request.protocolMessage.APP_STATE_SYNC_KEY_REQUEST
    request.protocolMessage.appStateSyncKeyRequest.keyIds.add().keyId = b"\x00\x07"
    out = await build_peer_message(me.repo, me.me, request, message_id="3EB0P1")
    delivered = Node(
        "message",
        {"from": me.pn, "id": "3EB0P1", "t": str(T), "type": "text", "category": "peer"},
        out.stanza.children()[:2],
    )
    got = js_decrypt(oracle, phone, delivered, phone_jid)
    assert got["key"]["fromMe"] is True
    keys = got["decoded"].protocolMessage.appStateSyncKeyRequest.keyIds
    assert [k.keyId for k in keys] == [b"\x00\x07"]


async def _shuffled_conversation(oracle: Oracle, rng: random.Random) -> None:
    alice = Account("15550001111", 1)
    bob_jid = "15550002222:1@s.whatsapp.net"
    bob = js_party(oracle)
    await alice.repo.inject_session(bob_jid, js_bundle(oracle, bob))
    first = await build_direct_message(
        alice.repo,
        alice.me,
        "15550002222@s.whatsapp.net",
        text_message("start"),
        [bob_jid],
        message_id="3EB0Z0",
    )
    assert (
        js_decrypt(oracle, bob, deliver(first, alice.pn, bob_jid), bob_jid)["decoded"].conversation
        == "start"
    )
    for turn in range(4):
        # A burst each way, delivered in a random order.
        ours = [
            await build_direct_message(
                alice.repo,
                alice.me,
                "15550002222@s.whatsapp.net",
                text_message(f"a{turn}.{i}"),
                [bob_jid],
                message_id=f"3EB0A{turn}{i}",
            )
            for i in range(rng.randint(1, 4))
        ]
        theirs = [
            (
                f"b{turn}.{i}",
                decode_node(
                    oracle.call(
                        "msg_direct_stanza",
                        party=bob,
                        to=alice.pn,
                        message=Message(conversation=f"b{turn}.{i}").SerializeToString(),
                        attrs={
                            "from": bob_jid,
                            "id": f"3EB0B{turn}{i}",
                            "t": str(T),
                            "type": "text",
                        },
                    )
                ),
            )
            for i in range(rng.randint(1, 4))
        ]
        rng.shuffle(ours)
        rng.shuffle(theirs)
        for out in ours:
            got = js_decrypt(oracle, bob, deliver(out, alice.pn, bob_jid), bob_jid)
            assert got["key"]["id"] == out.id
        for text, stanza in theirs:
            received = await alice.receiver.receive(stanza)
            assert received.message is not None, received.failure
            assert received.message.text == text


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 2**32 - 1))
def test_shuffled_conversation_with_baileys(oracle: Oracle, seed: int) -> None:
    asyncio.run(_shuffled_conversation(oracle, random.Random(seed)))
