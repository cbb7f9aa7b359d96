"""Two wamd clients (two accounts) message each other through the FakeServer.

Each side's ``Message`` event shows only text it decrypted; the server's delivery records
show which Signal message type travelled (pkmsg first, msg once the session exists).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import wamd
from tests.integration.client_helpers import Recorder, link_by_qr, pn, server_kwargs
from wamd.binary import Node
from wamd.errors import MessageRejectedError, UsageError
from wamd.testing import FakeServer

ALICE = "15550001111"
BOB = "15550002222"


@dataclass
class Peer:
    """One linked, connected client and everything it emitted."""

    number: str
    auth: wamd.AuthState | wamd.AuthHandle
    conn: wamd.Connection
    events: Recorder


async def start(srv: FakeServer, peer_auth: wamd.AuthState | wamd.AuthHandle, number: str) -> Peer:
    """Connect an already linked device and wait until it is logged in."""
    recorder = Recorder()
    conn = await wamd.connect(peer_auth, **server_kwargs(srv))
    conn.on(wamd.Event, recorder)
    await conn.wait_connected(10)
    return Peer(number, peer_auth, conn, recorder)


async def linked(srv: FakeServer, number: str, name: str) -> wamd.AuthHandle:
    srv.phone(number, push_name=name)
    auth = await wamd.memory_auth_state()
    await link_by_qr(srv, auth, number)
    return auth


@pytest.fixture
async def pair() -> AsyncIterator[tuple[FakeServer, Peer, Peer]]:
    async with FakeServer() as srv:
        alice = await start(srv, await linked(srv, ALICE, "Alice"), ALICE)
        bob = await start(srv, await linked(srv, BOB, "Bob"), BOB)
        yield srv, alice, bob
        await alice.conn.close()
        await bob.conn.close()


def enc_types(srv: FakeServer, msg_id: str, number: str) -> list[str]:
    """The enc types the server delivered for ``msg_id`` to device 1 of ``number``."""
    return [
        enc.attrs["type"]
        for d in srv.messaging.deliveries
        if d.node.tag == "message"
        and d.node.attrs.get("id") == msg_id
        and (d.phone_number, d.device) == (number, 1)
        for enc in d.node.children("enc")
    ]


async def wait_text(peer: Peer, text: str, timeout: float = 10.0) -> wamd.Message:
    """The first Message event of ``peer`` whose text is ``text``."""
    count = 1
    while True:
        await peer.events.wait_for(wamd.Message, count, timeout)
        for event in peer.events.of(wamd.Message):
            if event.text == text:
                return event
        count += 1


async def wait_receipt(peer: Peer, msg_id: str, kind: str = "delivery") -> wamd.Receipt:
    count = 1
    while True:
        await peer.events.wait_for(wamd.Receipt, count, 10)
        for event in peer.events.of(wamd.Receipt):
            if msg_id in event.ids and event.type == kind:
                return event
        count += 1


async def test_texts_both_ways_with_delivery_receipts(
    pair: tuple[FakeServer, Peer, Peer],
) -> None:
    srv, alice, bob = pair
    first = await alice.conn.send_text(pn(BOB), "hello bob")
    got = await wait_text(bob, "hello bob")
    assert got.id == first
    assert got.from_me is False
    assert got.push_name == "Alice"
    assert got.chat == pn(ALICE)
    assert got.sender == f"{ALICE}:1@s.whatsapp.net"
    assert got.timestamp > 0
    receipt = await wait_receipt(alice, first)
    assert first in receipt.ids
    assert receipt.chat == pn(BOB) and receipt.sender == f"{BOB}:1@s.whatsapp.net"
    assert enc_types(srv, first, BOB) == ["pkmsg"]

    reply = await bob.conn.send_text(pn(ALICE), "hi alice")
    answer = await wait_text(alice, "hi alice")
    assert answer.id == reply and answer.push_name == "Bob"
    await wait_receipt(bob, reply)
    assert enc_types(srv, reply, ALICE) == ["msg"]  # Bob answers on the session Alice began

    second = await alice.conn.send_text(pn(BOB), "second")
    await wait_text(bob, "second")
    await wait_receipt(alice, second)
    assert enc_types(srv, second, BOB) == ["msg"]
    texts = [m.text for m in bob.events.of(wamd.Message)]
    assert texts == ["hello bob", "second"]


async def test_read_receipt_reaches_the_sender(pair: tuple[FakeServer, Peer, Peer]) -> None:
    _, alice, bob = pair
    sent = await alice.conn.send_text(pn(BOB), "read me")
    got = await wait_text(bob, "read me")
    await bob.conn.mark_read(got.chat, [got.id])
    receipt = await wait_receipt(alice, sent, "read")
    assert receipt.ids == (sent,)


async def test_rejected_message_raises_with_the_server_code(
    pair: tuple[FakeServer, Peer, Peer],
) -> None:
    srv, alice, bob = pair
    srv.messaging.reject_next(ALICE, 1, 479)
    with pytest.raises(MessageRejectedError) as info:
        await alice.conn.send_text(pn(BOB), "refused")
    assert info.value.code == 479
    ok = await alice.conn.send_text(pn(BOB), "accepted")
    await wait_text(bob, "accepted")
    assert [m.text for m in bob.events.of(wamd.Message)] == ["accepted"]
    assert ok


async def test_damaged_message_is_retried_and_delivered_once(
    pair: tuple[FakeServer, Peer, Peer],
) -> None:
    srv, alice, bob = pair
    await alice.conn.send_text(pn(BOB), "warm up")
    await wait_text(bob, "warm up")
    srv.messaging.damage_next(BOB, 1)
    sent = await alice.conn.send_text(pn(BOB), "survives a bad MAC")
    got = await wait_text(bob, "survives a bad MAC")
    assert got.id == sent
    retries = [r for r in alice.events.of(wamd.Receipt) if r.type == "retry" and sent in r.ids]
    assert len(retries) == 1
    assert got.received is not None and got.received.retry_count == 1  # type: ignore[attr-defined]
    # the same stanza delivered again is answered but not announced twice
    again = [
        d.node
        for d in srv.messaging.deliveries
        if d.node.tag == "message"
        and d.node.attrs.get("id") == sent
        and (d.phone_number, d.device) == (BOB, 1)
    ][-1]
    before = len(bob.events.of(wamd.Message))
    await srv.messaging.deliver(BOB, 1, again)
    follow = await alice.conn.send_text(pn(BOB), "after the duplicate")
    await wait_text(bob, "after the duplicate")
    assert len(bob.events.of(wamd.Message)) == before + 1
    assert [m.id for m in bob.events.of(wamd.Message)].count(sent) == 1
    assert follow != sent


async def test_conversation_continues_after_a_restart(tmp_path: Path) -> None:
    async with FakeServer() as srv:
        srv.phone(ALICE, push_name="Alice")
        srv.phone(BOB, push_name="Bob")
        alice_handle = await wamd.use_native_file_auth_state(tmp_path / "alice.db")
        await link_by_qr(srv, alice_handle, ALICE)
        bob = await start(srv, await linked(srv, BOB, "Bob"), BOB)
        alice = await start(srv, alice_handle, ALICE)
        first = await alice.conn.send_text(pn(BOB), "before restart")
        await wait_text(bob, "before restart")
        await bob.conn.send_text(pn(ALICE), "ack before restart")
        await wait_text(alice, "ack before restart")
        assert enc_types(srv, first, BOB) == ["pkmsg"]
        await alice.conn.close()
        await alice_handle.close()

        reopened = await wamd.use_native_file_auth_state(tmp_path / "alice.db")
        try:
            alice2 = await start(srv, reopened, ALICE)
            after = await alice2.conn.send_text(pn(BOB), "after restart")
            await wait_text(bob, "after restart")
            assert enc_types(srv, after, BOB) == ["msg"]
            back = await bob.conn.send_text(pn(ALICE), "welcome back")
            await wait_text(alice2, "welcome back")
            assert enc_types(srv, back, ALICE) == ["msg"]
            await alice2.conn.close()
        finally:
            await reopened.close()
        await bob.conn.close()


async def test_group_texts_between_two_clients(pair: tuple[FakeServer, Peer, Peer]) -> None:
    srv, alice, bob = pair
    group = srv.groups.create(srv.accounts[ALICE], "wamd group", [srv.accounts[BOB]])
    first = await alice.conn.send_text(group.jid, "hello group")
    got = await wait_text(bob, "hello group")
    assert got.id == first and got.chat == group.jid
    assert got.sender == f"1000{ALICE}:1@lid"
    assert enc_types(srv, first, BOB) == ["pkmsg", "skmsg"]  # our sender key, then the text
    answer = await bob.conn.send_text(group.jid, "hello alice, in the group")
    back = await wait_text(alice, "hello alice, in the group")
    assert back.id == answer and back.chat == group.jid
    second = await alice.conn.send_text(group.jid, "second in group")
    await wait_text(bob, "second in group")
    assert enc_types(srv, second, BOB) == ["skmsg"]  # the sender key is known now


async def test_an_event_handler_can_answer_and_offline_messages_arrive_at_login(
    pair: tuple[FakeServer, Peer, Peer],
) -> None:
    srv, alice, bob = pair

    async def pong(event: wamd.Message) -> None:
        if event.text == "ping" and not event.from_me:
            await bob.conn.send_text(event.chat, "pong")  # from inside the dispatcher

    bob.conn.on(wamd.Message, pong)
    await alice.conn.send_text(pn(BOB), "ping")
    await wait_text(alice, "pong")

    await bob.conn.close()
    queued = await alice.conn.send_text(pn(BOB), "while you were away")
    assert [
        d.how
        for d in srv.messaging.deliveries
        if d.node.attrs.get("id") == queued and (d.phone_number, d.device) == (BOB, 1)
    ] == ["queued"]
    back = await start(srv, bob.auth, BOB)
    try:
        got = await wait_text(back, "while you were away")
        assert got.id == queued
        await wait_receipt(alice, queued)
    finally:
        await back.conn.close()


async def test_lid_chats_and_bad_targets(pair: tuple[FakeServer, Peer, Peer]) -> None:
    srv, alice, bob = pair
    bob_lid = f"1000{BOB}@lid"
    sent = await alice.conn.send_text(bob_lid, "to your LID")
    got = await wait_text(bob, "to your LID")
    assert got.id == sent
    assert enc_types(srv, sent, BOB) == ["pkmsg"]
    assert got.sender == f"1000{ALICE}:1@lid"  # the server answers in the space we used
    answer = await bob.conn.send_text(got.chat, "back on the LID chat")
    await wait_text(alice, "back on the LID chat")
    assert answer
    with pytest.raises(UsageError, match="cannot send to"):
        await alice.conn.send_text("not a jid", "x")
    with pytest.raises(UsageError, match="not a user or group"):
        await alice.conn.send_text("status@broadcast", "x")


async def test_sending_before_linking_is_a_usage_error() -> None:
    async with FakeServer() as srv:
        auth = await wamd.memory_auth_state()
        conn = await wamd.connect(auth, **server_kwargs(srv))
        try:
            with pytest.raises(UsageError, match="not linked"):
                await conn.send_text(pn(BOB), "too early")
        finally:
            await conn.close()


async def test_second_retry_receipt_carries_keys_and_saves_the_creds(
    pair: tuple[FakeServer, Peer, Peer],
) -> None:
    srv, alice, bob = pair
    await alice.conn.send_text(pn(BOB), "warm up")
    await wait_text(bob, "warm up")
    saved_before = len(bob.events.of(wamd.CredsUpdate))

    def to_bob(msg_id: str) -> list[Node]:
        return [
            d.node
            for d in srv.messaging.deliveries
            if d.node.tag == "message"
            and d.node.attrs.get("id") == msg_id
            and (d.phone_number, d.device) == (BOB, 1)
        ]

    srv.messaging.damage_next(BOB, 1, count=2)  # the message and its first resend
    sent = await alice.conn.send_text(pn(BOB), "twice spoilt")
    got = await wait_text(bob, "twice spoilt")
    assert len(to_bob(sent)) == 3  # the original and two resends
    assert got.id == sent and got.received is not None
    assert got.received.retry_count == 2  # type: ignore[attr-defined]
    retries = [r for r in alice.events.of(wamd.Receipt) if r.type == "retry" and sent in r.ids]
    assert len(retries) == 2
    asked = [
        d.node
        for d in srv.messaging.deliveries
        if d.node.tag == "receipt" and d.node.attrs.get("type") == "retry"
    ]
    assert [r.get_child("keys") is not None for r in asked] == [False, True]
    update = await bob.events.wait_for(wamd.CredsUpdate, saved_before + 1)
    assert "first_unuploaded_pre_key_id" in update.changed
    assert [m.id for m in bob.events.of(wamd.Message)].count(sent) == 1
