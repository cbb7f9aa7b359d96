"""wamd's connect() and a real Baileys client message each other through the FakeServer.

Baileys (makeWASocket in the oracle) is linked to one account, a wamd client to another.
Each side only reports text it decrypted: Baileys in ``messages.upsert``, wamd in its
``Message`` events; delivery receipts come back to both. Baileys' calls block, so the
async test runs them in a worker thread while the event loop keeps serving wamd.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import wamd
from tests.conftest import Oracle
from tests.integration.client_helpers import FAST_RECONNECT, Recorder
from tests.interop.fake_server_driver import BaileysClient, Event
from wamd.testing import FakeServer, ServerThread

pytestmark = pytest.mark.interop

ALICE = "15550001111"  # Baileys
BOB = "15550002222"  # wamd

DELIVERY_ACK = 3


def pn(number: str) -> str:
    return f"{number}@s.whatsapp.net"


@pytest.fixture
def srv() -> Iterator[ServerThread]:
    with FakeServer.start_in_thread() as thread:
        yield thread


@pytest.fixture
def alice(oracle: Oracle, srv: ServerThread, tmp_path: Path) -> Iterator[BaileysClient]:
    """A Baileys client linked as device 1 of ALICE (push name Alice), open."""
    oracle.call("bc_take_stray")
    phone = srv.call(lambda: srv.server.phone(ALICE, push_name="Alice"))
    client = BaileysClient(oracle, srv, tmp_path / "alice")
    try:
        srv.run(phone.scan(client.wait_qr()))
        client.wait_open()
        srv.wait_for(lambda: len(srv.server.devices(ALICE)[1].pre_keys) > 0)
        yield client
    finally:
        oracle.call("bc_end_all")
    assert oracle.call("bc_take_stray") == []


async def wamd_bob(srv: ServerThread) -> tuple[wamd.Connection, Recorder]:
    """A wamd client linked by QR as device 1 of BOB (push name Bob), logged in."""
    phone = srv.call(lambda: srv.server.phone(BOB, push_name="Bob"))
    scanned: list[str] = []

    async def on_qr(qr: str) -> None:
        if not scanned:
            scanned.append(qr)
            await asyncio.to_thread(srv.run, phone.scan(qr))

    auth = await wamd.memory_auth_state()
    recorder = Recorder()
    kwargs: dict[str, Any] = {"url": srv.url, "server_root_key": srv.root_public_key}
    conn = await wamd.connect(auth, on_qr=on_qr, reconnect=FAST_RECONNECT, **kwargs)
    conn.on(wamd.Event, recorder)
    await conn.wait_connected(20)
    return conn, recorder


def enc_types(srv: ServerThread, msg_id: str, number: str) -> list[str]:
    """The enc types the server delivered for ``msg_id`` to device 1 of ``number``."""
    return srv.call(
        lambda: [
            enc.attrs["type"]
            for d in srv.server.messaging.deliveries
            if d.node.tag == "message"
            and d.node.attrs.get("id") == msg_id
            and (d.phone_number, d.device) == (number, 1)
            for enc in d.node.children("enc")
        ]
    )


def status_at_least(msg_id: str, status: int) -> Callable[[Event], bool]:
    def match(event: Event) -> bool:
        return (
            event["type"] == "message-update"
            and event["key"]["id"] == msg_id
            and (event.get("status") or 0) >= status
        )

    return match


async def text_event(recorder: Recorder, text: str, timeout: float = 15.0) -> wamd.Message:
    """The first wamd Message event carrying ``text``."""
    count = 1
    while True:
        await recorder.wait_for(wamd.Message, count, timeout)
        for event in recorder.of(wamd.Message):
            if event.text == text:
                return event
        count += 1


async def receipt_for(recorder: Recorder, msg_id: str, kind: str = "delivery") -> wamd.Receipt:
    count = 1
    while True:
        await recorder.wait_for(wamd.Receipt, count, 15)
        for event in recorder.of(wamd.Receipt):
            if msg_id in event.ids and event.type == kind:
                return event
        count += 1


def test_wamd_and_baileys_exchange_texts_both_ways(srv: ServerThread, alice: BaileysClient) -> None:
    async def scenario() -> None:
        conn, bob = await wamd_bob(srv)
        try:
            # wamd -> Baileys: a pkmsg first (no session yet)
            first = await conn.send_text(pn(ALICE), "hello from wamd")
            got = await asyncio.to_thread(alice.wait_text, "hello from wamd")
            assert got["key"]["id"] == first
            assert got["key"]["fromMe"] is False
            assert got["pushName"] == "Bob"
            assert enc_types(srv, first, ALICE) == ["pkmsg"]
            receipt = await receipt_for(bob, first)
            assert receipt.chat == pn(ALICE)
            assert receipt.sender == f"{ALICE}:1@s.whatsapp.net"

            # Baileys -> wamd, on the session wamd started
            reply = await asyncio.to_thread(alice.send_text, pn(BOB), "hi wamd, Baileys here")
            answer = await text_event(bob, "hi wamd, Baileys here")
            assert answer.id == reply["id"]
            assert answer.push_name == "Alice"
            assert answer.from_me is False
            assert enc_types(srv, reply["id"], BOB) == ["msg"]
            await asyncio.to_thread(alice.wait, status_at_least(reply["id"], DELIVERY_ACK))

            # and again both ways, now plain msg
            second = await conn.send_text(pn(ALICE), "second from wamd")
            await asyncio.to_thread(alice.wait_text, "second from wamd")
            assert enc_types(srv, second, ALICE) == ["msg"]
            await receipt_for(bob, second)
            third = await asyncio.to_thread(alice.send_text, pn(BOB), "second from Baileys")
            await text_event(bob, "second from Baileys")
            assert enc_types(srv, third["id"], BOB) == ["msg"]

            # wamd reads; Baileys sees its message read
            await conn.mark_read(answer.chat, [answer.id])
            await asyncio.to_thread(alice.wait, status_at_least(reply["id"], DELIVERY_ACK + 1))
            texts = [m.text for m in bob.of(wamd.Message)]
            assert texts == ["hi wamd, Baileys here", "second from Baileys"]
        finally:
            await conn.close()

    asyncio.run(asyncio.wait_for(scenario(), 90))
    assert srv.call(lambda: list(srv.server.iq_errors)) == []


def test_baileys_retry_receipt_makes_wamd_resend(srv: ServerThread, alice: BaileysClient) -> None:
    async def scenario() -> None:
        conn, bob = await wamd_bob(srv)
        try:
            await conn.send_text(pn(ALICE), "warm up")
            await asyncio.to_thread(alice.wait_text, "warm up")
            srv.call(lambda: srv.server.messaging.damage_next(ALICE, 1))
            sent = await conn.send_text(pn(ALICE), "after a bad MAC")
            got = await asyncio.to_thread(alice.wait_text, "after a bad MAC")
            assert got["key"]["id"] == sent
            retry = await receipt_for(bob, sent, "retry")
            assert retry.ids == (sent,)
            shown = [e for e in alice.events if e.get("text") == "after a bad MAC"]
            assert len(shown) == 1
        finally:
            await conn.close()

    asyncio.run(asyncio.wait_for(scenario(), 90))


def test_wamd_and_baileys_talk_in_a_group(srv: ServerThread, alice: BaileysClient) -> None:
    async def scenario() -> None:
        conn, bob = await wamd_bob(srv)
        try:
            meta = await asyncio.to_thread(alice.group_create, "mixed", [pn(BOB)])
            group = str(meta["id"])
            hello = await asyncio.to_thread(alice.send_text, group, "hello group from Baileys")
            got = await text_event(bob, "hello group from Baileys")
            assert got.id == hello["id"] and got.chat == group
            assert got.sender == f"1000{ALICE}:1@lid"
            sent = await conn.send_text(group, "and hello from wamd")
            seen = await asyncio.to_thread(alice.wait_text, "and hello from wamd")
            assert seen["key"]["id"] == sent and seen["key"]["remoteJid"] == group
            # our sender key goes pairwise on the session Baileys' pkmsg opened, then the text
            assert enc_types(srv, sent, ALICE) == ["msg", "skmsg"]
            again = await conn.send_text(group, "wamd again")
            await asyncio.to_thread(alice.wait_text, "wamd again")
            assert enc_types(srv, again, ALICE) == ["skmsg"]
        finally:
            await conn.close()

    asyncio.run(asyncio.wait_for(scenario(), 90))


def test_wamd_retry_receipt_makes_baileys_resend(srv: ServerThread, alice: BaileysClient) -> None:
    async def scenario() -> None:
        conn, bob = await wamd_bob(srv)
        try:
            await asyncio.to_thread(alice.send_text, pn(BOB), "warm up")
            await text_event(bob, "warm up")
            srv.call(lambda: srv.server.messaging.damage_next(BOB, 1))
            sent = await asyncio.to_thread(alice.send_text, pn(BOB), "resent by Baileys")
            got = await text_event(bob, "resent by Baileys")
            assert got.id == sent["id"]
            assert got.received is not None
            assert got.received.retry_count >= 1  # type: ignore[attr-defined]
            retries = srv.call(
                lambda: [
                    d.node
                    for d in srv.server.messaging.deliveries
                    if d.node.tag == "receipt"
                    and d.node.attrs.get("type") == "retry"
                    and (d.phone_number, d.device) == (ALICE, 1)
                ]
            )
            assert [r.attrs["id"] for r in retries] == [sent["id"]]
            assert [m.text for m in bob.of(wamd.Message)] == ["warm up", "resent by Baileys"]
        finally:
            await conn.close()

    asyncio.run(asyncio.wait_for(scenario(), 90))


def test_wamd_restarted_from_its_store_continues_the_session(
    srv: ServerThread, alice: BaileysClient, tmp_path: Path
) -> None:
    store = tmp_path / "bob.db"

    async def session(first: bool) -> None:
        phone = srv.call(lambda: srv.server.phone(BOB, push_name="Bob"))

        async def on_qr(qr: str) -> None:
            assert first, "a restarted device must not show a QR code"
            await asyncio.to_thread(srv.run, phone.scan(qr))

        kwargs: dict[str, Any] = {"url": srv.url, "server_root_key": srv.root_public_key}
        async with (
            await wamd.use_native_file_auth_state(store) as auth,
            wamd.connect(auth, on_qr=on_qr, reconnect=FAST_RECONNECT, **kwargs) as conn,
        ):
            recorder = Recorder()
            conn.on(wamd.Event, recorder)
            await conn.wait_connected(20)
            word = "before" if first else "after"
            sent = await conn.send_text(pn(ALICE), f"{word} the restart")
            await asyncio.to_thread(alice.wait_text, f"{word} the restart")
            assert enc_types(srv, sent, ALICE) == (["pkmsg"] if first else ["msg"])
            reply = await asyncio.to_thread(alice.send_text, pn(BOB), f"Baileys {word}")
            await text_event(recorder, f"Baileys {word}")
            assert enc_types(srv, reply["id"], BOB) == ["msg"]

    asyncio.run(asyncio.wait_for(session(True), 60))
    asyncio.run(asyncio.wait_for(session(False), 60))
