"""A phone as a messaging peer (tests' PhonePeer on wamd.messages) with a Baileys client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Oracle
from tests.interop.fake_server_driver import BaileysClient
from tests.interop.test_fake_server_messaging import (
    DELIVERY_ACK,
    PatientClient,
    PatientServer,
    pn,
    status_of,
)
from tests.unit.testing.phone_peer import PhonePeer
from wamd.testing import ServerThread

pytestmark = pytest.mark.interop

ALICE = "15550001111"
BOB = "15550002222"


@pytest.fixture
def srv() -> Iterator[ServerThread]:
    with PatientServer().start() as thread:
        yield thread


@pytest.fixture
def baileys(oracle: Oracle, srv: ServerThread) -> Iterator[Callable[..., BaileysClient]]:
    oracle.call("bc_take_stray")

    def start(folder: Path, **options: Any) -> BaileysClient:
        return PatientClient(oracle, srv, folder, **options)

    yield start
    oracle.call("bc_end_all")
    assert oracle.call("bc_take_stray") == []


def test_baileys_and_a_phone_peer_exchange_texts(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    alice_phone = srv.call(lambda: srv.server.phone(ALICE, push_name="Alice"))
    alice_peer = srv.run(PhonePeer.of(srv.server, ALICE, "Alice"))
    bob_peer = srv.run(PhonePeer.of(srv.server, BOB, "Bob"))
    alice = baileys(tmp_path / "alice")
    srv.run(alice_phone.scan(alice.wait_qr()))
    alice.wait_open()

    sent = alice.send_text(pn(BOB), "hello phone")
    srv.wait_for(lambda: "hello phone" in bob_peer.texts())
    alice.wait(status_of(alice, sent["id"], DELIVERY_ACK))  # the phone's receipt
    got = srv.call(lambda: bob_peer.received[-1])
    assert got.id == sent["id"] and got.push_name == "Alice" and not got.from_me
    # Alice's own phone got the DSM: its own message, to Bob
    srv.wait_for(lambda: "hello phone" in alice_peer.texts())
    own = srv.call(lambda: alice_peer.received[-1])
    assert own.from_me and own.chat in {pn(BOB), f"1000{BOB}@lid"}

    reply_id = srv.run(bob_peer.send_text(pn(ALICE), "hello companion"))
    got_back = alice.wait_text("hello companion")
    assert got_back["key"]["id"] == reply_id and got_back["pushName"] == "Bob"
    srv.wait_for(lambda: any(r.attrs["id"] == reply_id for r in bob_peer.receipts))
    assert srv.call(lambda: bob_peer.failures + alice_peer.failures) == []
