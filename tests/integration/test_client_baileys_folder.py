"""A Baileys auth folder moves between wamd and real Baileys across a link (FakeServer).

wamd links a device into a Baileys folder and Baileys (makeWASocket in the oracle) logs
in from it; Baileys links a device and wamd logs in from its folder. Both without a QR.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import wamd
from tests.conftest import Oracle
from tests.interop.fake_server_driver import BaileysClient
from wamd.testing import FakeServer, ServerThread

pytestmark = pytest.mark.interop

PHONE = "15550007777"


@pytest.fixture
def srv() -> Iterator[ServerThread]:
    with FakeServer.start_in_thread() as thread:
        yield thread


async def _wamd_session(srv: ServerThread, folder: Path, *, link: bool) -> str:
    phone = srv.call(lambda: srv.server.phone(PHONE))
    scanned: list[str] = []

    async def on_qr(qr: str) -> None:
        if link and not scanned:
            scanned.append(qr)
            await asyncio.to_thread(srv.run, phone.scan(qr))

    async with (
        await wamd.use_multi_file_auth_state(folder) as auth,
        wamd.connect(auth, on_qr=on_qr, url=srv.url, server_root_key=srv.root_public_key) as conn,
    ):
        await conn.wait_connected(20)
        me = auth.state.creds.me
        assert me is not None
        assert link or not scanned
        return me.id


def test_baileys_logs_in_from_a_folder_wamd_linked(
    oracle: Oracle, srv: ServerThread, tmp_path: Path
) -> None:
    folder = tmp_path / "auth"
    me = asyncio.run(_wamd_session(srv, folder, link=True))
    oracle.call("bc_take_stray")
    client = BaileysClient(oracle, srv, folder)
    try:
        client.wait_open()
        assert client.creds()["me"]["id"] == me
        assert not any(e.get("qr") for e in client.events)
    finally:
        oracle.call("bc_end_all")
    logins = srv.call(lambda: [(r.device, r.outcome) for r in srv.server.logins])
    assert logins == [(1, "success"), (1, "success")]


def test_wamd_logs_in_from_a_folder_baileys_linked(
    oracle: Oracle, srv: ServerThread, tmp_path: Path
) -> None:
    folder = tmp_path / "auth"
    client = BaileysClient(oracle, srv, folder)
    try:
        phone = srv.call(lambda: srv.server.phone(PHONE))
        device_id = srv.run(phone.scan(client.wait_qr()))
        client.wait_open()
    finally:
        oracle.call("bc_end_all")
    srv.wait_for(lambda: srv.server.connection_of(PHONE, device_id) is None, 10)
    me = asyncio.run(_wamd_session(srv, folder, link=False))
    assert me == f"{PHONE}:{device_id}@s.whatsapp.net"
    outcomes = srv.call(lambda: [r.outcome for r in srv.server.logins])
    assert outcomes[-1] == "success"
