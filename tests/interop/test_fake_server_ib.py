"""Server-initiated stanzas of wamd.testing.FakeServer and logout, with real Baileys clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Oracle
from tests.interop.fake_server_driver import BaileysClient
from wamd.binary import Node
from wamd.testing import FakeServer, ServerThread

pytestmark = pytest.mark.interop

PHONE = "15550001111"


@pytest.fixture
def srv() -> Iterator[ServerThread]:
    with FakeServer.start_in_thread() as thread:
        yield thread


@pytest.fixture
def paired(oracle: Oracle, srv: ServerThread, tmp_path: Path) -> Iterator[BaileysClient]:
    client = BaileysClient(oracle, srv, tmp_path / "auth")
    phone = srv.call(lambda: srv.server.phone(PHONE))
    srv.run(phone.scan(client.wait_qr()))
    client.wait_open()
    yield client
    oracle.call("bc_end_all")


def client_iqs(srv: ServerThread, xmlns: str) -> list[Node]:
    """The iqs of namespace ``xmlns`` the logged-in device has sent on its connection."""

    def collect() -> list[Node]:
        conn = srv.server.connection_of(PHONE, 1)
        assert conn is not None
        return [
            e.node
            for e in conn.transcript
            if e.direction == "in" and e.node.tag == "iq" and e.node.attrs.get("xmlns") == xmlns
        ]

    return srv.call(collect)


def test_edge_routing_comes_back_in_the_next_intro(
    srv: ServerThread, paired: BaileysClient
) -> None:
    routing = b"\x08\x02\x10\x05fake-edge"
    assert srv.run(srv.server.send_edge_routing(PHONE, 1, routing))
    paired.wait(lambda e: "routingInfo" in e.get("keys", []))
    assert srv.run(srv.server.send_stream_error(PHONE, 1, code=515))
    paired.wait(lambda e: e.get("connection") == "open" and e["socket"] == 3)
    conn = srv.call(lambda: srv.server.connection_of(PHONE, 1))
    assert conn is not None and conn.routing_info == routing
    assert srv.call(lambda: srv.server.handshake_failures) == []


def test_dirty_bits_are_cleaned_by_baileys(srv: ServerThread, paired: BaileysClient) -> None:
    assert srv.run(srv.server.send_dirty(PHONE, 1, "account_sync", 1111))
    paired.wait(lambda e: "lastAccountSyncTimestamp" in e.get("keys", []))
    assert srv.run(srv.server.send_dirty(PHONE, 1, "account_sync", 2222))
    srv.wait_for(lambda: client_iqs_ready(srv))
    clean = client_iqs(srv, "urn:xmpp:whatsapp:dirty")[0].get_child("clean")
    assert clean is not None
    assert clean.attrs == {"type": "account_sync", "timestamp": "1111"}
    assert srv.call(lambda: srv.server.iq_errors) == []


def client_iqs_ready(srv: ServerThread) -> bool:
    conn = srv.server.connection_of(PHONE, 1)
    return conn is not None and any(
        e.node.attrs.get("xmlns") == "urn:xmpp:whatsapp:dirty" for e in conn.transcript
    )


def test_prekey_low_notification_makes_baileys_upload_five(
    srv: ServerThread, paired: BaileysClient
) -> None:
    def consume() -> Any:
        device = srv.server.devices(PHONE)[1]
        for key_id in sorted(device.pre_keys)[3:]:
            del device.pre_keys[key_id]
        return device

    device = srv.call(consume)
    uploads_before = len(client_iqs(srv, "encrypt"))
    assert srv.run(srv.server.send_prekey_low(PHONE, 1))
    srv.wait_for(lambda: len(device.pre_keys) == 8)
    sets = [n for n in client_iqs(srv, "encrypt")[uploads_before:] if n.attrs["type"] == "set"]
    assert len(sets) == 1
    key_list = sets[0].get_child("list")
    assert key_list is not None and len(key_list.children("key")) == 5


def test_logout_removes_the_device_and_baileys_closes_401(
    srv: ServerThread, paired: BaileysClient
) -> None:
    paired.logout()
    assert paired.wait_close() == 401
    srv.wait_for(lambda: 1 not in srv.server.devices(PHONE))


def test_unlink_then_baileys_restart_is_refused(
    srv: ServerThread, paired: BaileysClient, oracle: Oracle
) -> None:
    phone = srv.call(lambda: srv.server.phone(PHONE))
    paired.end()
    srv.wait_for(lambda: srv.server.connection_of(PHONE, 1) is None)
    assert srv.run(phone.unlink(1))  # offline unlink: the next login is refused
    again = BaileysClient(oracle, srv, paired.folder)
    assert again.wait_close() == 401


def encrypt_count_notification(stanza_id: str) -> Node:
    """A harmless notification Baileys handles and acks (pre-key count well above 5)."""
    return Node(
        "notification",
        {"from": "@s.whatsapp.net", "type": "encrypt", "id": stanza_id, "t": "1795440125"},
        [Node("count", {"value": "50"})],
    )


@pytest.mark.parametrize("preview", [False, True])
def test_offline_queue_is_delivered_acked_and_emptied(
    oracle: Oracle, tmp_path: Path, preview: bool
) -> None:
    with FakeServer.start_in_thread(offline_preview=preview) as srv:
        client = BaileysClient(oracle, srv, tmp_path / "auth")
        phone = srv.call(lambda: srv.server.phone(PHONE))
        srv.run(phone.scan(client.wait_qr()))
        client.wait_open()
        client.end()
        srv.wait_for(lambda: srv.server.connection_of(PHONE, 1) is None)
        ids = [f"srv.off{i}" for i in range(3)]
        for stanza_id in ids:
            srv.call(
                lambda s=stanza_id: srv.server.queue_offline(  # type: ignore[misc]
                    PHONE, 1, encrypt_count_notification(s)
                )
            )
        again = BaileysClient(oracle, srv, client.folder)
        again.wait_open()
        again.wait(lambda e: e.get("receivedPendingNotifications") is True)
        device = srv.call(lambda: srv.server.devices(PHONE)[1])
        srv.wait_for(lambda: device.offline_queue == [])
        conn = srv.call(lambda: srv.server.connection_of(PHONE, 1))
        assert conn is not None
        inbound = [e.node for e in conn.transcript if e.direction == "in"]
        acked = [n.attrs["id"] for n in inbound if n.tag == "ack"]
        assert acked[:3] == ids
        out = [e.node for e in conn.transcript if e.direction == "out"]
        delivered = [n for n in out if n.tag == "notification"]
        assert [n.attrs.get("offline") for n in delivered] == ["1"] * 3
        ib_children = [n.children()[0] for n in out if n.tag == "ib"]
        assert ib_children[-1].tag == "offline" and ib_children[-1].attrs["count"] == "3"
        batches = [n for n in inbound if n.tag == "ib" and n.get_child("offline_batch")]
        assert bool(batches) is preview
        oracle.call("bc_end_all")
