"""Phones as messaging peers inside the FakeServer (no client at all, and with one)."""

from __future__ import annotations

from tests.unit.testing.peers import add_device, online
from tests.unit.testing.phone_peer import PhonePeer
from wamd.testing import FakeServer

ALICE, BOB = "15550001111", "15550002222"


async def test_two_phones_talk_and_their_receipts_come_back() -> None:
    async with FakeServer() as server:
        alice = await PhonePeer.of(server, ALICE, "Alice")
        bob = await PhonePeer.of(server, BOB, "Bob")
        assert await PhonePeer.of(server, ALICE) is alice  # one peer per phone
        first = await alice.send_text(f"{BOB}@s.whatsapp.net", "hi bob")
        assert bob.texts() == ["hi bob"]
        assert bob.received[0].id == first and bob.received[0].push_name == "Alice"
        assert [r.attrs["id"] for r in alice.receipts] == [first]  # Bob's delivery receipt
        await bob.send_text(f"{ALICE}@s.whatsapp.net", "hi alice")
        await alice.send_text(f"1000{BOB}@lid", "by lid")
        assert alice.texts() == ["hi alice"] and bob.texts() == ["hi bob", "by lid"]
        kinds = [
            e.attrs["type"]
            for d in server.messaging.deliveries
            if d.node.tag == "message" and d.phone_number == BOB
            for e in d.node.children("enc")
        ]
        assert kinds[0] == "pkmsg" and kinds[-1] == "msg"
        assert alice.failures == [] and bob.failures == []


async def test_a_phone_message_reaches_its_companions_as_their_own() -> None:
    async with FakeServer() as server:
        alice = await PhonePeer.of(server, ALICE, "Alice")
        await PhonePeer.of(server, BOB)
        client = await online(server, add_device(server, ALICE, 1))
        await alice.send_text(f"{BOB}@s.whatsapp.net", "from the phone")
        dsm = await client.expect("message")
        assert dsm.attrs["from"] == f"{ALICE}@s.whatsapp.net"  # device 0
        assert dsm.attrs["recipient"] == f"{BOB}@s.whatsapp.net"
        assert dsm.get_child("device-identity") is not None  # pkmsg: identity attached
        await client.close()
