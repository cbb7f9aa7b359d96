"""A wamd client in a group a Baileys client runs: its cache follows Baileys' admin changes.

Baileys (Alice) creates the group, adds and removes a second wamd client (Carol); wamd
(Bob) learns each change from the server's ``w:gp2`` notifications alone, sends with no
metadata query, and Baileys decrypts what wamd sends with the sender key wamd replaced
after the removal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import wamd
from tests.conftest import Oracle
from tests.integration.client_helpers import FAST_RECONNECT, Recorder
from tests.interop.fake_server_driver import BaileysClient
from tests.interop.test_client_baileys_messaging import ALICE, BOB, pn, text_event
from wamd.binary import Node
from wamd.testing import FakeServer, ServerThread

pytestmark = pytest.mark.interop

CAROL = "15550003333"


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


async def wamd_client(
    srv: ServerThread, number: str, name: str
) -> tuple[wamd.Connection, Recorder]:
    """A wamd client linked by QR as device 1 of ``number``, logged in."""
    phone = srv.call(lambda: srv.server.phone(number, push_name=name))
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


def sent_by(srv: ServerThread, number: str) -> list[Any]:
    """Every stanza the server received from device 1 of ``number``."""

    def collect() -> list[Any]:
        account = srv.server.accounts[number]
        return [
            entry.node
            for conn in srv.server.connections
            if conn.account is account and conn.device_id == 1
            for entry in conn.transcript
            if entry.direction == "in"
        ]

    return srv.call(collect)


def metadata_queries(srv: ServerThread, number: str) -> int:
    return sum(
        1
        for node in sent_by(srv, number)
        if node.tag == "iq"
        and node.attrs.get("xmlns") == "w:g2"
        and node.get_child("query") is not None
    )


def skdm_users(srv: ServerThread, number: str, msg_id: str) -> set[str]:
    """The users (LID user part) a sent group message carried our sender key for."""
    for node in sent_by(srv, number):
        if node.tag == "message" and node.attrs.get("id") == msg_id:
            holder = node.get_child("participants")
            jids = [to.attrs["jid"] for to in holder.children("to")] if holder else []
            return {j.partition("@")[0].partition(":")[0] for j in jids}
    raise AssertionError(f"{number} never sent {msg_id}")


async def wait_event(recorder: Recorder, kind: type[Any], match: Any, count: int = 1) -> Any:
    while True:
        await recorder.wait_for(kind, count, 15)
        for event in recorder.of(kind):
            if match(event):
                return event
        count += 1


def test_wamd_follows_a_baileys_admin(srv: ServerThread, alice: BaileysClient) -> None:
    async def scenario() -> None:
        bob, bob_events = await wamd_client(srv, BOB, "Bob")
        carol, carol_events = await wamd_client(srv, CAROL, "Carol")
        try:
            meta = await asyncio.to_thread(alice.group_create, "mixed", [pn(BOB)])
            group = str(meta["id"])
            upsert = await bob_events.wait_for(wamd.GroupUpsert)
            assert upsert.metadata.id == group and upsert.metadata.subject == "mixed"
            assert {p.phone_number for p in upsert.metadata.participants} == {pn(ALICE), pn(BOB)}

            first = await bob.send_text(group, "bob to alice")
            await asyncio.to_thread(alice.wait_text, "bob to alice")
            assert f"1000{ALICE}" in skdm_users(srv, BOB, first)

            added = await asyncio.to_thread(alice.group_participants, group, [pn(CAROL)], "add")
            assert [a["status"] for a in added] == ["200"]
            await wait_event(bob_events, wamd.GroupParticipantsUpdate, lambda e: e.action == "add")
            welcome = await bob.send_text(group, "welcome carol")
            got = await text_event(carol_events, "welcome carol")
            assert got.id == welcome and got.chat == group
            await asyncio.to_thread(alice.wait_text, "welcome carol")

            removed = await asyncio.to_thread(
                alice.group_participants, group, [pn(CAROL)], "remove"
            )
            assert [r["status"] for r in removed] == ["200"]
            await wait_event(
                bob_events, wamd.GroupParticipantsUpdate, lambda e: e.action == "remove"
            )
            after = await bob.send_text(group, "carol has gone")
            # Baileys takes wamd's new sender key and decrypts with it.
            await asyncio.to_thread(alice.wait_text, "carol has gone")
            assert skdm_users(srv, BOB, after) == {f"1000{ALICE}", f"1000{BOB}"}  # + our phone
            assert metadata_queries(srv, BOB) == 0
            await asyncio.sleep(0.3)
            assert "carol has gone" not in [m.text for m in carol_events.of(wamd.Message)]
        finally:
            await bob.close()
            await carol.close()

    asyncio.run(asyncio.wait_for(scenario(), 120))


def test_dirty_groups_baileys_and_wamd_answer_alike(
    srv: ServerThread, alice: BaileysClient
) -> None:
    """The server's dirty-groups bit: Baileys and wamd both ask ``participating``, then
    send the same ``clean``; both learn the group the server made behind their backs."""
    dirty = "urn:xmpp:whatsapp:dirty"

    def answer_of(number: str) -> tuple[list[Node], Node]:
        nodes = [n for n in sent_by(srv, number) if n.tag == "iq"]
        asks = [n for n in nodes if n.get_child("participating") is not None]
        clean = [n for n in nodes if n.attrs.get("xmlns") == dirty]
        assert len(asks) == 1 and len(clean) == 1
        assert nodes.index(asks[0]) < nodes.index(clean[0])
        return asks, clean[0]

    def shape(node: Node) -> tuple[str, dict[str, str], list[Any]]:
        attrs = {k: v for k, v in node.attrs.items() if k != "id"}
        return node.tag, attrs, [shape(c) for c in node.children()]

    def cleaned(number: str) -> bool:  # evaluated on the server's loop
        return any(
            e.direction == "in" and e.node.attrs.get("xmlns") == dirty
            for c in srv.server.connections
            if c.account is srv.server.accounts[number] and c.device_id == 1
            for e in c.transcript
        )

    async def scenario() -> None:
        bob, bob_events = await wamd_client(srv, BOB, "Bob")
        try:
            accounts = srv.server.accounts
            group = srv.call(
                lambda: srv.server.groups.create(accounts[BOB], "unannounced", [accounts[ALICE]])
            )
            for number in (ALICE, BOB):
                assert srv.run(srv.server.send_dirty(number, 1, "groups", 1795440000))
            for number in (ALICE, BOB):
                await asyncio.to_thread(srv.wait_for, partial(cleaned, number))
            baileys_asks, baileys_clean = answer_of(ALICE)
            wamd_asks, wamd_clean = answer_of(BOB)
            assert [shape(n) for n in wamd_asks] == [shape(n) for n in baileys_asks]
            assert shape(wamd_clean) == shape(baileys_clean)
            assert shape(wamd_clean)[2] == [("clean", {"type": "groups"}, [])]
            await asyncio.to_thread(
                alice.wait,
                lambda e: e.get("type") == "group-update" and e.get("id") == group.jid,
            )
            upsert = await wait_event(
                bob_events, wamd.GroupUpsert, lambda e: e.metadata.id == group.jid
            )
            assert upsert.metadata.subject == "unannounced"
            assert srv.call(lambda: srv.server.iq_errors) == []
        finally:
            await bob.close()

    asyncio.run(asyncio.wait_for(scenario(), 120))
