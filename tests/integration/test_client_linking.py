"""Linking by QR and by pairing code against the FakeServer, and restarts from each backend."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import wamd
from tests.integration.client_helpers import (
    Recorder,
    link_by_qr,
    scanner,
    server_kwargs,
)
from wamd.testing import FakeServer


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with FakeServer() as srv:
        yield srv


async def test_qr_linking_reaches_connected_with_events_in_order(server: FakeServer) -> None:
    auth = await wamd.memory_auth_state()
    recorder = await link_by_qr(server, auth)
    kinds = [type(e).__name__ for e in recorder.events]
    # The handler is registered after the first QR was shown; what follows is ordered.
    assert kinds.index("Authenticated") < kinds.index("Disconnected") < kinds.index("Connected")
    restart = recorder.of(wamd.Disconnected)[0]
    assert restart.status_code == 515
    assert restart.will_reconnect
    creds = auth.state.creds
    assert creds.me is not None
    assert creds.me.id == "15550001111:1@s.whatsapp.net"
    assert creds.me.lid == "100015550001111:1@lid"
    assert creds.platform == "android"
    assert creds.account is not None
    device = server.devices("15550001111")[1]
    assert len(device.pre_keys) == 812
    assert creds.next_pre_key_id == 813
    assert creds.first_unuploaded_pre_key_id == 813
    stored = await auth.state.keys.get("pre-key", ["1", "812"])
    assert set(stored) == {"1", "812"}


async def test_creds_update_precedes_pair_device_sign(server: FakeServer) -> None:
    phone = server.phone()
    auth = await wamd.memory_auth_state()
    seen_at_update: list[int] = []

    def on_creds(event: wamd.CredsUpdate) -> None:
        if "account" in event.changed:
            # The device does not exist on the server until it got our reply.
            seen_at_update.append(len(server.devices(phone.phone_number)))

    async with wamd.connect(auth, on_qr=scanner(phone), **server_kwargs(server)) as conn:
        conn.on(wamd.CredsUpdate, on_creds)
        await conn.wait_connected(15)
    assert seen_at_update == [0]


@pytest.mark.parametrize("backend", ["memory", "native", "baileys"])
async def test_restart_logs_in_without_qr(server: FakeServer, backend: str, tmp_path: Path) -> None:
    async def open_state() -> wamd.AuthHandle:
        if backend == "native":
            return await wamd.use_native_file_auth_state(tmp_path / "wamd.db", client_id="t")
        if backend == "baileys":
            return await wamd.use_multi_file_auth_state(tmp_path / "auth")
        return memory

    memory = await wamd.memory_auth_state()
    auth = await open_state()
    await link_by_qr(server, auth)
    if backend != "memory":
        await auth.close()
        auth = await open_state()
    shown: list[str] = []
    recorder = Recorder()
    async with wamd.connect(auth, on_qr=shown.append, **server_kwargs(server)) as conn:
        conn.on(wamd.Event, recorder)
        await conn.wait_connected(15)
    assert shown == []
    assert [r.outcome for r in server.logins] == ["success", "success"]
    assert recorder.of(wamd.QRCode) == []
    assert len(server.devices("15550001111")) == 1
    if backend != "memory":
        await auth.close()


async def test_pairing_code_linking_reaches_connected(server: FakeServer) -> None:
    phone = server.phone("15550004444")
    auth = await wamd.memory_auth_state()
    codes: list[str] = []

    async def on_code(code: str) -> None:
        codes.append(code)

    recorder = Recorder()
    async with wamd.connect(
        auth, pairing_phone="+1 555 000 4444", on_pairing_code=on_code, **server_kwargs(server)
    ) as conn:
        conn.on(wamd.Event, recorder)
        await server.wait_for(lambda: phone.phone_number in server.linking.code_requests)
        await phone.enter_code(f"{codes[0][:4]}-{codes[0][4:]}")
        await conn.wait_connected(15)
    assert len(codes[0]) == 8
    assert recorder.of(wamd.Authenticated)[0].me == "15550004444:1@s.whatsapp.net"
    assert auth.state.creds.pairing_code is None
    assert 1 in server.devices("15550004444")


async def test_pairing_phone_is_validated() -> None:
    auth = await wamd.memory_auth_state()
    with pytest.raises(wamd.WamdError, match="digits"):
        wamd.connect(auth, pairing_phone="call me maybe")
    with pytest.raises(wamd.WamdError, match="starts with 0"):
        wamd.connect(auth, pairing_phone="015112345678")


async def test_qr_codes_rotate_and_end_linking_at_max_qr(server: FakeServer) -> None:
    server.pair_refs = 2
    auth = await wamd.memory_auth_state()
    shown: list[str] = []
    recorder = Recorder()
    conn = await wamd.connect(
        auth, on_qr=shown.append, max_qr=3, qr_timeout=(0.3, 0.1), **server_kwargs(server)
    )
    conn.on(wamd.Event, recorder)
    await conn.wait_stopped(10)
    # Two refs on the first socket, a reconnect for fresh refs, one more code: three.
    assert len(shown) == 3
    assert len(set(shown)) == 3
    assert recorder.of(wamd.AuthFailure)[0].reason.startswith("no QR code was scanned")
    last = recorder.of(wamd.Disconnected)[-1]
    assert last.will_reconnect is False
    assert auth.state.creds.me is None
    registrations = [c for c in server.connections if c.registration is not None]
    assert len(registrations) == 2
    await conn.close()


async def test_close_leaves_no_task_and_no_socket(server: FakeServer) -> None:
    auth = await wamd.memory_auth_state()
    await link_by_qr(server, auth)
    before = {t for t in asyncio.all_tasks()}
    conn = await wamd.connect(auth, **server_kwargs(server))
    await conn.wait_connected(10)
    assert established_tcp(server.port) == 2  # both ends of the client's websocket
    await conn.close()
    await asyncio.sleep(0)
    left = {t for t in asyncio.all_tasks() if not t.done()} - before
    assert left == set()
    await server.wait_for(lambda: all(c.closed.is_set() for c in server.connections), 5)
    assert established_tcp(server.port) == 0
    assert conn.stopped


def established_tcp(port: int) -> int:
    """Established TCP connections (either end) on local ``port``, from /proc/net/tcp."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state = fields[1], fields[2], fields[3]
        ports = {int(local.split(":")[1], 16), int(remote.split(":")[1], 16)}
        if state == "01" and port in ports:
            count += 1
    return count


async def test_no_secret_reaches_the_logs(
    server: FakeServer, caplog: pytest.LogCaptureFixture
) -> None:
    auth = await wamd.memory_auth_state()
    creds = auth.state.creds
    with caplog.at_level(logging.DEBUG):
        recorder = await link_by_qr(server, auth)
    text = caplog.text + "".join(repr(e) for e in recorder.events)
    assert "Connected" in text  # the events were rendered
    secrets = [
        creds.adv_secret_key,
        base64.b64encode(creds.noise_key.private).decode(),
        base64.b64encode(creds.signed_identity_key.private).decode(),
        creds.noise_key.private.hex(),
        creds.signed_identity_key.private.hex(),
        creds.signed_pre_key.key_pair.private.hex(),
        "linked_devices#",  # no QR string
    ]
    for secret in secrets:
        assert secret not in text


async def test_a_store_that_cannot_save_stops_linking_before_the_reply(
    server: FakeServer, tmp_path: Path
) -> None:
    # The store dies mid-way (closed here; a full disk or a dead database in real life):
    # the link must not be confirmed to the server with creds that were never kept.
    auth = await wamd.use_native_file_auth_state(tmp_path / "wamd.db", client_id="t")
    phone = server.phone("15550001111")
    recorder = Recorder()
    closed: list[bool] = []

    async def on_qr(qr: str) -> None:
        if not closed:
            closed.append(True)
            await auth.backend.close()
            await phone.scan(qr)

    conn = await wamd.connect(auth, on_qr=on_qr, **server_kwargs(server))
    try:
        conn.on(wamd.Event, recorder)
        with pytest.raises(wamd.WamdError):
            await conn.wait_connected(15)
        await conn.wait_stopped(15)
    finally:
        await conn.close()
    assert server.devices("15550001111") == {}  # no pair-device-sign reached the server
    ended = recorder.of(wamd.Disconnected)
    assert ended and not ended[-1].will_reconnect
    assert ended[-1].status_code == 500
