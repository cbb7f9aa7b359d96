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

from tests.conftest import Oracle
from tests.interop.fake_server_driver import BaileysClient, Event
from wamd.testing import FakeServer, ServerThread

pytestmark = pytest.mark.interop

ALICE = "15550001111"
BOB = "15550002222"
CAROL = "15550003333"

DELIVERY_ACK = 3
READ = 4


@pytest.fixture
def srv() -> Iterator[ServerThread]:
    with FakeServer.start_in_thread() as thread:
        yield thread


@pytest.fixture
def baileys(oracle: Oracle, srv: ServerThread) -> Iterator[Callable[..., BaileysClient]]:
    oracle.call("bc_take_stray")

    def start(folder: Path, **options: Any) -> BaileysClient:
        return BaileysClient(oracle, srv, folder, **options)

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
    """The enc types of the stanzas the server delivered for ``msg_id`` to ``number``:1."""
    return srv.call(
        lambda: [
            enc.attrs["type"]
            for d in srv.server.messaging.deliveries
            if d.node.tag == "message"
            and d.node.attrs["id"] == msg_id
            and (d.phone_number, d.device) == (number, 1)
            for enc in d.node.children("enc")
        ]
    )


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
