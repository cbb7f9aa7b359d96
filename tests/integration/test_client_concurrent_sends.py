"""Concurrent sends to one chat share the device list, the sessions and the sender key.

Regression (found by the many-accounts soak test, which sends to each peer concurrently):
every send to a chat we had no session with asked for its device list and fetched its
pre-key bundles itself, so five sends at once made five usync queries and five key
fetches, used up five one-time pre-keys of every device of the peer and began five
sessions. Sends to one chat now build their stanzas one after another.
"""

from __future__ import annotations

import asyncio

import wamd
from tests.integration.client_helpers import received
from tests.integration.test_client_messaging import linked, start
from wamd.testing import FakeServer

ALICE = "15550001111"
BOB = "15550002222"
CAROL = "15550003333"
SENDS = 5


def iqs(srv: FakeServer, number: str, xmlns: str, child: str) -> int:
    """How many ``xmlns`` iqs with a ``child`` element ``number`` sent."""
    return sum(
        1
        for node in received(srv, number)
        if node.tag == "iq"
        and node.attrs.get("xmlns") == xmlns
        and node.get_child(child) is not None
    )


async def test_concurrent_sends_to_a_new_peer_fetch_its_keys_once() -> None:
    async with FakeServer() as srv:
        alice = await start(srv, await linked(srv, ALICE, "Alice"), ALICE)
        bob = await start(srv, await linked(srv, BOB, "Bob"), BOB)
        try:
            texts = [f"burst {i}" for i in range(SENDS)]
            ids = await asyncio.gather(
                *(alice.conn.send_text(f"{BOB}@s.whatsapp.net", t) for t in texts)
            )
            await bob.events.wait_for(wamd.Message, SENDS)
            got = {m.id: m.text for m in bob.events.of(wamd.Message)}
            assert got == dict(zip(ids, texts, strict=True))
            assert iqs(srv, ALICE, "usync", "usync") == 1
            assert iqs(srv, ALICE, "encrypt", "key") == 1  # one key fetch for Bob's two devices
        finally:
            await alice.conn.close()
            await bob.conn.close()


async def test_concurrent_group_sends_distribute_the_sender_key_once() -> None:
    async with FakeServer() as srv:
        alice = await start(srv, await linked(srv, ALICE, "Alice"), ALICE)
        bob = await start(srv, await linked(srv, BOB, "Bob"), BOB)
        carol = await start(srv, await linked(srv, CAROL, "Carol"), CAROL)
        try:
            group = srv.groups.create(
                srv.accounts[ALICE], "burst", [srv.accounts[BOB], srv.accounts[CAROL]]
            )
            texts = [f"group burst {i}" for i in range(SENDS)]
            ids = await asyncio.gather(*(alice.conn.send_text(group.jid, t) for t in texts))
            for peer in (bob, carol):
                await peer.events.wait_for(wamd.Message, SENDS)
                got = {m.id: m.text for m in peer.events.of(wamd.Message)}
                assert got == dict(zip(ids, texts, strict=True))
            carrying_keys = [
                node.attrs["id"]
                for node in received(srv, ALICE)
                if node.tag == "message" and node.get_child("participants") is not None
            ]
            assert carrying_keys == [ids[0]]  # the first send hands out the sender key
            assert iqs(srv, ALICE, "encrypt", "key") == 1
        finally:
            for peer in (alice, bob, carol):
                await peer.conn.close()
