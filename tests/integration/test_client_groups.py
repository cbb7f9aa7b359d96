"""Group metadata cached by the client and kept fresh by ``w:gp2`` notifications.

Three wamd clients (Alice, Bob, Carol) on one FakeServer. What the server received from
each client (its transcript) shows how many metadata queries were sent and that every
notification was acked; what each client decrypted shows who got the messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

import wamd
from tests.integration.client_helpers import pn, received
from tests.integration.test_client_messaging import Peer, linked, start, wait_text
from wamd.binary import Node
from wamd.client.group_metadata import participant_hash
from wamd.errors import MessageRejectedError, QueryError
from wamd.testing import FakeServer
from wamd.testing.groups import Group

ALICE = "15550001111"
BOB = "15550002222"
CAROL = "15550003333"


@pytest.fixture
async def trio() -> AsyncIterator[tuple[FakeServer, Peer, Peer, Peer]]:
    async with FakeServer() as srv:
        alice = await start(srv, await linked(srv, ALICE, "Alice"), ALICE)
        bob = await start(srv, await linked(srv, BOB, "Bob"), BOB)
        carol = await start(srv, await linked(srv, CAROL, "Carol"), CAROL)
        yield srv, alice, bob, carol
        for peer in (alice, bob, carol):
            await peer.conn.close()


def metadata_queries(srv: FakeServer, number: str, group: str) -> int:
    """How many ``w:g2`` metadata queries ``number`` sent for ``group``."""
    return sum(
        1
        for node in received(srv, number)
        if node.tag == "iq"
        and node.attrs.get("xmlns") == "w:g2"
        and node.attrs.get("to") == group
        and node.get_child("query") is not None
    )


def group_notifications(srv: FakeServer, number: str) -> list[Node]:
    """The ``w:gp2`` notifications the server delivered to device 1 of ``number``."""
    return [
        d.node
        for d in srv.messaging.deliveries
        if (d.phone_number, d.device) == (number, 1)
        and d.node.tag == "notification"
        and d.node.attrs.get("type") == "w:gp2"
    ]


async def wait_acked(srv: FakeServer, number: str, notification: Node) -> Node:
    """The client's ack of ``notification`` (waits for it)."""

    def find() -> Node | None:
        for node in received(srv, number):
            if node.tag == "ack" and node.attrs.get("id") == notification.attrs["id"]:
                return node
        return None

    await srv.wait_for(lambda: find() is not None, timeout=10)
    found = find()
    assert found is not None
    return found


def skdm_targets(srv: FakeServer, number: str, msg_id: str) -> set[str]:
    """The device JIDs a sent group message carried a pairwise enc (our sender key) for."""
    for node in received(srv, number):
        if node.tag == "message" and node.attrs.get("id") == msg_id:
            participants = node.get_child("participants")
            if participants is None:
                return set()
            return {to.attrs["jid"] for to in participants.children("to")}
    raise AssertionError(f"message {msg_id} was not sent")


def delivered_to(srv: FakeServer, msg_id: str, number: str) -> bool:
    return any(
        d.node.tag == "message" and d.node.attrs.get("id") == msg_id and d.phone_number == number
        for d in srv.messaging.deliveries
    )


async def test_two_sends_ask_for_the_metadata_once(
    trio: tuple[FakeServer, Peer, Peer, Peer],
) -> None:
    srv, alice, bob, _ = trio
    group = srv.groups.create(srv.accounts[BOB], "cached", [srv.accounts[ALICE]])
    await alice.conn.send_text(group.jid, "first")
    await alice.conn.send_text(group.jid, "second")
    await wait_text(bob, "first")
    await wait_text(bob, "second")
    assert metadata_queries(srv, ALICE, group.jid) == 1
    meta = await alice.conn.group_metadata(group.jid)
    assert metadata_queries(srv, ALICE, group.jid) == 1
    assert meta.id == group.jid and meta.subject == "cached" and meta.addressing_mode == "lid"
    by_pn = {p.phone_number: p for p in meta.participants}
    assert by_pn[pn(BOB)].superadmin and by_pn[pn(BOB)].admin
    assert not by_pn[pn(ALICE)].admin
    assert meta.creator == srv.accounts[BOB].lid_jid()
    refreshed = await alice.conn.group_metadata(group.jid, refresh=True)
    assert refreshed == meta and metadata_queries(srv, ALICE, group.jid) == 2


async def test_concurrent_callers_share_one_query(
    trio: tuple[FakeServer, Peer, Peer, Peer],
) -> None:
    srv, alice, _, _ = trio
    group = srv.groups.create(srv.accounts[BOB], "together", [srv.accounts[ALICE]])
    first, second, third = await asyncio.gather(
        *(alice.conn.group_metadata(group.jid) for _ in range(3))
    )
    assert first == second == third
    assert metadata_queries(srv, ALICE, group.jid) == 1


async def test_added_member_gets_the_next_message_without_a_new_query(
    trio: tuple[FakeServer, Peer, Peer, Peer],
) -> None:
    srv, alice, bob, carol = trio
    group = srv.groups.create(srv.accounts[BOB], "growing", [srv.accounts[ALICE]])
    await alice.conn.send_text(group.jid, "before carol")
    await wait_text(bob, "before carol")

    result = await bob.conn.groups.update_participants(group.jid, [pn(CAROL)], "add")
    assert result == {pn(CAROL): ""}
    event = await alice.events.wait_for(wamd.GroupParticipantsUpdate)
    assert event.group == group.jid and event.action == "add"
    assert [p.phone_number for p in event.participants] == [pn(CAROL)]
    assert event.author == srv.accounts[BOB].lid_jid()
    note = group_notifications(srv, ALICE)[-1]
    ack = await wait_acked(srv, ALICE, note)
    assert ack.attrs == {
        "id": note.attrs["id"],
        "to": group.jid,
        "class": "notification",
        "type": "w:gp2",
        "participant": srv.accounts[BOB].lid_jid(),
    }

    sent = await alice.conn.send_text(group.jid, "welcome carol")
    got = await wait_text(carol, "welcome carol")
    assert got.id == sent and got.chat == group.jid
    assert metadata_queries(srv, ALICE, group.jid) == 1  # the notification kept it fresh
    assert srv.accounts[CAROL].lid_jid(1) in skdm_targets(srv, ALICE, sent)
    meta = await alice.conn.group_metadata(group.jid)
    assert pn(CAROL) in {p.phone_number for p in meta.participants}


async def test_removed_member_gets_no_sender_key_and_the_key_is_replaced(
    trio: tuple[FakeServer, Peer, Peer, Peer],
) -> None:
    srv, alice, bob, carol = trio
    members = [srv.accounts[ALICE], srv.accounts[CAROL]]
    group = srv.groups.create(srv.accounts[BOB], "shrinking", members)
    first = await alice.conn.send_text(group.jid, "all three")
    await wait_text(carol, "all three")
    await wait_text(bob, "all three")
    assert srv.accounts[CAROL].lid_jid(1) in skdm_targets(srv, ALICE, first)

    await bob.conn.groups.update_participants(group.jid, [pn(CAROL)], "remove")
    event = await alice.events.wait_for(wamd.GroupParticipantsUpdate)
    assert event.action == "remove"
    assert [p.phone_number for p in event.participants] == [pn(CAROL)]
    await wait_acked(srv, ALICE, group_notifications(srv, ALICE)[-1])

    after = await alice.conn.send_text(group.jid, "carol is gone")
    await wait_text(bob, "carol is gone")
    targets = skdm_targets(srv, ALICE, after)
    assert not any(t.startswith(srv.accounts[CAROL].lid) for t in targets)
    # A fresh sender key went to Bob again, so Carol's copy of the old one is useless.
    assert srv.accounts[BOB].lid_jid(1) in targets
    assert not delivered_to(srv, after, CAROL)
    assert metadata_queries(srv, ALICE, group.jid) == 1
    await asyncio.sleep(0.2)
    assert "carol is gone" not in [m.text for m in carol.events.of(wamd.Message)]


async def test_subject_change_updates_the_cache_and_is_announced(
    trio: tuple[FakeServer, Peer, Peer, Peer],
) -> None:
    srv, alice, bob, _ = trio
    group = srv.groups.create(srv.accounts[BOB], "old name", [srv.accounts[ALICE]])
    assert (await alice.conn.group_metadata(group.jid)).subject == "old name"
    await bob.conn.groups.set_subject(group.jid, "new name")
    event = await alice.events.wait_for(wamd.GroupUpdate)
    assert (event.group, event.kind, event.subject) == (group.jid, "subject", "new name")
    assert (await alice.conn.group_metadata(group.jid)).subject == "new name"
    assert metadata_queries(srv, ALICE, group.jid) == 1
    assert (await bob.conn.group_metadata(group.jid)).subject == "new name"


async def test_created_group_is_cached_and_announced_to_members(
    trio: tuple[FakeServer, Peer, Peer, Peer],
) -> None:
    srv, alice, bob, carol = trio
    meta = await alice.conn.groups.create("made by wamd", [pn(BOB), pn(CAROL)])
    assert meta.subject == "made by wamd" and len(meta.participants) == 3
    upsert = await bob.events.wait_for(wamd.GroupUpsert)
    assert upsert.metadata.id == meta.id and upsert.metadata.subject == "made by wamd"
    await wait_acked(srv, BOB, group_notifications(srv, BOB)[-1])
    sent = await alice.conn.send_text(meta.id, "hello new group")
    await wait_text(bob, "hello new group")
    await wait_text(carol, "hello new group")
    assert metadata_queries(srv, ALICE, meta.id) == 0  # known from the create reply
    await bob.conn.send_text(meta.id, "bob answers")
    await wait_text(alice, "bob answers")
    assert metadata_queries(srv, BOB, meta.id) == 0  # known from the create notification
    assert sent


async def test_refused_send_drops_the_entry(trio: tuple[FakeServer, Peer, Peer, Peer]) -> None:
    srv, alice, bob, _ = trio
    group = srv.groups.create(srv.accounts[BOB], "refusing", [srv.accounts[ALICE]])
    await alice.conn.send_text(group.jid, "one")
    srv.messaging.reject_next(ALICE, 1, 479)
    with pytest.raises(MessageRejectedError) as info:
        await alice.conn.send_text(group.jid, "two")
    assert info.value.code == 479
    assert group.jid not in alice.conn.groups.cache
    await alice.conn.send_text(group.jid, "three")
    await wait_text(bob, "three")
    assert metadata_queries(srv, ALICE, group.jid) == 2


async def test_being_removed_forgets_the_group(trio: tuple[FakeServer, Peer, Peer, Peer]) -> None:
    srv, alice, bob, _ = trio
    group = srv.groups.create(srv.accounts[BOB], "leaving", [srv.accounts[ALICE]])
    await alice.conn.send_text(group.jid, "still here")
    await bob.conn.groups.update_participants(group.jid, [pn(ALICE)], "remove")
    event = await alice.events.wait_for(wamd.GroupParticipantsUpdate)
    assert event.action == "remove"
    assert group.jid not in alice.conn.groups.cache
    with pytest.raises(QueryError) as info:
        await alice.conn.send_text(group.jid, "not any more")
    assert info.value.code == 403


async def test_leave_and_participating(trio: tuple[FakeServer, Peer, Peer, Peer]) -> None:
    srv, alice, bob, _ = trio
    one = srv.groups.create(srv.accounts[BOB], "one", [srv.accounts[ALICE]])
    two = srv.groups.create(srv.accounts[BOB], "two", [srv.accounts[ALICE]])
    found = await alice.conn.groups.participating()
    assert {m.id for m in found} == {one.jid, two.jid}
    assert one.jid in alice.conn.groups.cache and two.jid in alice.conn.groups.cache
    await alice.conn.groups.leave(one.jid)
    assert one.jid not in alice.conn.groups.cache
    event = await bob.events.wait_for(wamd.GroupParticipantsUpdate)
    assert event.group == one.jid and event.action in ("remove", "leave")
    assert {m.id for m in await alice.conn.groups.participating()} == {two.jid}


def server_phash(srv: FakeServer, group: Group) -> str:
    """The participant hash of every device of every member, as the server sees them."""
    members = group.member_accounts(srv)
    return participant_hash(m.lid_jid(d) for m in members for d in srv.directory.device_ids(m))


def acks_carry_phash(srv: FakeServer, number: str, phash: Callable[[], str]) -> None:
    """Make the server put ``phash()`` on its message acks to device 1 of ``number``
    (as WhatsApp does; the FakeServer itself leaves it out)."""
    conn = srv.connection_of(number, 1)
    assert conn is not None
    original = conn.send

    async def send(node: Node) -> bool:
        if node.tag == "ack" and node.attrs.get("class") == "message":
            node = Node(node.tag, {**node.attrs, "phash": phash()})
        return await original(node)

    conn.send = send  # type: ignore[method-assign]


async def test_matching_participant_hash_keeps_the_entry_and_another_drops_it(
    trio: tuple[FakeServer, Peer, Peer, Peer],
) -> None:
    srv, alice, bob, carol = trio
    group = srv.groups.create(srv.accounts[BOB], "hashed", [srv.accounts[ALICE]])
    acks_carry_phash(srv, ALICE, lambda: server_phash(srv, group))
    await alice.conn.send_text(group.jid, "hash one")
    await alice.conn.send_text(group.jid, "hash two")
    assert group.jid in alice.conn.groups.cache
    assert metadata_queries(srv, ALICE, group.jid) == 1

    # Carol joins and Alice misses the notification: the server's hash gives it away.
    group.members[CAROL] = ""
    await alice.conn.send_text(group.jid, "hash three")
    assert group.jid not in alice.conn.groups.cache
    sent = await alice.conn.send_text(group.jid, "hash four")
    got = await wait_text(carol, "hash four")
    assert got.id == sent
    assert metadata_queries(srv, ALICE, group.jid) == 2
    assert group.jid in alice.conn.groups.cache
    await wait_text(bob, "hash four")


async def test_unreadable_or_unmodelled_notifications_are_acked_and_drop_the_entry(
    trio: tuple[FakeServer, Peer, Peer, Peer],
) -> None:
    srv, alice, _, _ = trio
    group = srv.groups.create(srv.accounts[BOB], "odd", [srv.accounts[ALICE]])
    await alice.conn.group_metadata(group.jid)
    attrs = {"from": group.jid, "type": "w:gp2", "t": "1795440200"}
    attrs["participant"] = srv.accounts[BOB].lid_jid()
    broken = Node("notification", {**attrs, "id": "odd.1"}, [Node("create", {})])
    assert await srv.send_to(ALICE, 1, broken)
    ack = await wait_acked(srv, ALICE, broken)
    assert ack.attrs["class"] == "notification" and ack.attrs["type"] == "w:gp2"
    assert group.jid not in alice.conn.groups.cache

    await alice.conn.group_metadata(group.jid)
    locked = Node("notification", {**attrs, "id": "odd.2"}, [Node("locked", {})])
    assert await srv.send_to(ALICE, 1, locked)
    event = await alice.events.wait_for(wamd.GroupUpdate)
    assert (event.group, event.kind, event.timestamp) == (group.jid, "locked", 1795440200)
    await wait_acked(srv, ALICE, locked)
    assert group.jid not in alice.conn.groups.cache
    assert not alice.events.of(wamd.GroupUpsert)
