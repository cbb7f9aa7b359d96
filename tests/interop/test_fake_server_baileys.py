"""Real Baileys clients pair and log in through wamd.testing.FakeServer.

The clients are makeWASocket instances inside the oracle process (ops/baileys_client.mjs)
with a useMultiFileAuthState folder each, trusting the server's test root. Python drives
the phone side (FakePhone) and polls the clients' connection.update / creds.update events.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Oracle
from tests.interop.fake_server_driver import BaileysClient
from wamd.testing import FakeServer, ServerThread

pytestmark = pytest.mark.interop

PHONE = "15550001111"


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
    assert oracle.call("bc_take_stray") == []  # no unhandled rejection inside Baileys


def pair_by_qr(srv: ServerThread, client: BaileysClient, phone_number: str = PHONE) -> int:
    """Scan the client's first QR with the phone; wait for its open login; the device id."""
    phone = srv.call(lambda: srv.server.phone(phone_number))
    device_id = srv.run(phone.scan(client.wait_qr()))
    client.wait_open()
    return device_id


def test_qr_pairing_515_login_prekeys_and_open(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    client = baileys(tmp_path / "auth")
    qr = client.wait_qr()
    conn = srv.call(lambda: srv.server.connections[0])
    assert qr.split("#")[1].split(",")[0] in conn.refs  # the QR shows a ref the server issued
    phone = srv.call(lambda: srv.server.phone(PHONE))
    device_id = srv.run(phone.scan(qr))
    assert client.wait_close(socket=1) == 515  # pair-device-sign verified, then restart
    client.wait_open()

    device = phone.devices[device_id]
    registration = conn.registration
    assert registration is not None
    assert device.identity_pub == registration.identity_pub
    assert device.noise_pub == conn.client_static
    creds = client.creds()
    assert creds["me"]["id"] == f"{PHONE}:{device_id}@s.whatsapp.net"
    assert creds["me"]["lid"] == f"{phone.account.lid}:{device_id}@lid"
    assert creds["platform"] == "android"
    assert creds["registrationId"] == device.registration_id
    # Baileys keeps the phone's account key as the identity of <lid>.0
    identity_keys = [bytes(i["identifierKey"]) for i in creds["signalIdentities"]]
    assert b"\x05" + phone.account.key.public in identity_keys
    # first login: 812 one-time pre-keys uploaded, and the server holds exactly those ids
    srv.wait_for(lambda: len(device.pre_keys) == 812)
    assert sorted(device.pre_keys) == list(range(1, creds["nextPreKeyId"]))
    assert device.logged_in_count == 1
    srv.wait_for(lambda: creds_hash(client) == "fakehash1")
    assert srv.call(lambda: srv.server.iq_errors) == []
    assert srv.call(lambda: srv.server.handshake_failures) == []
    assert srv.call(lambda: srv.server.pairing_failures) == []


def creds_hash(client: BaileysClient) -> str | None:
    """The abt props hash Baileys stored (it is set a little after open)."""
    value = client.creds()["lastPropHash"]
    return str(value) if value is not None else None


def test_restart_from_stored_folder_logs_in_without_qr(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    first = baileys(tmp_path / "auth")
    device_id = pair_by_qr(srv, first)
    first.end()
    srv.wait_for(lambda: srv.server.connection_of(PHONE, device_id) is None)

    again = baileys(tmp_path / "auth")
    again.wait_open()
    assert not any(e.get("qr") for e in again.events)
    device = srv.call(lambda: srv.server.devices(PHONE)[device_id])
    assert device.logged_in_count == 2
    conn = srv.call(lambda: srv.server.connection_of(PHONE, device_id))
    assert conn is not None
    uploads = [
        e.node
        for e in conn.transcript
        if e.direction == "in"
        and e.node.attrs.get("xmlns") == "encrypt"
        and e.node.attrs.get("type") == "set"
    ]
    assert uploads == []  # 812 keys on the server: no new upload
    assert srv.call(lambda: srv.server.logins[-1].outcome) == "success"


def test_pairing_code_links_and_opens(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    number = "15550004444"
    phone = srv.call(lambda: srv.server.phone(number))
    client = baileys(tmp_path / "auth")
    client.wait_qr()  # the registering socket is up
    code = client.request_pairing_code(number)
    assert len(code) == 8
    srv.wait_for(lambda: number in srv.server.linking.code_requests)
    srv.run(phone.enter_code(code))
    assert client.wait_close(socket=1) == 515
    client.wait_open()
    assert list(phone.devices) == [1]
    creds = client.creds()
    assert creds["registered"] is True
    assert creds["me"]["id"] == f"{number}:1@s.whatsapp.net"
    assert srv.call(lambda: srv.server.pairing_failures) == []


def test_wrong_pairing_code_is_refused(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    number = "15550004445"
    phone = srv.call(lambda: srv.server.phone(number))
    client = baileys(tmp_path / "auth")
    client.wait_qr()
    code = client.request_pairing_code(number)
    wrong = "".join("1" if ch != "1" else "2" for ch in code)
    srv.wait_for(lambda: number in srv.server.linking.code_requests)
    srv.run(phone.enter_code(wrong))
    srv.wait_for(lambda: srv.server.pairing_failures)
    assert srv.call(lambda: srv.server.pairing_failures[0].check) == "key-bundle"
    assert phone.devices == {}


def test_several_clients_pair_at_once(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    numbers = [f"1555000200{i}" for i in range(4)]
    clients = [baileys(tmp_path / n) for n in numbers]
    phones = [srv.call(lambda n=n: srv.server.phone(n)) for n in numbers]  # type: ignore[misc]
    for phone, client in zip(phones, clients, strict=True):
        srv.run(phone.scan(client.wait_qr()))
    for number, client in zip(numbers, clients, strict=True):
        client.wait_open()
        assert client.creds()["me"]["id"] == f"{number}:1@s.whatsapp.net"
    online = srv.call(lambda: [srv.server.connection_of(n, 1) is not None for n in numbers])
    assert online == [True] * 4


def test_second_companion_of_same_account_gets_next_device_id(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    first = baileys(tmp_path / "a")
    second = baileys(tmp_path / "b")
    assert pair_by_qr(srv, first) == 1
    assert pair_by_qr(srv, second) == 2
    devices = srv.call(lambda: srv.server.devices(PHONE))
    assert sorted(devices) == [1, 2]
    assert devices[1].key_index == 1 and devices[2].key_index == 2


def test_business_phone_gives_baileys_its_name_and_platform(
    srv: ServerThread, baileys: Callable[..., BaileysClient], tmp_path: Path
) -> None:
    number = "15550007777"
    phone = srv.call(lambda: srv.server.phone(number, platform="smbi", biz_name="Shop name"))
    client = baileys(tmp_path / "auth")
    srv.run(phone.scan(client.wait_qr()))
    client.wait_open()
    creds = client.creds()
    assert creds["me"]["name"] == "Shop name"
    assert creds["platform"] == "smbi"

    def presences() -> list[dict[str, str]]:
        conn = srv.server.connection_of(number, 1)
        return (
            []
            if conn is None
            else [e.node.attrs for e in conn.transcript if e.node.tag == "presence"]
        )

    srv.wait_for(lambda: {"name": "Shop name", "type": "available"} in presences())


@dataclass(frozen=True)
class ServedAddress:
    url: str
    root_public_key: bytes


def test_server_in_its_own_process_links_baileys_through_control(
    oracle: Oracle, tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "wamd.testing", "serve", "--control"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        info = json.loads(proc.stdout.readline())
        address = ServedAddress(info["url"], bytes.fromhex(info["root_public_key"]))
        client = BaileysClient(oracle, address, tmp_path / "auth")
        request = {"op": "scan", "phone": PHONE, "qr": client.wait_qr()}
        proc.stdin.write(json.dumps(request) + "\n")
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline()) == {"ok": True, "result": 1}
        client.wait_open()
        proc.stdin.write(json.dumps({"op": "devices", "phone": PHONE}) + "\n")
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["result"]["1"] > 0  # pre-keys uploaded
        oracle.call("bc_end_all")
        proc.stdin.write(json.dumps({"op": "stop"}) + "\n")
        proc.stdin.flush()
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
