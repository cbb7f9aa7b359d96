"""The dirty-groups refresh: ``<ib><dirty type="groups">`` makes the client re-read its groups.

Three wamd clients on one FakeServer. The server changes groups behind the clients' backs
(no ``w:gp2`` notification), then sends the dirty bit; what Alice sent back (the server's
transcript), her cache, her events and her next sends show that she refreshed every group
from one ``participating`` query, forgot the groups she is no longer in, replaced her
sender key where a holder of it had left, and reported the bit clean.
"""

from __future__ import annotations

import asyncio

import pytest

import wamd
from tests.integration.client_helpers import pn, received
from tests.integration.test_client_groups import (
    ALICE,
    BOB,
    CAROL,
    delivered_to,
    metadata_queries,
    skdm_targets,
    trio,
)
from tests.integration.test_client_messaging import Peer, wait_text
from wamd.binary import Node
from wamd.testing import FakeServer

__all__ = ["trio"]  # the fixture, imported for these tests

DIRTY = "urn:xmpp:whatsapp:dirty"


def participating_queries(srv: FakeServer, number: str) -> list[int]:
    """Positions (in what ``number`` sent) of its ``participating`` queries."""
    return [
        i
        for i, node in enumerate(received(srv, number))
        if node.tag == "iq"
        and node.attrs.get("xmlns") == "w:g2"
        and node.get_child("participating") is not None
    ]


def cleans(srv: FakeServer, number: str) -> list[tuple[int, Node]]:
    """Positions and nodes of the dirty-bit ``clean`` iqs ``number`` sent."""
    return [
        (i, node)
        for i, node in enumerate(received(srv, number))
        if node.tag == "iq" and node.attrs.get("xmlns") == DIRTY
    ]


async def wait_clean(srv: FakeServer, number: str, count: int = 1) -> Node:
    await srv.wait_for(lambda: len(cleans(srv, number)) >= count, timeout=10)
    return cleans(srv, number)[count - 1][1]


async def test_dirty_groups_refreshes_the_cache_and_reports_clean(
    trio: tuple[FakeServer, Peer, Peer, Peer],
) -> None:
    srv, alice, bob, carol = trio
    accounts = srv.accounts
    grown = srv.groups.create(accounts[BOB], "grown", [accounts[ALICE]])
    same = srv.groups.create(accounts[BOB], "same", [accounts[ALICE]])
    left = srv.groups.create(accounts[BOB], "left", [accounts[ALICE]])
    for group in (grown, same, left):
        await alice.conn.group_metadata(group.jid)
    # Behind Alice's back: Carol joins one group, Alice is out of another, a new one.
    grown.members[CAROL] = ""
    del left.members[ALICE]
    new = srv.groups.create(accounts[CAROL], "new", [accounts[ALICE]])
    before = {g: metadata_queries(srv, ALICE, g) for g in (grown.jid, same.jid, new.jid)}

    assert await srv.send_dirty(ALICE, 1, "groups", 1795440000)
    clean = await wait_clean(srv, ALICE)
    assert clean.attrs["type"] == "set" and clean.attrs["to"] == "@s.whatsapp.net"
    assert [(c.tag, c.attrs) for c in clean.children()] == [("clean", {"type": "groups"})]
    queries = participating_queries(srv, ALICE)
    assert len(queries) == 1 and queries[0] < cleans(srv, ALICE)[0][0]
    assert srv.iq_errors == [] and srv.unknown_iqs == []

    cache = alice.conn.groups.cache
    assert left.jid not in cache
    assert new.jid in cache and grown.jid in cache and same.jid in cache
    refreshed = cache.get(grown.jid)
    assert refreshed is not None
    assert pn(CAROL) in {p.phone_number for p in refreshed.participants}

    upserts = {e.metadata.id: e for e in alice.events.of(wamd.GroupUpsert)}
    assert set(upserts) == {grown.jid, new.jid}  # "same" did not change: not announced
    assert upserts[new.jid].metadata.subject == "new" and upserts[new.jid].author is None
    gone = [e for e in alice.events.of(wamd.GroupParticipantsUpdate) if e.group == left.jid]
    assert len(gone) == 1
    assert (gone[0].action, gone[0].author, gone[0].timestamp) == ("remove", None, 1795440000)
    assert [p.phone_number for p in gone[0].participants] == [pn(ALICE)]
    assert gone[0].participants[0].jid == accounts[ALICE].lid_jid()

    sent = await alice.conn.send_text(grown.jid, "carol is in")
    got = await wait_text(carol, "carol is in")
    assert got.id == sent
    await alice.conn.send_text(new.jid, "in the new one")
    await wait_text(carol, "in the new one")
    after = {g: metadata_queries(srv, ALICE, g) for g in (grown.jid, same.jid, new.jid)}
    assert after == before  # every send used the refreshed cache
    await wait_text(bob, "carol is in")


async def test_a_member_gone_unnoticed_gets_no_later_message(
    trio: tuple[FakeServer, Peer, Peer, Peer],
) -> None:
    srv, alice, bob, carol = trio
    accounts = srv.accounts
    group = srv.groups.create(accounts[BOB], "three", [accounts[ALICE], accounts[CAROL]])
    first = await alice.conn.send_text(group.jid, "to all three")
    await wait_text(carol, "to all three")
    assert accounts[CAROL].lid_jid(1) in skdm_targets(srv, ALICE, first)
    second = await alice.conn.send_text(group.jid, "key already shared")
    assert skdm_targets(srv, ALICE, second) == set()
    await wait_text(carol, "key already shared")

    del group.members[CAROL]  # no notification: only the dirty bit tells Alice
    assert await srv.send_dirty(ALICE, 1, "groups")
    await wait_clean(srv, ALICE)
    third = await alice.conn.send_text(group.jid, "carol left")
    await wait_text(bob, "carol left")
    targets = skdm_targets(srv, ALICE, third)
    assert accounts[BOB].lid_jid(1) in targets  # a new sender key, given again
    assert not any(t.startswith(accounts[CAROL].lid) for t in targets)
    assert not delivered_to(srv, third, CAROL)
    await asyncio.sleep(0.2)
    assert "carol left" not in [m.text for m in carol.events.of(wamd.Message)]


async def test_a_change_that_overtakes_the_answer_is_not_overwritten(
    trio: tuple[FakeServer, Peer, Peer, Peer],
) -> None:
    srv, alice, bob, _ = trio
    group = srv.groups.create(srv.accounts[BOB], "before", [srv.accounts[ALICE]])
    await alice.conn.group_metadata(group.jid)
    conn = srv.connection_of(ALICE, 1)
    assert conn is not None
    original = conn.send

    async def send(node: Node) -> bool:
        # Hold the (already built) participating answer back until Bob's renaming
        # reached Alice: the answer still names the old subject.
        if node.tag == "iq" and node.get_child("groups") is not None:
            await bob.conn.groups.set_subject(group.jid, "after")
            await alice.events.wait_for(wamd.GroupUpdate)
        return await original(node)

    conn.send = send  # type: ignore[method-assign]
    assert await srv.send_dirty(ALICE, 1, "groups")
    await wait_clean(srv, ALICE)
    cached = alice.conn.groups.cache.get(group.jid)
    assert cached is None or cached.subject == "after"
    assert (await alice.conn.group_metadata(group.jid)).subject == "after"
    assert [e.metadata.id for e in alice.events.of(wamd.GroupUpsert)] == []


async def test_a_failed_refresh_leaves_the_bit_dirty(
    trio: tuple[FakeServer, Peer, Peer, Peer],
) -> None:
    srv, alice, _, _ = trio
    group = srv.groups.create(srv.accounts[BOB], "kept", [srv.accounts[ALICE]])
    await alice.conn.group_metadata(group.jid)
    conn = srv.connection_of(ALICE, 1)
    assert conn is not None
    original = conn.send

    async def send(node: Node) -> bool:
        if node.tag == "iq" and node.get_child("groups") is not None:
            error = Node("error", {"code": "500", "text": "internal-server-error"})
            attrs = {k: v for k, v in node.attrs.items() if k != "type"}
            node = Node("iq", {**attrs, "type": "error"}, [error])
        return await original(node)

    conn.send = send  # type: ignore[method-assign]
    assert await srv.send_dirty(ALICE, 1, "groups")
    await srv.wait_for(lambda: len(participating_queries(srv, ALICE)) == 1)
    await asyncio.sleep(0.3)
    assert cleans(srv, ALICE) == []
    assert group.jid in alice.conn.groups.cache  # nothing learnt, nothing forgotten
    conn.send = original  # type: ignore[method-assign]
    assert await srv.send_dirty(ALICE, 1, "groups")
    await wait_clean(srv, ALICE)
    assert alice.conn.is_connected


@pytest.mark.parametrize("kind", ["account_sync", "something_else"])
async def test_other_dirty_bits_do_not_refresh_groups(
    trio: tuple[FakeServer, Peer, Peer, Peer], kind: str
) -> None:
    srv, alice, _, _ = trio
    assert await srv.send_dirty(ALICE, 1, kind, 1795440000)
    await asyncio.sleep(0.3)
    assert participating_queries(srv, ALICE) == []
    kinds = [clean.attrs.get("type") for _, iq in cleans(srv, ALICE) for clean in iq.children()]
    assert "groups" not in kinds
    assert alice.events.of(wamd.GroupUpsert) == []
