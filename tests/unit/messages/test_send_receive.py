"""Send and receive between Python accounts: 1:1, own devices, groups, failures, duplicates."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.unit.messages.accounts import Account, YieldingBackend, deliver, introduce
from tests.unit.signal.memstore import snapshot
from wamd._proto.message_pb2 import ContextInfo, Message
from wamd.binary import Node, decode_node, encode_node
from wamd.errors import NoSessionError, SendError, StanzaError, UsageError
from wamd.messages import (
    NackReason,
    build_direct_message,
    build_group_message,
    build_peer_message,
    build_retry_resend,
    clear_sender_key_memory,
    load_sender_key_memory,
    missing_sessions,
    parse_retry_receipt,
    text_message,
)

GROUP = "120363095440186860@g.us"


def wire(node: Node) -> Node:
    """Through the real codec, as the server would see and forward it."""
    return decode_node(encode_node(node))


async def test_one_to_one_text_reaches_every_device_and_own_devices_get_dsm() -> None:
    alice1 = Account("15550001111", 1)
    alice2 = Account("15550001111", 2, lid=alice1.lid_user.split("@")[0])
    bob0 = Account("15550002222", 0)
    bob1 = Account("15550002222", 1, lid=bob0.lid_user.split("@")[0])
    devices = [bob0.pn, bob1.pn, alice1.pn, alice2.pn]
    others = [bob0.pn, bob1.pn, alice2.pn]
    assert await missing_sessions(alice1.repo, others) == others
    for acc in (bob0, bob1, alice2):
        await introduce(alice1, acc.pn, acc)
    assert await missing_sessions(alice1.repo, others) == []

    out = await build_direct_message(
        alice1.repo, alice1.me, bob0.pn_user, text_message("hi bob"), devices, message_id="3EB0AA"
    )
    stanza = wire(out.stanza)
    assert stanza.attrs == {"id": "3EB0AA", "to": bob0.pn_user, "type": "text"}
    assert [c.tag for c in stanza.children()] == ["participants", "device-identity"]
    tos = stanza.get_child("participants").children("to")  # type: ignore[union-attr]
    # Our own other devices come first, then the recipient's; never our own device.
    assert [to.attrs["jid"] for to in tos] == [alice2.pn, bob0.pn, bob1.pn]
    assert {to.children()[0].attrs["type"] for to in tos} == {"pkmsg"}
    assert stanza.get_child("device-identity").content == alice1.creds.account  # type: ignore[union-attr]

    for bob in (bob0, bob1):
        got = await bob.receiver.receive(wire(deliver(stanza, alice1.pn, bob.pn, notify="Alice")))
        assert got.message is not None and got.failure is None
        assert got.message.text == "hi bob"
        assert got.message.chat == alice1.pn_user and got.message.sender == alice1.pn
        assert not got.message.from_me and got.message.push_name == "Alice"
        assert [r.attrs for r in got.replies] == [{"id": "3EB0AA", "to": alice1.pn}]

    mine = await alice2.receiver.receive(wire(deliver(stanza, alice1.pn, alice2.pn)))
    assert mine.message is not None and mine.message.from_me
    assert mine.message.chat == bob0.pn_user and mine.message.text == "hi bob"
    assert not mine.message.message.HasField("deviceSentMessage")
    assert [r.attrs for r in mine.replies] == [
        {"id": "3EB0AA", "recipient": bob0.pn_user, "to": alice1.pn, "type": "sender"}
    ]
    event = mine.message.to_event()
    assert event.text == "hi bob" and event.from_me and event.chat == bob0.pn_user
    assert event.received is mine.message and event.message is mine.message.message


async def test_reply_after_first_message_is_msg_without_device_identity() -> None:
    alice, bob = Account("15550001111", 1), Account("15550002222", 1)
    await introduce(alice, bob.pn, bob)
    first = await build_direct_message(
        alice.repo, alice.me, bob.pn_user, text_message("one"), [bob.pn], message_id="A1"
    )
    assert (await bob.receiver.receive(deliver(first, alice.pn, bob.pn))).message is not None
    reply = await build_direct_message(
        bob.repo, bob.me, alice.pn_user, text_message("two"), [alice.pn], message_id="B1"
    )
    assert reply.stanza.get_child("device-identity") is None
    enc = reply.stanza.get_child("participants").children()[0].children()[0]  # type: ignore[union-attr]
    assert enc.attrs == {"v": "2", "type": "msg"}
    got = await alice.receiver.receive(deliver(reply, bob.pn, alice.pn))
    assert got.message is not None and got.message.text == "two"


async def test_extended_text_with_quote_round_trips() -> None:
    alice, bob = Account("15550001111", 1), Account("15550002222", 1)
    await introduce(alice, bob.pn, bob)
    ctx = ContextInfo(stanzaId="3EB0QUOTED", participant=bob.pn_user, mentionedJid=[bob.pn_user])
    msg = text_message("see above", context_info=ctx)
    assert not msg.HasField("conversation")
    out = await build_direct_message(
        alice.repo, alice.me, bob.pn_user, msg, [bob.pn], message_id="A2"
    )
    got = await bob.receiver.receive(deliver(out, alice.pn, bob.pn))
    assert got.message is not None and got.message.text == "see above"
    assert got.message.message.extendedTextMessage.contextInfo.stanzaId == "3EB0QUOTED"


async def test_send_fails_only_when_no_device_could_be_encrypted_for() -> None:
    alice, bob = Account("15550001111", 1), Account("15550002222", 1)
    other = "15550002222:7@s.whatsapp.net"
    with pytest.raises(SendError):
        await build_direct_message(
            alice.repo, alice.me, bob.pn_user, text_message("x"), [bob.pn], message_id="A3"
        )
    await introduce(alice, bob.pn, bob)
    out = await build_direct_message(
        alice.repo, alice.me, bob.pn_user, text_message("x"), [bob.pn, other], message_id="A4"
    )
    assert out.devices == (bob.pn,)
    assert [jid for jid, _ in out.failed] == [other]


async def test_chat_must_be_a_user_without_device() -> None:
    alice = Account("15550001111", 1)
    with pytest.raises(UsageError):
        await build_direct_message(
            alice.repo, alice.me, alice.pn, text_message("x"), [], message_id="A5"
        )


async def test_failed_decrypt_sends_retry_then_nack_and_leaves_store_unchanged() -> None:
    alice, bob = Account("15550001111", 1), Account("15550002222", 1)
    await introduce(alice, bob.pn, bob)
    out = await build_direct_message(
        alice.repo, alice.me, bob.pn_user, text_message("x"), [bob.pn], message_id="A6"
    )
    stanza = deliver(out, alice.pn, bob.pn)
    enc = stanza.children("enc")[0]
    damaged = bytearray(enc.content)  # type: ignore[arg-type]
    damaged[-1] ^= 1  # the MAC
    stanza.content = [Node("enc", enc.attrs, bytes(damaged)), *stanza.children()[1:]]
    before = await snapshot(bob.store)

    got = await bob.receiver.receive(stanza)
    assert got.message is None and got.failure is not None and got.failure.retry_requested
    assert await snapshot(bob.store) == before
    retry, nack = got.replies
    assert retry.tag == "receipt"
    assert retry.attrs == {"id": "A6", "type": "retry", "to": alice.pn}
    assert [c.tag for c in retry.children()] == ["retry", "registration"]
    assert retry.children()[0].attrs == {
        "count": "1",
        "id": "A6",
        "t": stanza.attrs["t"],
        "v": "1",
        "error": "0",
    }
    assert retry.children()[1].content == bob.creds.registration_id.to_bytes(4, "big")
    assert nack.attrs["error"] == str(NackReason.UNHANDLED_ERROR.value)
    assert nack.attrs["from"] == bob.pn

    # The second request carries a fresh pre-key bundle; then the sender can resend.
    again = await bob.receiver.receive(stanza)
    assert await snapshot(bob.store, ["session", "identity-key", "sender-key"]) == {
        k: v for k, v in before.items() if k in ("session", "identity-key", "sender-key")
    }
    retry2 = again.replies[0]
    assert retry2.children()[0].attrs["count"] == "2"
    assert [c.tag for c in retry2.children()] == ["retry", "registration", "keys"]
    assert again.creds_changed == {"next_pre_key_id", "first_unuploaded_pre_key_id"}

    request = parse_retry_receipt(Node("receipt", {**retry2.attrs, "from": bob.pn}, retry2.content))
    assert request.count == 2 and request.bundle is not None
    resend = await build_retry_resend(
        alice.repo,
        alice.me,
        bob.pn_user,
        text_message("x"),
        request.sender,
        message_id="A6",
        count=request.count,
        bundle=request.bundle,
    )
    assert resend.stanza.attrs == {
        "id": "A6",
        "to": bob.pn,
        "type": "text",
        "device_fanout": "false",
    }
    enc2 = resend.stanza.children("enc")[0]
    assert enc2.attrs == {"v": "2", "type": "pkmsg", "count": "2"}
    got2 = await bob.receiver.receive(deliver(resend, alice.pn, bob.pn))
    assert got2.message is not None and got2.message.text == "x"
    assert got2.message.retry_count == 2


async def test_retries_stop_after_five_requests() -> None:
    alice, bob = Account("15550001111", 1), Account("15550002222", 1)
    stanza = Node(
        "message",
        {"id": "A7", "from": alice.pn, "t": "5", "type": "text"},
        [Node("enc", {"v": "2", "type": "msg"}, b"\x33garbage")],
    )
    kinds = []
    for _ in range(7):
        got = await bob.receiver.receive(stanza)
        kinds.append(tuple(r.tag for r in got.replies))
    assert kinds == [("receipt", "ack")] * 5 + [("ack",)] * 2


async def test_duplicate_is_answered_again_without_a_second_message() -> None:
    alice, bob = Account("15550001111", 1), Account("15550002222", 1)
    await introduce(alice, bob.pn, bob)
    out = await build_direct_message(
        alice.repo, alice.me, bob.pn_user, text_message("once"), [bob.pn], message_id="A8"
    )
    stanza = deliver(out, alice.pn, bob.pn)
    first = await bob.receiver.receive(stanza)
    assert first.message is not None
    before = await snapshot(bob.store)
    second = await bob.receiver.receive(stanza)
    assert second.duplicate and second.message is None and second.failure is None
    assert [r.attrs for r in second.replies] == [r.attrs for r in first.replies]
    assert await snapshot(bob.store) == before

    # A receiver that forgot the id (a restart) sees a Signal replay: nack 487, no retry.
    fresh = type(bob.receiver)(bob.repo, bob.creds)
    third = await fresh.receive(stanza)
    assert third.duplicate and third.message is None
    assert [r.tag for r in third.replies] == ["ack"]
    assert third.replies[0].attrs["error"] == str(NackReason.PARSING_ERROR.value)


async def test_msmsg_is_nacked_495_and_bad_envelopes_are_nacked() -> None:
    bob = Account("15550002222", 1)
    msmsg = Node(
        "message",
        {"id": "X1", "from": "15550001111:1@s.whatsapp.net"},
        [Node("enc", {"type": "msmsg"}, b"1")],
    )
    got = await bob.receiver.receive(msmsg)
    assert got.replies[0].attrs["error"] == "495"
    stranger = Node(
        "message",
        {"id": "X2", "from": "15550001111:1@s.whatsapp.net", "recipient": "1@s.whatsapp.net"},
    )
    got = await bob.receiver.receive(stranger)
    assert got.message is None and got.replies[0].attrs["error"] == "500"
    with pytest.raises(StanzaError):
        await bob.receiver.receive(Node("message", {"from": "1@s.whatsapp.net"}))


async def test_message_without_content_is_acked_as_absent() -> None:
    bob = Account("15550002222", 1)
    got = await bob.receiver.receive(
        Node("message", {"id": "X3", "from": "15550001111:1@s.whatsapp.net", "t": "1"})
    )
    assert got.failure is not None and got.failure.error == "Message absent from node"
    assert [r.attrs for r in got.replies] == [
        {"id": "X3", "to": "15550001111:1@s.whatsapp.net", "class": "message", "from": bob.pn}
    ]


async def test_sender_lid_in_envelope_stores_mapping_and_moves_session() -> None:
    alice, bob = Account("15550001111", 1), Account("15550002222", 1)
    await introduce(bob, alice.pn, alice)  # bob has a PN session with alice
    await introduce(alice, bob.pn, bob)
    out = await build_direct_message(
        alice.repo, alice.me, bob.pn_user, text_message("lid"), [bob.pn], message_id="A9"
    )
    stanza = deliver(out, alice.pn, bob.pn, extra={"sender_lid": alice.lid_user})
    got = await bob.receiver.receive(stanza)
    assert got.message is not None and got.message.sender_alt == alice.lid_user
    assert await bob.repo.lid_for_pn(alice.pn) == alice.lid_user.split("@")[0]
    sessions = await snapshot(bob.store, ["session"])
    assert str(await bob.repo.address_of(alice.pn)) in sessions["session"]
    assert "15550001111.1" not in sessions["session"]


async def test_group_flow_with_several_senders_and_sender_key_memory() -> None:
    alice = Account("15550001111", 1)
    bob = Account("15550002222", 1)
    carol = Account("15550003333", 0)
    members = {a.lid: a for a in (alice, bob, carol)}
    devices = list(members)
    for sender in members.values():
        for jid, acc in members.items():
            if acc is not sender:
                await introduce(sender, jid, acc)

    async def send(sender: Account, text: str, msg_id: str) -> dict[str, str]:
        out = await build_group_message(
            sender.repo, sender.me, GROUP, text_message(text), devices, message_id=msg_id
        )
        stanza = wire(out.stanza)
        assert stanza.attrs["addressing_mode"] == "lid"
        assert stanza.children()[0].attrs == {"v": "2", "type": "skmsg"}
        got: dict[str, str] = {}
        for jid, acc in members.items():
            if acc is sender:
                continue
            result = await acc.receiver.receive(wire(deliver(stanza, sender.lid, jid)))
            assert result.message is not None, result.failure
            assert result.message.chat == GROUP and result.message.sender == sender.lid
            assert result.replies[0].attrs == {"id": msg_id, "to": GROUP, "participant": sender.lid}
            got[jid] = result.message.text or ""
        return got | {"skdm": ",".join(out.skdm_devices)}

    first = await send(alice, "hello all", "G1")
    assert first == {bob.lid: "hello all", carol.lid: "hello all", "skdm": f"{bob.lid},{carol.lid}"}
    memory = await load_sender_key_memory(alice.store, GROUP)
    assert memory == {bob.lid: True, carol.lid: True}
    raw = (await alice.store.get("sender-key-memory", [GROUP]))[GROUP]
    assert json.loads(raw) == {bob.lid: True, carol.lid: True}

    second = await send(alice, "again", "G2")
    assert second["skdm"] == ""  # everyone has the key already: only the skmsg goes out
    assert await send(bob, "bob here", "G3") == {
        alice.lid: "bob here",
        carol.lid: "bob here",
        "skdm": f"{alice.lid},{carol.lid}",
    }
    assert (await send(carol, "carol too", "G4"))["skdm"] == f"{alice.lid},{bob.lid}"
    assert (await send(alice, "third", "G5"))["skdm"] == ""

    # A new member device gets the key the next time; a cleared memory re-sends to all.
    dave = Account("15550004444", 0)
    members[dave.lid] = dave
    devices.append(dave.lid)
    await introduce(alice, dave.lid, dave)
    assert (await send(alice, "welcome", "G6"))["skdm"] == dave.lid
    await clear_sender_key_memory(alice.store, GROUP)
    assert await load_sender_key_memory(alice.store, GROUP) == {}
    everyone = await send(alice, "once more", "G7")
    assert everyone["skdm"] == f"{bob.lid},{carol.lid},{dave.lid}"


async def test_group_message_without_sender_key_fails_and_resend_with_skdm_fixes_it() -> None:
    alice, bob = Account("15550001111", 1), Account("15550002222", 1)
    await introduce(alice, bob.lid, bob)
    out = await build_group_message(
        alice.repo, alice.me, GROUP, text_message("lost key"), [bob.lid], message_id="G8"
    )
    stanza = deliver(out, alice.lid, bob.lid)
    only_skmsg = Node(
        "message",
        stanza.attrs,
        [c for c in stanza.children() if c.tag == "enc" and c.attrs["type"] == "skmsg"],
    )
    failed = await bob.receiver.receive(only_skmsg)
    assert failed.failure is not None and failed.failure.error_type == "NoSessionError"
    assert failed.replies[0].attrs == {
        "id": "G8",
        "type": "retry",
        "to": GROUP,
        "participant": alice.lid,
    }
    resend = await build_retry_resend(
        alice.repo, alice.me, GROUP, text_message("lost key"), bob.lid, message_id="G8", count=1
    )
    assert resend.stanza.attrs == {"id": "G8", "to": GROUP, "type": "text", "participant": bob.lid}
    got = await bob.receiver.receive(deliver(resend, alice.lid, bob.lid))
    assert got.message is not None and got.message.text == "lost key"
    assert got.message.message.HasField("senderKeyDistributionMessage")


async def test_skdm_rolled_back_when_skmsg_of_same_stanza_fails() -> None:
    alice, bob = Account("15550001111", 1), Account("15550002222", 1)
    await introduce(alice, bob.lid, bob)
    out = await build_group_message(
        alice.repo, alice.me, GROUP, text_message("x"), [bob.lid], message_id="G9"
    )
    stanza = deliver(out, alice.lid, bob.lid)
    pkmsg, skmsg = stanza.children("enc")
    bad = bytearray(skmsg.content)  # type: ignore[arg-type]
    bad[-1] ^= 1  # the sender-key signature
    stanza.content = [pkmsg, Node("enc", skmsg.attrs, bytes(bad)), *stanza.children()[2:]]
    before = await snapshot(bob.store)
    got = await bob.receiver.receive(stanza)
    assert got.failure is not None
    assert await snapshot(bob.store) == before
    assert not await bob.repo.has_sender_key(GROUP, alice.lid)


async def test_retry_resend_needs_a_session() -> None:
    alice = Account("15550001111", 1)
    with pytest.raises(NoSessionError):
        await build_retry_resend(
            alice.repo,
            alice.me,
            "1@s.whatsapp.net",
            Message(conversation="x"),
            "1:3@s.whatsapp.net",
            message_id="R",
            count=1,
        )


async def test_receipt_kinds_inactive_peer_and_history_sync() -> None:
    alice1, alice2 = Account("15550001111", 1), Account("15550001111", 2)
    bob = Account("15550002222", 1)
    await introduce(alice1, bob.pn, bob)
    await introduce(alice1, alice2.pn, alice2)
    bob.receiver.online = False
    out = await build_direct_message(
        alice1.repo, alice1.me, bob.pn_user, text_message("x"), [bob.pn], message_id="P1"
    )
    got = await bob.receiver.receive(deliver(out, alice1.pn, bob.pn))
    assert [r.attrs for r in got.replies] == [{"id": "P1", "to": alice1.pn, "type": "inactive"}]

    history = Message()
    history.protocolMessage.type = history.protocolMessage.HISTORY_SYNC_NOTIFICATION
    peer = await build_direct_message(
        alice1.repo, alice1.me, alice1.pn_user, history, [alice2.pn], message_id="P2"
    )
    stanza = deliver(peer, alice1.pn, alice2.pn, extra={"category": "peer"})
    del stanza.attrs["recipient"]  # peer messages carry none
    got = await alice2.receiver.receive(stanza)
    assert got.message is not None and got.message.category == "peer" and got.message.from_me
    assert [r.attrs for r in got.replies] == [
        {"id": "P2", "to": alice1.pn, "type": "peer_msg"},
        {"id": "P2", "to": alice1.pn_user, "type": "hist_sync"},
    ]


async def test_concurrent_receives_and_sends_on_one_session_lose_nothing() -> None:
    alice = Account("15550001111", 1, backend=YieldingBackend())
    bob = Account("15550002222", 1, backend=YieldingBackend())
    await introduce(alice, bob.pn, bob)
    first = await build_direct_message(
        alice.repo, alice.me, bob.pn_user, text_message("0"), [bob.pn], message_id="C0"
    )
    assert (await bob.receiver.receive(deliver(first, alice.pn, bob.pn))).message is not None
    reply = await build_direct_message(
        bob.repo, bob.me, alice.pn_user, text_message("r"), [alice.pn], message_id="CR"
    )
    assert (await alice.receiver.receive(deliver(reply, bob.pn, alice.pn))).message is not None

    outs = [
        await build_direct_message(
            alice.repo, alice.me, bob.pn_user, text_message(str(i)), [bob.pn], message_id=f"C{i}"
        )
        for i in range(1, 9)
    ]

    async def bob_sends(i: int) -> Node:
        out = await build_direct_message(
            bob.repo, bob.me, alice.pn_user, text_message(f"b{i}"), [alice.pn], message_id=f"B{i}"
        )
        return deliver(out, bob.pn, alice.pn)

    # Bob receives eight messages while sending four, all at once on one session.
    receiving = asyncio.gather(*(bob.receiver.receive(deliver(o, alice.pn, bob.pn)) for o in outs))
    sending = asyncio.gather(*(bob_sends(i) for i in range(4)))
    received, sent = await asyncio.gather(receiving, sending)
    texts = sorted(r.message.text or "" for r in received if r.message is not None)
    assert texts == sorted(str(i) for i in range(1, 9))
    for stanza in sent:
        got = await alice.receiver.receive(stanza)
        assert got.message is not None, got.failure
    # Every message key was used up exactly once: a lost update would let replays through.
    forgetful = type(bob.receiver)(bob.repo, bob.creds)
    for o in outs:
        replay = await forgetful.receive(deliver(o, alice.pn, bob.pn))
        assert replay.duplicate and replay.message is None


async def test_peer_message_goes_to_our_phone_as_a_single_enc() -> None:
    me, phone = Account("15550001111", 3), Account("15550001111", 0)
    await introduce(me, phone.pn, phone)
    request = Message()
    request.protocolMessage.type = request.protocolMessage.APP_STATE_SYNC_KEY_REQUEST
    request.protocolMessage.appStateSyncKeyRequest.keyIds.add().keyId = b"\x00\x01"
    out = await build_peer_message(me.repo, me.me, request, message_id="PEER1")
    assert out.stanza.attrs == {
        "id": "PEER1",
        "to": me.pn_user,
        "type": "text",
        "category": "peer",
        "push_priority": "high_force",
    }
    assert [c.tag for c in out.stanza.children()] == ["enc", "device-identity", "meta"]
    delivered = Node(
        "message",
        {"from": me.pn, "id": "PEER1", "t": "1", "type": "text", "category": "peer"},
        out.stanza.children()[:2],
    )
    got = await phone.receiver.receive(wire(delivered))
    assert got.message is not None and got.message.category == "peer" and got.message.from_me
    keys = got.message.message.protocolMessage.appStateSyncKeyRequest.keyIds
    assert [k.keyId for k in keys] == [b"\x00\x01"]
    assert [r.attrs for r in got.replies] == [{"id": "PEER1", "to": me.pn, "type": "peer_msg"}]


async def test_newsletter_plaintext_is_decoded_and_only_acked() -> None:
    bob = Account("15550002222", 1)
    content = Message(conversation="channel post").SerializeToString()
    stanza = Node(
        "message",
        {"from": "120363000000000009@newsletter", "id": "N1", "t": "3", "type": "text"},
        [Node("plaintext", {}, content)],
    )
    got = await bob.receiver.receive(wire(stanza))
    assert got.message is not None and got.message.text == "channel post"
    assert got.message.kind == "newsletter" and got.message.chat == stanza.attrs["from"]
    assert [r.attrs for r in got.replies] == [
        {"id": "N1", "to": stanza.attrs["from"], "class": "message", "type": "text", "from": bob.pn}
    ]
