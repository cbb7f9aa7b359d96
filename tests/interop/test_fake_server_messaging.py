"""Real Baileys clients message each other through wamd.testing.FakeServer (§7).

Each client is paired to its own account by a FakePhone; the server answers their usync
and pre-key fetches and routes messages and receipts between them. What Baileys reports
(messages.upsert, messages.update) is the proof that the stanzas were right: it only
shows a text it decrypted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Oracle, OracleError
from tests.interop.fake_server_driver import BaileysClient, Event
from wamd.binary import Node
from wamd.testing import ServerThread

pytestmark = pytest.mark.interop

ALICE = "15550001111"
BOB = "15550002222"
CAROL = "15550003333"

DELIVERY_ACK = 3
READ = 4


WAIT = 40.0
"""Seconds any one wait may take: generous, for a loaded machine (a pass takes far less)."""


class PatientServer(ServerThread):
    """A ServerThread whose waits default to WAIT seconds."""

    def wait_for(self, predicate: Callable[[], object], timeout: float = WAIT) -> None:
        super().wait_for(predicate, timeout)


class PatientClient(BaileysClient):
    """A BaileysClient whose waits default to WAIT seconds."""

    def wait(self, predicate: Callable[[Event], bool], timeout: float = WAIT) -> Event:
        return super().wait(predicate, timeout)

    def wait_text(self, text: str, timeout: float = WAIT) -> Event:
        return super().wait_text(text, timeout)


@pytest.fixture
def srv(request: pytest.FixtureRequest) -> Iterator[ServerThread]:
    options: dict[str, Any] = getattr(request, "param", {})
    with PatientServer(**options).start() as thread:
        yield thread


@pytest.fixture
def baileys(oracle: Oracle, srv: ServerThread) -> Iterator[Callable[..., BaileysClient]]:
    oracle.call("bc_take_stray")

    def start(folder: Path, **options: Any) -> BaileysClient:
        return PatientClient(oracle, srv, folder, **options)

    yield start
    oracle.call("bc_end_all")
    assert oracle.call("bc_take_stray") == []


def paired(
    srv: ServerThread, start: Callable[..., BaileysClient], folder: Path, number: str, name: str
) -> BaileysClient:
    """A Baileys client linked as device 1 of ``number`` (push name ``name``), open."""
    phone = srv.call(lambda: srv.server.phone(number, push_name=name))
    client = start(folder)
    srv.run(phone.scan(client.wait_qr()))
    client.wait_open()
    srv.wait_for(lambda: len(srv.server.devices(number)[1].pre_keys) > 0)
    return client


def pn(number: str) -> str:
    return f"{number}@s.whatsapp.net"


def status_of(client: BaileysClient, msg_id: str, at_least: int) -> Callable[[Event], bool]:
    def match(event: Event) -> bool:
        return (
            event["type"] == "message-update"
            and event["key"]["id"] == msg_id
            and (event.get("status") or 0) >= at_least
        )

    return match


def delivered_types(srv: ServerThread, msg_id: str, number: str) -> list[str]:
    """The enc types of the stanzas the server delivered for ``msg_id`` to ``number``:1.

    Waits for the record: the server writes it just after the send.
    """

    def types() -> list[str]:
        return [
            enc.attrs["type"]
            for d in srv.server.messaging.deliveries
            if d.node.tag == "message"
            and d.node.attrs["id"] == msg_id
            and (d.phone_number, d.device) == (number, 1)
            for enc in d.node.children("enc")
        ]

    srv.wait_for(types)
    return srv.call(types)


def test_two_baileys_exchange_texts_with_delivery_receipts(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    alice = paired(srv, baileys, tmp_path / "alice", ALICE, "Alice")
    bob = paired(srv, baileys, tmp_path / "bob", BOB, "Bob")

    first = alice.send_text(pn(BOB), "hello bob")
    got = bob.wait_text("hello bob")
    assert got["key"]["fromMe"] is False
    assert got["pushName"] == "Alice"
    assert ALICE in got["key"]["remoteJid"] + str(got["key"].get("remoteJidAlt"))
    alice.wait(status_of(alice, first["id"], DELIVERY_ACK))  # Bob's receipt reached Alice
    assert delivered_types(srv, first["id"], BOB) == ["pkmsg"]

    reply = bob.send_text(pn(ALICE), "hi alice")
    alice.wait_text("hi alice")
    bob.wait(status_of(bob, reply["id"], DELIVERY_ACK))

    second = alice.send_text(pn(BOB), "second")
    bob.wait_text("second")
    alice.wait(status_of(alice, second["id"], DELIVERY_ACK))
    assert delivered_types(srv, second["id"], BOB) == ["msg"]  # the session is established

    # the phones got their copies (DSM to the sender's own phone, and the peer's phone)
    inbox = srv.call(
        lambda: {(d.phone_number, d.node.attrs["id"]) for d in srv.server.messaging.phone_inbox}
    )
    assert (ALICE, first["id"]) in inbox and (BOB, first["id"]) in inbox
    assert srv.call(lambda: [e for e in srv.server.iq_errors]) == []


def test_read_receipt_reaches_the_sender(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    alice = paired(srv, baileys, tmp_path / "alice", ALICE, "Alice")
    bob = paired(srv, baileys, tmp_path / "bob", BOB, "Bob")
    sent = alice.send_text(pn(BOB), "please read")
    got = bob.wait_text("please read")
    alice.wait(status_of(alice, sent["id"], DELIVERY_ACK))
    bob.read([got["key"]])
    alice.wait(status_of(alice, sent["id"], READ))

    def read_receipts() -> list[Node]:
        return [
            d.node
            for d in srv.server.messaging.deliveries
            if d.node.tag == "receipt"
            and d.node.attrs.get("type") == "read"
            and (d.phone_number, d.device) == (ALICE, 1)
        ]

    srv.wait_for(read_receipts)  # recorded just after the send
    forwarded = srv.call(read_receipts)
    assert [r.attrs["id"] for r in forwarded] == [sent["id"]]
    bob_device = {f"{BOB}:1@s.whatsapp.net", f"1000{BOB}:1@lid"}
    assert forwarded[0].attrs["from"] in bob_device  # the reader's device, not its user


@pytest.mark.parametrize(
    "srv", [{}, {"offline_preview": True}], indirect=True, ids=["simple", "preview"]
)
def test_message_to_offline_client_arrives_at_its_next_login(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    alice = paired(srv, baileys, tmp_path / "alice", ALICE, "Alice")
    bob = paired(srv, baileys, tmp_path / "bob", BOB, "Bob")
    bob.end()
    srv.wait_for(lambda: srv.server.connection_of(BOB, 1) is None)

    one = alice.send_text(pn(BOB), "while you were away")
    two = alice.send_text(pn(BOB), "and another")
    srv.wait_for(lambda: len(srv.server.devices(BOB)[1].offline_queue) == 2)
    hows = srv.call(
        lambda: [
            d.how
            for d in srv.server.messaging.deliveries
            if (d.phone_number, d.device) == (BOB, 1) and d.node.tag == "message"
        ]
    )
    assert hows == ["queued", "queued"]

    back = baileys(tmp_path / "bob")
    back.wait_open()
    first = back.wait_text("while you were away")
    second = back.wait_text("and another")
    # Baileys upserts stanzas marked offline="1" as "append" (live ones as "notify")
    assert first["upsert"] == "append" and second["upsert"] == "append"
    assert back.events.index(first) < back.events.index(second)  # queue order kept
    alice.wait(status_of(alice, one["id"], DELIVERY_ACK))
    alice.wait(status_of(alice, two["id"], DELIVERY_ACK))
    srv.wait_for(lambda: srv.server.devices(BOB)[1].offline_queue == [])  # receipts = acks
    conn = srv.call(lambda: srv.server.connection_of(BOB, 1))
    assert conn is not None
    offline_ids = srv.call(
        lambda: [
            e.node.attrs["id"]
            for e in conn.transcript
            if e.direction == "out"
            and e.node.tag == "message"
            and e.node.attrs.get("offline") == "1"
        ]
    )
    assert offline_ids == [one["id"], two["id"]]
    ib = srv.call(
        lambda: {
            (e.direction, e.node.children()[0].tag)
            for e in conn.transcript
            if e.node.tag == "ib" and e.node.children()
        }
    )
    if srv.call(lambda: srv.server.offline_preview):  # announced, then fetched in batches
        assert {("out", "offline_preview"), ("in", "offline_batch")} <= ib
    else:
        assert ("out", "offline_preview") not in ib


def test_group_of_three_baileys_everyone_receives(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    names = {ALICE: "Alice", BOB: "Bob", CAROL: "Carol"}
    clients = {n: paired(srv, baileys, tmp_path / n, n, name) for n, name in names.items()}
    alice = clients[ALICE]
    meta = alice.group_create("Test Group", [pn(BOB), pn(CAROL)])
    group_jid = meta["id"]
    assert group_jid.endswith("@g.us") and meta["subject"] == "Test Group"
    assert len(meta["participants"]) == 3
    for number in (BOB, CAROL):
        clients[number].wait(lambda e: e["type"] == "group" and e["id"] == group_jid)

    for sender, name in names.items():
        text = f"{name} says hi"
        clients[sender].send_text(group_jid, text)
        for number, client in clients.items():
            if number == sender:
                continue
            got = client.wait_text(text)
            assert got["key"]["remoteJid"] == group_jid
            assert got["key"]["fromMe"] is False
            assert got["pushName"] == name

    # second round: sender keys are known now, so only skmsg goes out
    again = clients[BOB].send_text(group_jid, "round two")
    for number in (ALICE, CAROL):
        clients[number].wait_text("round two")
        assert delivered_types(srv, again["id"], number) == ["skmsg"]
    metadata = clients[CAROL].group_metadata(group_jid)
    admins = {p["id"]: p["admin"] for p in metadata["participants"]}
    assert admins[srv.call(srv.server.accounts[ALICE].lid_jid)] == "superadmin"
    assert srv.call(lambda: list(srv.server.iq_errors)) == []


def test_new_companion_is_announced_and_gets_messages_and_own_sent_copies(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    alice = paired(srv, baileys, tmp_path / "alice", ALICE, "Alice")
    bob = paired(srv, baileys, tmp_path / "bob", BOB, "Bob")
    alice.send_text(pn(BOB), "before")
    bob.wait_text("before")
    bob.send_text(pn(ALICE), "cached")  # Bob now holds Alice's device list
    alice.wait_text("cached")

    phone = srv.call(lambda: srv.server.phone(ALICE))
    alice2 = baileys(tmp_path / "alice2")
    assert srv.run(phone.scan(alice2.wait_qr())) == 2
    alice2.wait_open()
    bob_conn = srv.call(lambda: srv.server.connection_of(BOB, 1))
    assert bob_conn is not None

    def announced() -> bool:
        return any(
            e.direction == "out"
            and e.node.tag == "notification"
            and e.node.attrs.get("type") == "devices"
            for e in bob_conn.transcript
        )

    srv.wait_for(announced)
    mark = srv.call(lambda: len(bob_conn.transcript))

    bob.send_text(pn(ALICE), "to both of you")
    alice.wait_text("to both of you")
    alice2.wait_text("to both of you")
    # Bob learnt device 2 from the notification: no new usync, only its bundle fetched
    asked = srv.call(lambda: [e.node for e in bob_conn.transcript[mark:] if e.direction == "in"])
    assert [n for n in asked if n.attrs.get("xmlns") == "usync"] == []
    fetched = [
        u.attrs["jid"]
        for n in asked
        if n.attrs.get("xmlns") == "encrypt" and n.get_child("key") is not None
        for u in n.get_child("key").children("user")  # type: ignore[union-attr]
    ]
    assert fetched == [f"1000{ALICE}:2@lid"]

    sent = alice.send_text(pn(BOB), "from one")
    bob.wait_text("from one")
    copy = alice2.wait_text("from one")  # the DSM to Alice's other device
    assert copy["key"]["fromMe"] is True and copy["key"]["id"] == sent["id"]
    assert BOB in copy["key"]["remoteJid"] + str(copy["key"].get("remoteJidAlt"))


def test_retry_receipt_reaches_the_sender_and_its_resend_decrypts(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    alice = paired(srv, baileys, tmp_path / "alice", ALICE, "Alice")
    bob = paired(srv, baileys, tmp_path / "bob", BOB, "Bob")
    alice.send_text(pn(BOB), "session")
    bob.wait_text("session")

    srv.call(lambda: srv.server.messaging.damage_next(BOB, 1))
    sent = alice.send_text(pn(BOB), "second try works")
    got = bob.wait_text("second try works", timeout=30)
    assert got["key"]["id"] == sent["id"]

    def to_alice(kind: str) -> list[Any]:
        return srv.call(
            lambda: [
                d.node
                for d in srv.server.messaging.deliveries
                if (d.phone_number, d.device) == (ALICE, 1)
                and d.node.tag == "receipt"
                and d.node.attrs.get("type") == kind
            ]
        )

    retries = to_alice("retry")
    assert [r.attrs["id"] for r in retries] == [sent["id"]]
    assert retries[0].attrs["from"] in {f"{BOB}:1@s.whatsapp.net", f"1000{BOB}:1@lid"}
    assert retries[0].get_child("retry") is not None  # children forwarded

    def copies() -> list[Node]:
        return [
            d.node
            for d in srv.server.messaging.deliveries
            if (d.phone_number, d.device) == (BOB, 1) and d.node.attrs.get("id") == sent["id"]
        ]

    srv.wait_for(lambda: len(copies()) >= 2)
    resends = srv.call(copies)
    assert len(resends) == 2  # the damaged copy, then the resend
    assert [e.attrs["type"] for e in resends[1].children("enc")] == ["pkmsg", "pkmsg"]
    alice.wait(status_of(alice, sent["id"], DELIVERY_ACK))


def test_group_membership_changes_reach_baileys_and_steer_the_fan_out(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    names = {ALICE: "Alice", BOB: "Bob", CAROL: "Carol"}
    clients = {n: paired(srv, baileys, tmp_path / n, n, name) for n, name in names.items()}
    alice, bob, carol = clients[ALICE], clients[BOB], clients[CAROL]
    group_jid = alice.group_create("Club", [pn(BOB)])["id"]
    alice.send_text(group_jid, "just us")
    bob.wait_text("just us")

    added = alice.group_participants(group_jid, [pn(CAROL)], "add")
    assert [a["status"] for a in added] == ["200"]
    carol.wait(lambda e: e["type"] == "group-participants" and e["action"] == "add")
    alice.send_text(group_jid, "welcome carol")  # Carol's devices get the SKDM now
    carol.wait_text("welcome carol")
    bob.wait_text("welcome carol")
    with pytest.raises(OracleError, match="forbidden"):  # Bob is not an admin
        bob.group_participants(group_jid, [pn(CAROL)], "remove")

    bob.group_subject(group_jid, "Renamed")
    for client in (alice, carol):
        client.wait(lambda e: e["type"] == "group-update" and e.get("subject") == "Renamed")

    removed = alice.group_participants(group_jid, [pn(BOB)], "remove")
    assert [r["status"] for r in removed] == ["200"]
    bob.wait(lambda e: e["type"] == "group-participants" and e["action"] == "remove")
    last = alice.send_text(group_jid, "bob is gone")
    carol.wait_text("bob is gone")
    to_bob = srv.call(
        lambda: [
            d
            for d in srv.server.messaging.deliveries
            if d.phone_number == BOB and d.node.attrs.get("id") == last["id"]
        ]
    )
    assert to_bob == []

    carol.group_leave(group_jid)
    alice.wait(lambda e: e["type"] == "group-participants" and e["action"] in ("remove", "leave"))
    meta = alice.group_metadata(group_jid)
    assert meta["subject"] == "Renamed"
    assert [p["id"] for p in meta["participants"]] == [f"1000{ALICE}@lid"]


def test_server_refusing_a_message_marks_it_failed_in_baileys(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    alice = paired(srv, baileys, tmp_path / "alice", ALICE, "Alice")
    bob = paired(srv, baileys, tmp_path / "bob", BOB, "Bob")
    srv.call(lambda: srv.server.messaging.reject_next(ALICE, 1, 479))
    refused = alice.send_text(pn(BOB), "refused")
    update = alice.wait(
        lambda e: (
            e["type"] == "message-update"
            and e["key"]["id"] == refused["id"]
            and e.get("status") == 0
        )  # ERROR
    )
    assert update["stubParameters"] == ["479"]
    alice.send_text(pn(BOB), "accepted")
    bob.wait_text("accepted")
    assert not any(e.get("text") == "refused" for e in bob.events)


def test_typing_and_presence_reach_the_peer(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    alice = paired(srv, baileys, tmp_path / "alice", ALICE, "Alice")
    bob = paired(srv, baileys, tmp_path / "bob", BOB, "Bob")

    def state_of(who: str, state: str) -> Callable[[Event], bool]:
        def match(event: Event) -> bool:
            presences = event.get("presences") or {}
            return event["type"] == "presence" and any(
                who in jid and p.get("lastKnownPresence") == state for jid, p in presences.items()
            )

        return match

    bob.presence("composing", pn(ALICE))
    alice.wait(state_of(BOB, "composing"))
    bob.presence("paused", pn(ALICE))
    alice.wait(state_of(BOB, "available"))  # Baileys reports "paused" as available

    alice.presence_subscribe(pn(BOB))  # Bob (no push name in creds) never said available
    alice.wait(state_of(BOB, "unavailable"))
