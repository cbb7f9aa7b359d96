"""FakeServer message and receipt routing at the stanza level (fake-server.md §7.4–§7.9)."""

from __future__ import annotations

from tests.unit.testing.peers import add_device, enc, login, offline_end, online, to
from wamd.binary import Node
from wamd.testing import FakeServer

ALICE = "15550001111"
BOB = "15550002222"
A_LID = f"1000{ALICE}"
B_LID = f"1000{BOB}"
IDENTITY = Node("device-identity", {}, b"signed-identity")


def message(msg_id: str, chat: str, entries: list[Node], *top: Node) -> Node:
    """A client ``<message>`` with participants and optional top-level encs."""
    children = [*top, Node("participants", {}, entries), IDENTITY]
    return Node("message", {"id": msg_id, "to": chat, "type": "text"}, children)


async def test_one_to_one_is_acked_and_fanned_out_per_device_and_address_space() -> None:
    async with FakeServer() as server:
        a1 = add_device(server, ALICE, 1, "Alice")
        a2 = add_device(server, ALICE, 2, "Alice")
        b1 = add_device(server, BOB, 1, "Bob")
        add_device(server, BOB, 2, "Bob")  # never logs in: queued
        alice, alice2, bob = [await online(server, k) for k in (a1, a2, b1)]
        entries = [
            to(f"{ALICE}:1@s.whatsapp.net", enc("msg", b"self")),  # the sender: dropped
            to(f"{ALICE}:2@s.whatsapp.net", enc("pkmsg", b"to-a2")),
            to(f"{ALICE}@s.whatsapp.net", enc("msg", b"to-a0")),
            to(f"{B_LID}:1@lid", enc("pkmsg", b"to-b1")),
            to(f"{BOB}:2@s.whatsapp.net", enc("msg", b"to-b2")),
            to(f"{BOB}:9@s.whatsapp.net", enc("msg", b"nobody")),
        ]
        await alice.send(message("M1", f"{BOB}@s.whatsapp.net", entries))
        ack = await alice.expect("ack")
        assert ack.attrs["class"] == "message" and ack.attrs["id"] == "M1"
        assert ack.attrs["from"] == f"{BOB}@s.whatsapp.net" and ack.attrs["t"].isdigit()

        got = await bob.expect("message")  # LID-addressed: LID from, sender_pn
        assert got.attrs == {
            "id": "M1",
            "t": ack.attrs["t"],
            "type": "text",
            "notify": "Alice",
            "from": f"{A_LID}:1@lid",
            "sender_pn": f"{ALICE}@s.whatsapp.net",
        }
        assert [(c.tag, c.content) for c in got.children()] == [
            ("enc", b"to-b1"),
            ("device-identity", b"signed-identity"),
        ]
        dsm = await alice2.expect("message")  # own other device: recipient + peer LID
        assert dsm.attrs["from"] == f"{ALICE}:1@s.whatsapp.net"
        assert dsm.attrs["recipient"] == f"{BOB}@s.whatsapp.net"
        assert dsm.attrs["peer_recipient_lid"] == f"{B_LID}@lid"
        assert "sender_lid" not in dsm.attrs and "sender_pn" not in dsm.attrs

        await server.wait_for(lambda: len(server.messaging.deliveries) == 5)  # recorded after send
        hows = {(d.phone_number, d.device): d.how for d in server.messaging.deliveries}
        assert hows == {
            (ALICE, 2): "live",
            (ALICE, 0): "phone",
            (BOB, 1): "live",
            (BOB, 2): "queued",
            (BOB, 9): "dropped",  # no such device: recorded, the sender still acked
        }
        queued = server.devices(BOB)[2].offline_queue
        assert len(queued) == 1 and queued[0].attrs["sender_lid"] == f"{A_LID}@lid"
        assert [c.tag for c in queued[0].children()] == ["enc"]  # msg only: no identity
        for client in (alice, alice2, bob):
            await client.close()


async def test_device_addressed_resend_gets_top_level_and_participant_enc_together() -> None:
    async with FakeServer() as server:
        a1, b1 = add_device(server, ALICE, 1), add_device(server, BOB, 1)
        alice, bob = await online(server, a1), await online(server, b1)
        resend = message(
            "M2",
            f"{BOB}:1@s.whatsapp.net",
            [to(f"{BOB}:1@s.whatsapp.net", enc("pkmsg", b"entry"))],
            enc("pkmsg", b"top"),
        )
        await alice.send(resend)
        got = await bob.expect("message")
        assert [c.content for c in got.children("enc")] == [b"entry", b"top"]
        assert got.attrs["sender_lid"] == f"{A_LID}@lid"
        await alice.close()
        await bob.close()


async def test_receipts_go_back_to_the_named_device_or_every_device_of_a_user() -> None:
    async with FakeServer() as server:
        a1, b1 = add_device(server, ALICE, 1), add_device(server, BOB, 1)
        add_device(server, ALICE, 2)
        alice, bob = await online(server, a1), await online(server, b1)
        await bob.send(Node("receipt", {"id": "M3", "to": f"{ALICE}:1@s.whatsapp.net"}))
        assert (await bob.expect("ack")).attrs == {
            "class": "receipt",
            "id": "M3",
            "from": f"{ALICE}:1@s.whatsapp.net",
        }
        delivered = await alice.expect("receipt")
        assert delivered.attrs["from"] == f"{BOB}:1@s.whatsapp.net"
        assert delivered.attrs["id"] == "M3" and delivered.attrs["t"].isdigit()
        assert "type" not in delivered.attrs

        # "inactive" is forwarded without its type (Baileys counts only no-type as delivered)
        inactive = {"id": "M4", "to": f"{A_LID}:1@lid", "type": "inactive"}
        await bob.send(Node("receipt", inactive))
        delivered = await alice.expect("receipt")
        assert delivered.attrs["from"] == f"{B_LID}:1@lid" and "type" not in delivered.attrs

        # read to the user JID: every device of Alice (phone, online 1, offline 2)
        items = Node("list", {}, [Node("item", {"id": "M6"})])
        read = {"id": "M5", "to": f"{ALICE}@s.whatsapp.net", "type": "read", "t": "1700000000"}
        await bob.send(Node("receipt", read, [items]))
        delivered = await alice.expect("receipt")
        assert delivered.attrs == {
            "id": "M5",
            "t": "1700000000",
            "from": f"{BOB}:1@s.whatsapp.net",
            "type": "read",
        }
        assert [i.attrs["id"] for i in delivered.children("list")[0].children()] == ["M6"]
        await server.wait_for(lambda: len(server.devices(ALICE)[2].offline_queue) == 1)
        assert any(d.node.attrs["id"] == "M5" for d in server.messaging.phone_inbox)
        await alice.close()
        await bob.close()


async def test_offline_messages_and_receipts_share_one_queue_and_leave_it_on_ack() -> None:
    async with FakeServer() as server:
        a1, b1 = add_device(server, ALICE, 1), add_device(server, BOB, 1)
        alice = await online(server, a1)
        entry = [to(f"{BOB}:1@s.whatsapp.net", enc("pkmsg", b"x"))]
        await alice.send(message("M7", f"{BOB}@s.whatsapp.net", entry))
        await alice.send(Node("receipt", {"id": "M0", "to": f"{BOB}:1@s.whatsapp.net"}))
        await server.wait_for(lambda: len(server.devices(BOB)[1].offline_queue) == 2)

        bob = await login(server, b1)
        queued = await offline_end(bob)
        assert [(n.tag, n.attrs["id"], n.attrs["offline"]) for n in queued] == [
            ("message", "M7", "1"),
            ("receipt", "M0", "1"),
        ]
        await bob.send(Node("receipt", {"id": "M7", "to": f"{ALICE}:1@s.whatsapp.net"}))
        await bob.send(
            Node("ack", {"id": "M0", "class": "receipt", "to": f"{ALICE}:1@s.whatsapp.net"})
        )
        await server.wait_for(lambda: server.devices(BOB)[1].offline_queue == [])
        assert (await alice.expect("receipt")).attrs["id"] == "M7"
        await alice.close()
        await bob.close()


async def test_damage_next_spoils_only_the_next_message_to_that_device() -> None:
    async with FakeServer() as server:
        a1, b1 = add_device(server, ALICE, 1), add_device(server, BOB, 1)
        alice, bob = await online(server, a1), await online(server, b1)
        server.messaging.damage_next(BOB, 1)
        for msg_id in ("D1", "D2"):
            entry = [to(f"{BOB}:1@s.whatsapp.net", enc("msg", b"\x01\x02\x03"))]
            await alice.send(message(msg_id, f"{BOB}@s.whatsapp.net", entry))
        first, second = await bob.expect("message"), await bob.expect("message")
        assert first.children("enc")[0].content == b"\x01\x02\xfc"
        assert second.children("enc")[0].content == b"\x01\x02\x03"
        await alice.close()
        await bob.close()


async def test_linked_and_unlinked_devices_are_announced_to_connected_devices() -> None:
    async with FakeServer() as server:
        a1, b1 = add_device(server, ALICE, 1), add_device(server, BOB, 1)
        alice, bob = await online(server, a1), await online(server, b1)
        add_device(server, BOB, 2)
        told = await server.messaging.announce_devices(server.accounts[BOB], "add", 2)
        assert told == 2  # Alice's device and Bob's own device 1
        for client in (alice, bob):
            note = await client.expect("notification")
            assert note.attrs["type"] == "devices"
            assert note.attrs["from"] == f"{BOB}@s.whatsapp.net"
            assert note.attrs["lid"] == f"{B_LID}@lid"
            add = note.get_child("add")
            assert add is not None and add.attrs["device_hash"].startswith("2:")
            device = add.get_child("device")
            assert device is not None and device.attrs == {
                "jid": f"{BOB}:2@s.whatsapp.net",
                "lid": f"{B_LID}:2@lid",
                "key-index": "2",
            }
            assert add.get_child("key-index-list") is not None

        assert await server.phone(BOB).unlink(2)
        note = await alice.expect("notification")
        remove = note.get_child("remove")
        assert remove is not None
        assert remove.children("device")[0].attrs["jid"] == f"{BOB}:2@s.whatsapp.net"
        await alice.close()
        await bob.close()


async def test_malformed_and_unroutable_stanzas_are_survived() -> None:
    async with FakeServer() as server:
        a1, b1 = add_device(server, ALICE, 1), add_device(server, BOB, 1)
        alice, bob = await online(server, a1), await online(server, b1)
        await alice.send(Node("message", {"to": f"{BOB}@s.whatsapp.net"}))  # no id: ignored
        await alice.send(Node("receipt", {"id": "R1", "to": "not a jid"}))
        bad_entry = [Node("to", {}, [enc("msg", b"x")]), to("junk@@", enc("msg", b"y"))]
        await alice.send(message("M8", f"{BOB}@s.whatsapp.net", bad_entry))
        await alice.send(message("M9", "1203630999@g.us", [], enc("skmsg", b"z")))
        acks = [(await alice.expect("ack")).attrs for _ in range(3)]
        assert [(a["class"], a["id"]) for a in acks] == [
            ("receipt", "R1"),
            ("message", "M8"),
            ("message", "M9"),  # unknown group: acked, delivered to nobody
        ]
        assert server.messaging.deliveries == []
        entry = [to(f"{BOB}:1@s.whatsapp.net", enc("msg", b"ok"))]
        await alice.send(message("M10", f"{BOB}@s.whatsapp.net", entry))
        assert (await bob.expect("message")).attrs["id"] == "M10"  # still routing
        await alice.close()
        await bob.close()


async def test_no_delivery_records_when_transcripts_are_off() -> None:
    async with FakeServer(record_transcripts=False) as server:
        a1, b1 = add_device(server, ALICE, 1), add_device(server, BOB, 1)
        alice, bob = await online(server, a1), await online(server, b1)
        entry = [to(f"{BOB}:1@s.whatsapp.net", enc("msg", b"ok"))]
        await alice.send(message("M11", f"{BOB}@s.whatsapp.net", entry))
        assert (await bob.expect("message")).attrs["id"] == "M11"
        assert server.messaging.deliveries == [] and server.messaging.phone_inbox == []
        await alice.close()
        await bob.close()


async def test_presence_subscription_and_chatstates_are_forwarded_live() -> None:
    async with FakeServer() as server:
        a1, b1 = add_device(server, ALICE, 1), add_device(server, BOB, 1)
        alice, bob = await online(server, a1), await online(server, b1)
        await alice.send(Node("presence", {"to": f"{B_LID}@lid", "type": "subscribe", "id": "p1"}))
        first = await alice.expect("presence")
        assert first.attrs == {"from": f"{B_LID}@lid", "type": "unavailable", "last": "deny"}
        await bob.send(Node("presence", {"name": "Bobby", "type": "available"}))
        now = await alice.expect("presence")
        assert now.attrs == {"from": f"{B_LID}@lid", "type": "available"}
        assert server.accounts[BOB].push_name == "Bobby"
        await bob.send(Node("presence", {"name": "Bobby", "type": "unavailable"}))
        gone = await alice.expect("presence")
        assert gone.attrs["type"] == "unavailable" and gone.attrs["last"].isdigit()

        typing = Node(
            "chatstate",
            {"from": f"{BOB}:1@s.whatsapp.net", "to": f"{ALICE}@s.whatsapp.net"},
            [Node("composing", {})],
        )
        await bob.send(typing)
        state = await alice.expect("chatstate")
        assert state.attrs == {"from": f"{BOB}@s.whatsapp.net"}
        assert [c.tag for c in state.children()] == ["composing"]
        assert server.messaging.deliveries == []  # ephemeral: never routed or queued
        await alice.close()
        await bob.close()
