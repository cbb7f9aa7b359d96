"""FakeServer groups at the stanza level: create, metadata, fan-out, resends (§7.8)."""

from __future__ import annotations

from tests.unit.testing.peers import add_device, enc, online, to
from wamd.binary import Node
from wamd.testing import FakeServer

ALICE, BOB, CAROL = "15550001111", "15550002222", "15550003333"


def create_iq(subject: str, members: list[str]) -> list[Node]:
    participants = [Node("participant", {"jid": f"{m}@s.whatsapp.net"}) for m in members]
    return [Node("create", {"subject": subject, "key": "K1"}, participants)]


async def test_create_answers_the_group_node_and_tells_the_other_devices() -> None:
    async with FakeServer() as server:
        a1, a2 = add_device(server, ALICE, 1, "Alice"), add_device(server, ALICE, 2)
        b1 = add_device(server, BOB, 1)
        add_device(server, CAROL, 1)  # offline: queued
        alice, alice2, bob = [await online(server, k) for k in (a1, a2, b1)]
        iq = Node("iq", {"id": "g1", "to": "@g.us", "type": "set", "xmlns": "w:g2"})
        await alice.send(Node(iq.tag, iq.attrs, create_iq("Test Group", [BOB, CAROL])))
        reply = await alice.expect("iq")
        assert reply.attrs == {"from": "@g.us", "type": "result", "id": "g1"}
        group = reply.get_child("group")
        assert group is not None
        assert group.attrs["id"].startswith("1203630") and len(group.attrs["id"]) == 18
        assert group.attrs["subject"] == "Test Group" and group.attrs["size"] == "3"
        assert group.attrs["creator"] == f"1000{ALICE}@lid"
        assert group.attrs["creator_pn"] == f"{ALICE}@s.whatsapp.net"
        assert group.attrs["addressing_mode"] == "lid"
        members = [(p.attrs["jid"], p.attrs.get("type")) for p in group.children("participant")]
        assert members == [
            (f"1000{ALICE}@lid", "superadmin"),
            (f"1000{BOB}@lid", None),
            (f"1000{CAROL}@lid", None),
        ]
        for client in (alice2, bob):  # the creator's other device too
            note = await client.expect("notification")
            assert (
                note.attrs["type"] == "w:gp2" and note.attrs["from"] == f"{group.attrs['id']}@g.us"
            )
            assert (
                note.attrs["participant"] == f"1000{ALICE}@lid" and note.attrs["notify"] == "Alice"
            )
            create = note.get_child("create")
            assert create is not None and create.children("group")[0] == group
        await server.wait_for(lambda: len(server.devices(CAROL)[1].offline_queue) == 1)
        assert not any(
            d.node.tag == "notification" and d.device == 1 and d.phone_number == ALICE
            for d in server.messaging.deliveries
        )

        # metadata and participating answer with the same node; unknown groups are 404
        meta = await bob.query("w:g2", "get", [Node("query", {"request": "interactive"})])
        error = meta.get_child("error")  # addressed to no group: item-not-found
        assert meta.attrs["type"] == "error" and error is not None
        assert error.attrs == {"code": "404", "text": "item-not-found"}
        await bob.send(
            Node(
                "iq",
                {"id": "g2", "to": f"{group.attrs['id']}@g.us", "type": "get", "xmlns": "w:g2"},
                [Node("query", {"request": "interactive"})],
            )
        )
        meta = await bob.expect("iq")
        assert (
            meta.attrs["from"] == f"{group.attrs['id']}@g.us" and meta.get_child("group") == group
        )
        everything = await bob.query("w:g2", "get", [Node("participating", {})])
        groups = everything.get_child("groups")
        assert groups is not None and groups.children() == [group]
        for client in (alice, alice2, bob):
            await client.close()


async def test_group_message_fans_out_with_the_skdm_before_the_skmsg() -> None:
    async with FakeServer() as server:
        a1, b1, c1 = (add_device(server, n, 1, n[-4:]) for n in (ALICE, BOB, CAROL))
        add_device(server, BOB, 2)
        alice, bob, carol = [await online(server, k) for k in (a1, b1, c1)]
        group = server.groups.create(
            server.accounts[ALICE], "G", [server.accounts[BOB], server.accounts[CAROL]]
        )
        entries = [
            to(f"1000{ALICE}:1@lid", enc("pkmsg", b"self")),  # Baileys lists itself: dropped
            to(f"1000{BOB}:1@lid", enc("pkmsg", b"skdm-b1")),
        ]
        children = [
            enc("skmsg", b"group-cipher"),
            Node("participants", {}, entries),
            Node("device-identity", {}, b"id"),
        ]
        attrs = {"id": "G1", "to": group.jid, "type": "text", "addressing_mode": "lid"}
        await alice.send(Node("message", attrs, children))
        assert (await alice.expect("ack")).attrs["from"] == group.jid
        got_b = await bob.expect("message")
        assert got_b.attrs["from"] == group.jid
        assert got_b.attrs["participant"] == f"1000{ALICE}:1@lid"
        assert got_b.attrs["participant_pn"] == f"{ALICE}@s.whatsapp.net"
        assert got_b.attrs["addressing_mode"] == "lid"
        assert [c.content for c in got_b.children()] == [b"skdm-b1", b"group-cipher", b"id"]
        got_c = await carol.expect("message")
        assert [c.content for c in got_c.children()] == [b"group-cipher"]  # no pkmsg: no identity
        await server.wait_for(lambda: len(server.messaging.deliveries) == 6)  # recorded after send
        targets = sorted((d.phone_number, d.device, d.how) for d in server.messaging.deliveries)
        assert targets == [
            (ALICE, 0, "phone"),
            (BOB, 0, "phone"),
            (BOB, 1, "live"),
            (BOB, 2, "queued"),
            (CAROL, 0, "phone"),
            (CAROL, 1, "live"),
        ]

        # a group receipt goes to the author device, from the group, with the reader
        receipt = {"id": "G1", "to": group.jid, "participant": f"1000{ALICE}:1@lid"}
        await carol.send(Node("receipt", receipt))
        back = await alice.expect("receipt")
        assert back.attrs["from"] == group.jid
        assert back.attrs["participant"] == f"1000{CAROL}:1@lid"

        # a retry resend names one participant device: only it gets the stanza
        resend_attrs = {**attrs, "participant": f"1000{CAROL}:1@lid"}
        resend = [
            enc("pkmsg", b"resend"),
            Node("participants", {}, [to(f"1000{CAROL}:1@lid", enc("pkmsg", b"skdm-c1"))]),
        ]
        await server.wait_for(lambda: len(server.messaging.deliveries) == 7)  # + the receipt
        before = len(server.messaging.deliveries)
        await alice.send(Node("message", resend_attrs, resend))
        again = await carol.expect("message")
        assert [c.content for c in again.children("enc")] == [b"skdm-c1", b"resend"]
        assert again.attrs["from"] == group.jid and "participant" in again.attrs
        await server.wait_for(lambda: len(server.messaging.deliveries) == before + 1)
        for client in (alice, bob, carol):
            await client.close()


def group_iq(iq_id: str, to: str, *content: Node) -> Node:
    return Node("iq", {"id": iq_id, "to": to, "type": "set", "xmlns": "w:g2"}, list(content))


def members(action: str, *numbers: str) -> Node:
    jids = [Node("participant", {"jid": f"{n}@s.whatsapp.net"}) for n in numbers]
    return Node(action, {}, jids)


async def test_membership_changes_answer_per_participant_and_are_told() -> None:
    async with FakeServer() as server:
        a1, b1, c1 = (add_device(server, n, 1) for n in (ALICE, BOB, CAROL))
        alice, bob, carol = [await online(server, k) for k in (a1, b1, c1)]
        group = server.groups.create(server.accounts[ALICE], "G", [server.accounts[BOB]])

        await alice.send(group_iq("m1", group.jid, members("add", CAROL, BOB, "19990000000")))
        reply = await alice.expect("iq")
        answered = reply.children("add")[0].children("participant")
        assert [p.attrs.get("error") for p in answered] == [None, "409", "404"]
        for client in (bob, carol):
            note = await client.expect("notification")
            change = note.children()[0]
            assert change.tag == "add"
            assert change.children()[0].attrs == {
                "jid": f"1000{CAROL}@lid",
                "phone_number": f"{CAROL}@s.whatsapp.net",
            }
        assert list(group.members) == [ALICE, BOB, CAROL]

        await bob.send(group_iq("m2", group.jid, members("remove", CAROL)))
        denied = await bob.expect("iq")
        assert denied.attrs["type"] == "error"  # only admins change members
        await alice.send(group_iq("m3", group.jid, members("promote", BOB)))
        await alice.expect("iq")
        assert group.members[BOB] == "admin"
        await bob.send(group_iq("m4", group.jid, members("remove", CAROL)))
        assert (await bob.expect("iq")).attrs["type"] == "result"
        assert CAROL not in group.members
        await server.wait_for(
            lambda: any(
                d.phone_number == CAROL and d.node.children()[0].tag == "remove"
                for d in server.messaging.deliveries
                if d.node.tag == "notification"
            )
        )  # the removed member is told too

        subject = Node("subject", {}, b"New name")
        await bob.send(group_iq("m5", group.jid, subject))
        await bob.expect("iq")
        assert group.subject == "New name"
        leave = Node("leave", {}, [Node("group", {"id": group.jid})])
        await bob.send(group_iq("m6", "@g.us", leave))
        await bob.expect("iq")
        assert list(group.members) == [ALICE]
        for client in (alice, bob, carol):
            await client.close()
