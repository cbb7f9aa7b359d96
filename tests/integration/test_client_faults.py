"""Each server fault leads to the documented event and behaviour (FakeServer on 127.0.0.1)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator

import pytest

import wamd
from tests.integration.client_helpers import Recorder, link_by_qr, scanner, server_kwargs
from wamd.errors import CertificateError, ConnectionClosedError
from wamd.testing import ChainDefect, FakeServer, Step

PHONE = "15550001111"


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with FakeServer() as srv:
        yield srv


@pytest.fixture
async def linked(server: FakeServer) -> wamd.AuthHandle:
    auth = await wamd.memory_auth_state()
    await link_by_qr(server, auth)
    return auth


async def _connected(
    server: FakeServer, auth: wamd.AuthHandle, **extra: object
) -> tuple[wamd.Connection, Recorder]:
    conn = await wamd.connect(auth, **server_kwargs(server, **extra))
    recorder = Recorder()
    conn.on(wamd.Event, recorder)
    await conn.wait_connected(10)
    return conn, recorder


@pytest.mark.parametrize(
    ("code", "conflict", "reason", "logged_out"),
    [
        (401, "device_removed", wamd.DisconnectReason.LOGGED_OUT, True),
        (None, "replaced", wamd.DisconnectReason.CONNECTION_REPLACED, False),
    ],
)
async def test_stream_errors_that_stop(  # noqa: PLR0917 - pytest parameters
    server: FakeServer,
    linked: wamd.AuthHandle,
    code: int | None,
    conflict: str,
    reason: wamd.DisconnectReason,
    logged_out: bool,
) -> None:
    conn, recorder = await _connected(server, linked)
    assert await server.send_stream_error(PHONE, 1, code=code, conflict=conflict)
    await conn.wait_stopped(10)
    event = recorder.of(wamd.Disconnected)[-1]
    assert event.reason is reason
    assert event.will_reconnect is False
    assert len(recorder.of(wamd.LoggedOut)) == (1 if logged_out else 0)
    # Stored creds are kept: only an explicit call clears them.
    assert linked.state.creds.me is not None
    assert len(server.logins) == 2
    with pytest.raises(wamd.WamdError):
        await conn.wait_connected(1)
    await conn.close()


@pytest.mark.parametrize("code", [503, 515, 500])
async def test_stream_errors_that_reconnect(
    server: FakeServer, linked: wamd.AuthHandle, code: int
) -> None:
    conn, recorder = await _connected(server, linked)
    assert await server.send_stream_error(PHONE, 1, code=code)
    await recorder.wait_for(wamd.Connected, 2)
    event = recorder.of(wamd.Disconnected)[0]
    assert event.status_code == code
    assert event.will_reconnect
    assert [r.outcome for r in server.logins] == ["success"] * 3
    await conn.close()


async def test_logged_out_clears_creds_only_with_the_flag(
    server: FakeServer, linked: wamd.AuthHandle
) -> None:
    conn, recorder = await _connected(server, linked, clear_on_logout=True)
    old_identity = linked.state.creds.signed_identity_key.public
    assert await server.phone(PHONE).unlink(1)
    await conn.wait_stopped(10)
    assert recorder.of(wamd.LoggedOut)[0].status_code == 401
    creds = linked.state.creds
    assert creds.me is None
    assert creds.signed_identity_key.public != old_identity
    assert await linked.state.keys.get("pre-key", ["1"]) == {}
    assert "me" in recorder.of(wamd.CredsUpdate)[-1].changed
    await conn.close()


@pytest.mark.parametrize(
    ("reason_code", "reason", "logged_out"),
    [
        (401, wamd.DisconnectReason.LOGGED_OUT, True),
        (403, wamd.DisconnectReason.FORBIDDEN, True),
        (405, wamd.DisconnectReason.CLIENT_OUTDATED, False),
        (402, wamd.DisconnectReason.BANNED, False),
    ],
)
async def test_login_failures_stop(
    server: FakeServer,
    linked: wamd.AuthHandle,
    reason_code: int,
    reason: wamd.DisconnectReason,
    logged_out: bool,
) -> None:
    server.faults.fail_login(reason_code)
    recorder = Recorder()
    conn = await wamd.connect(linked, **server_kwargs(server))
    conn.on(wamd.Event, recorder)
    await conn.wait_stopped(10)
    event = recorder.of(wamd.Disconnected)[-1]
    assert (event.reason, event.status_code, event.will_reconnect) == (
        reason,
        reason_code,
        False,
    )
    assert len(recorder.of(wamd.LoggedOut)) == (1 if logged_out else 0)
    assert recorder.of(wamd.Connected) == []
    assert conn.stop_status == reason_code
    await conn.close()


async def test_login_failure_503_reconnects(server: FakeServer, linked: wamd.AuthHandle) -> None:
    server.faults.fail_login(503)
    conn, recorder = await _connected(server, linked)
    assert recorder.of(wamd.Disconnected)[0].status_code == 503
    assert [r.outcome for r in server.logins][-2:] == ["failure 503", "success"]
    await conn.close()


@pytest.mark.parametrize(
    "step", [Step.CLIENT_HELLO, Step.SERVER_HELLO, Step.HANDSHAKE, Step.SUCCESS]
)
async def test_dropped_login_socket_reconnects(
    server: FakeServer, linked: wamd.AuthHandle, step: Step
) -> None:
    conn, recorder = await _connected(server, linked)
    server.faults.drop_after(step)
    assert await server.drop(PHONE, 1)
    await recorder.wait_for(wamd.Connected, 2, timeout=15)
    assert recorder.of(wamd.Disconnected)[0].will_reconnect
    await conn.close()


@pytest.mark.parametrize(
    "step", [Step.HANDSHAKE, Step.PAIR_DEVICE, Step.PAIR_SUCCESS, Step.PAIR_DEVICE_SIGN]
)
async def test_dropped_linking_socket_still_links(server: FakeServer, step: Step) -> None:
    server.faults.drop_after(step)
    phone = server.phone(PHONE)
    auth = await wamd.memory_auth_state()
    scanned: set[str] = set()

    async def scan_each_socket(qr: str) -> None:
        ref = qr.partition("#")[2].split(",")[0]
        conn_id = server.linking.refs[ref].id
        if str(conn_id) not in scanned:
            scanned.add(str(conn_id))
            await phone.scan(qr)

    recorder = Recorder()
    async with wamd.connect(auth, on_qr=scan_each_socket, **server_kwargs(server)) as conn:
        conn.on(wamd.Event, recorder)
        await conn.wait_connected(15)
    assert auth.state.creds.me is not None
    # Exactly one device is in use: the one the client logged in as.
    device = int(auth.state.creds.me.id.split(":")[1].split("@")[0])
    assert device in server.devices(PHONE)
    assert server.logins[-1].outcome == "success"


async def test_silence_ends_with_408_and_reconnects(
    server: FakeServer, linked: wamd.AuthHandle
) -> None:
    conn, recorder = await _connected(server, linked, keepalive_interval=0.2, keepalive_grace=0.1)
    server.faults.silent = True
    server.faults.answer_pings = False
    event = await recorder.wait_for(wamd.Disconnected, timeout=10)
    assert event.status_code == 408
    assert event.reason is wamd.DisconnectReason.TIMED_OUT
    assert event.will_reconnect
    server.faults.clear()
    await recorder.wait_for(wamd.Connected, 2, timeout=10)
    await conn.close()


async def test_pings_keep_a_quiet_connection_alive(
    server: FakeServer, linked: wamd.AuthHandle
) -> None:
    conn, recorder = await _connected(server, linked, keepalive_interval=0.1, keepalive_grace=2.0)
    await server.wait_for(
        lambda: (
            sum(
                1
                for c in server.connections
                for e in c.transcript
                if e.direction == "in" and e.node.attrs.get("xmlns") == "w:p"
            )
            >= 5
        ),
        5,
    )
    assert recorder.of(wamd.Disconnected) == []
    await conn.close()


@pytest.mark.parametrize("defect", [ChainDefect.WRONG_ROOT, ChainDefect.LEAF_KEY_MISMATCH])
async def test_bad_certificate_chain_is_refused_before_any_payload(
    server: FakeServer, defect: ChainDefect
) -> None:
    server.faults.chain = defect
    auth = await wamd.memory_auth_state()
    with pytest.raises(CertificateError):
        await wamd.connect(auth, **server_kwargs(server))
    await server.wait_for(lambda: all(c.closed.is_set() for c in server.connections), 5)
    assert len(server.connections) == 1
    assert server.connections[0].client_static is None  # no ClientFinish arrived
    assert server.connections[0].registration is None


async def test_real_root_refuses_the_fake_server(server: FakeServer) -> None:
    auth = await wamd.memory_auth_state()
    with pytest.raises(CertificateError):
        await wamd.connect(auth, url=server.url)  # default root: WhatsApp's


@pytest.mark.parametrize("tamper", ["hmac", "account-signature"])
async def test_bad_pair_success_is_refused_and_nothing_stored(
    server: FakeServer, tamper: str
) -> None:
    phone = server.phone(PHONE)
    auth = await wamd.memory_auth_state()
    before = dataclasses.replace(auth.state.creds)

    async def bad_scan(qr: str) -> None:
        ref = qr.partition("#")[2].split(",")[0]
        conn = server.linking.refs[ref]
        if tamper == "hmac":
            await server.linking.link(conn, phone.account, os.urandom(32))
        else:
            assert conn.registration is not None
            conn.registration = dataclasses.replace(conn.registration, identity_pub=os.urandom(32))
            secret = wamd_adv_secret(auth)
            await server.linking.link(conn, phone.account, secret)

    recorder = Recorder()
    updates: list[wamd.CredsUpdate] = []
    conn = await wamd.connect(auth, on_qr=bad_scan, **server_kwargs(server))
    conn.on(wamd.Event, recorder)
    conn.on(wamd.CredsUpdate, updates.append)
    await conn.wait_stopped(10)
    failure = recorder.of(wamd.AuthFailure)[0]
    assert tamper in failure.reason
    assert updates == []
    assert auth.state.creds == before
    assert server.devices(PHONE) == {}
    replies = [
        e.node
        for c in server.connections
        for e in c.transcript
        if e.direction == "in" and e.node.attrs.get("type") == "error"
    ]
    texts = {"hmac": "hmac-mismatch", "account-signature": "signature-mismatch"}
    assert [r.children()[0].attrs["text"] for r in replies] == [texts[tamper]]
    await conn.close()


def wamd_adv_secret(auth: wamd.AuthHandle) -> bytes:
    """The raw adv secret of ``auth``'s creds."""
    import base64

    return base64.b64decode(auth.state.creds.adv_secret_key)


async def test_failing_handler_never_kills_the_connection(server: FakeServer) -> None:
    auth = await wamd.memory_auth_state()
    phone = server.phone(PHONE)

    def broken(event: wamd.Event) -> None:
        raise RuntimeError("handler bug")

    async def broken_async(event: wamd.Event) -> None:
        raise ValueError("async handler bug")

    async with wamd.connect(auth, on_qr=scanner(phone), **server_kwargs(server)) as conn:
        conn.on(wamd.Event, broken)
        conn.on(wamd.CredsUpdate, broken_async)
        await conn.wait_connected(15)
        assert conn.is_connected


@pytest.mark.parametrize("step", [Step.CLIENT_HELLO, Step.SERVER_HELLO])
async def test_first_handshake_failure_is_raised_by_connect(server: FakeServer, step: Step) -> None:
    server.faults.drop_after(step)
    auth = await wamd.memory_auth_state()
    with pytest.raises(ConnectionClosedError) as info:
        await wamd.connect(auth, **server_kwargs(server, connect_timeout=5))
    assert info.value.status_code == 428
    # Nothing was left running, and the next attempt works.
    recorder = Recorder()
    async with wamd.connect(auth, **server_kwargs(server)) as conn:
        conn.on(wamd.Event, recorder)
        await server.wait_for(lambda: bool(server.linking.refs), 5)
    assert auth.state.creds.me is None


async def test_unreachable_server_is_raised_by_connect() -> None:
    auth = await wamd.memory_auth_state()
    with pytest.raises(wamd.WamdError, match="could not connect"):
        await wamd.connect(
            auth, url="ws://127.0.0.1:9/ws/chat", server_root_key=bytes(32), connect_timeout=2
        )


async def test_gives_up_after_max_attempts_when_the_server_is_gone(
    linked: wamd.AuthHandle,
) -> None:
    async with FakeServer() as other:
        phone = other.phone(PHONE)
        auth = await wamd.memory_auth_state()
        recorder = Recorder()
        policy = wamd.ReconnectPolicy(initial=0.01, max_delay=0.05, max_attempts=3)
        kwargs = server_kwargs(other, reconnect=policy)
        conn = await wamd.connect(auth, on_qr=scanner(phone), **kwargs)
        conn.on(wamd.Event, recorder)
        await conn.wait_connected(15)
    # The server is closed now: every reconnection attempt fails.
    await conn.wait_stopped(15)
    last = recorder.of(wamd.Disconnected)[-1]
    assert (last.reason, last.status_code, last.will_reconnect) == (
        wamd.DisconnectReason.TIMED_OUT,
        408,
        False,
    )
    statuses = [e.status_code for e in recorder.of(wamd.Disconnected)]
    # 515 after linking, 428 when the server went away, three failed attempts, give up.
    assert statuses == [515, 428, 408, 408, 408, 408]
    await conn.close()


async def test_reconnect_disabled_stops_on_503(server: FakeServer, linked: wamd.AuthHandle) -> None:
    conn, recorder = await _connected(server, linked, reconnect=wamd.ReconnectPolicy(enabled=False))
    assert await server.send_stream_error(PHONE, 1, code=503)
    await conn.wait_stopped(10)
    event = recorder.of(wamd.Disconnected)[-1]
    assert (event.status_code, event.will_reconnect) == (503, False)
    await conn.close()


async def test_half_done_code_pairing_registers_again(server: FakeServer) -> None:
    from wamd.auth.creds import Contact

    auth = await wamd.memory_auth_state()
    # What Baileys leaves when a code-pairing connection drops: me set, no account.
    auth.state.creds.me = Contact(id=f"{PHONE}@s.whatsapp.net", name="~")
    conn = await wamd.connect(auth, on_qr=lambda qr: None, **server_kwargs(server))
    await server.wait_for(lambda: bool(server.linking.refs), 5)
    assert server.logins == []  # no login payload was sent
    assert server.connections[0].registration is not None
    await conn.close()
