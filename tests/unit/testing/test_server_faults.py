"""FakeServer refusals, faults and lifecycle, driven by wamd's core (no Baileys)."""

from __future__ import annotations

import asyncio
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.unit.testing.mini_client import (
    S_WA,
    DeviceKeys,
    MiniClient,
    qr_for,
    register,
)
from tests.unit.testing.test_server_flows import PHONE, link, login
from wamd._proto.adv_pb2 import ADVSignedDeviceIdentity
from wamd.binary import Node
from wamd.crypto import generate_key_pair, sign
from wamd.errors import CertificateError, PairingCheckError
from wamd.noise import NoiseInitiator, verify_cert_chain
from wamd.pairing import verify_pair_success
from wamd.testing import ChainDefect, FakeServer, PairSuccessDefect, Step, build_chain


async def closed_silently(ws: object, timeout: float = 5.0) -> bool:
    """True when the server closes without sending any message."""
    try:
        await asyncio.wait_for(ws.recv(), timeout)  # type: ignore[attr-defined]
    except ConnectionClosed:
        return True
    return False


@pytest.mark.parametrize(
    ("first_message", "stage"),
    [
        (b"XY\x06\x03\x00\x00\x01\x00", "intro"),
        (b"WA\x06\x03\x00\x00\x03abc", "client-hello"),
        (b"WA\x06\x03\x00\x00\x04\x12\x02\x0a\x00", "client-hello"),  # 0-byte ephemeral
    ],
)
async def test_bad_intro_or_hello_closes_silently_and_is_recorded(
    first_message: bytes, stage: str
) -> None:
    async with FakeServer() as server:
        async with connect(server.url) as ws:
            await ws.send(first_message)
            assert await closed_silently(ws)
        await server.wait_for(lambda: server.handshake_failures)
        assert server.handshake_failures[0].stage == stage
        assert server.connections[0].transcript == []


async def test_client_that_never_finishes_the_handshake_is_closed() -> None:
    async with FakeServer(handshake_timeout=0.3) as server:
        async with connect(server.url) as ws:
            await ws.send(NoiseInitiator().client_hello())
            await ws.recv()  # the ServerHello; then the client says nothing more
            assert await closed_silently(ws)
        assert [f.stage for f in server.handshake_failures] == ["timeout"]


async def test_tampered_client_finish_closes_silently_and_is_recorded() -> None:
    async with FakeServer() as server:
        keys = DeviceKeys()
        async with connect(server.url) as ws:
            noise = NoiseInitiator()
            await ws.send(noise.client_hello())
            hello = await ws.recv()
            assert isinstance(hello, bytes)
            finished = noise.process_server_hello(
                hello[3:],
                keys.noise,
                keys.registration_payload(),
                now=int(time.time()),
                root_key=server.root_public_key,
            )
            tampered = bytearray(finished.message)
            tampered[-1] ^= 1
            await ws.send(bytes(tampered))
            assert await closed_silently(ws)
        await server.wait_for(lambda: server.handshake_failures)
        assert server.handshake_failures[0].stage == "client-finish"


async def test_pair_device_sign_with_bad_device_signature_is_refused() -> None:
    async with FakeServer() as server:
        keys = DeviceKeys()
        client, refs = await register(server.url, server.root_public_key, keys)
        phone = server.phone(PHONE)
        await phone.scan(qr_for(keys, refs[0]))
        iq = await client.expect("iq")
        success = iq.get_child("pair-success")
        assert success is not None
        identity = success.get_child("device-identity")
        assert identity is not None
        verified = verify_pair_success(
            identity.content_bytes() or b"", keys.adv_secret, keys.identity
        )
        forged = ADVSignedDeviceIdentity.FromString(verified.reply)
        forged.deviceSignature = sign(generate_key_pair().private, b"\x06\x01" + forged.details)
        reply = Node(
            "pair-device-sign",
            {},
            [Node("device-identity", {"key-index": "1"}, forged.SerializeToString())],
        )
        await client.send(Node("iq", {"to": S_WA, "type": "result", "id": iq.attrs["id"]}, [reply]))
        assert await client.closed_by_server()
        assert all(n.tag != "stream:error" for n in client.inbox)  # no 515 for a forgery
        assert [f.check for f in server.pairing_failures] == ["device-signature"]
        assert phone.devices == {}


async def test_login_refusals_send_failure_401() -> None:
    async with FakeServer() as server:
        keys = DeviceKeys()
        await link(server, keys)
        stolen = DeviceKeys(user=keys.user, device=keys.device)  # another noise key
        _, reply = await login(server, stolen)
        assert (reply.tag, reply.attrs["reason"]) == ("failure", "401")
        unknown = DeviceKeys(user="19990000000", device=1)
        _, reply = await login(server, unknown)
        assert reply.attrs["reason"] == "401"
        phone_itself = DeviceKeys(user=PHONE, device=None)  # device 0: the phone
        phone_itself.noise = keys.noise
        _, reply = await login(server, phone_itself)
        assert reply.attrs["reason"] == "401"
        assert [r.outcome for r in server.logins] == ["failure 401"] * 3


async def test_injected_failures_version_gate_and_their_attributes() -> None:
    async with FakeServer() as server:
        keys = DeviceKeys()
        await link(server, keys)
        server.faults.fail_login(402, attrs={"code": "1", "expire": "60"})
        _, reply = await login(server, keys)
        assert reply.attrs == {"reason": "402", "location": "fake", "code": "1", "expire": "60"}
        server.faults.min_version = (2, 9999, 0)
        _, reply = await login(server, keys)
        assert reply.attrs["reason"] == "405"
        server.faults.clear()
        _, reply = await login(server, keys)
        assert reply.tag == "success"


async def test_second_login_replaces_the_first_with_conflict() -> None:
    async with FakeServer() as server:
        keys = DeviceKeys()
        await link(server, keys)
        first, _ = await login(server, keys)
        second, success = await login(server, keys)
        assert success.tag == "success"
        end = await first.expect("stream:error")
        assert end.attrs == {} and end.children()[0].attrs == {"type": "replaced"}
        assert await first.closed_by_server()
        assert server.connection_of(PHONE, 1) is server.connections[-1]
        await second.close()


async def test_unlink_of_connected_device_sends_401_device_removed() -> None:
    async with FakeServer() as server:
        keys = DeviceKeys()
        await link(server, keys)
        client, _ = await login(server, keys)
        assert await server.phone(PHONE).unlink(1)
        end = await client.expect("stream:error")
        assert end.attrs == {"code": "401"}
        assert end.children()[0].attrs == {"type": "device_removed"}
        assert await client.closed_by_server()
        _, reply = await login(server, keys)
        assert reply.attrs["reason"] == "401"


async def test_stream_end_methods_send_their_stanza_then_close() -> None:
    async with FakeServer() as server:
        keys = DeviceKeys()
        await link(server, keys)
        for kind, expected in (
            ("stream-error", Node("stream:error", {"code": "503"})),
            ("xmlstreamend", Node("xmlstreamend")),
        ):
            client, _ = await login(server, keys)
            await client.recv()  # offline ib
            if kind == "stream-error":
                assert await server.send_stream_error(PHONE, 1, code=503)
            else:
                assert await server.send_xmlstreamend(PHONE, 1)
            assert await client.recv() == expected
            assert await client.closed_by_server()
        client, _ = await login(server, keys)
        assert await server.drop(PHONE, 1)
        assert await client.closed_by_server()
        assert not await server.drop(PHONE, 1)  # not connected any more


async def test_silence_and_unanswered_pings() -> None:
    async with FakeServer() as server:
        keys = DeviceKeys()
        await link(server, keys)
        client, _ = await login(server, keys)
        server.faults.answer_pings = False
        with pytest.raises(TimeoutError):
            await client.query("w:p", "get", [Node("ping")], timeout=0.5)
        server.faults.answer_pings = True
        server.faults.unanswered.add("passive")
        assert (await client.query("w:p", "get", [Node("ping")])).attrs["type"] == "result"
        server.faults.silent = True
        client.inbox.clear()
        await client.send(Node("iq", {"id": "x1", "to": S_WA, "type": "get", "xmlns": "w:p"}))
        assert not await client.closed_by_server(timeout=0.5)
        assert client.inbox == []
        await client.close()


@pytest.mark.parametrize("step", [Step.CLIENT_HELLO, Step.SERVER_HELLO, Step.HANDSHAKE])
async def test_drop_during_handshake_closes_without_stanza(step: Step) -> None:
    async with FakeServer() as server:
        server.faults.drop_after(step)
        keys = DeviceKeys()
        with pytest.raises((ConnectionClosed, TimeoutError, IndexError)):
            client = await MiniClient.connect(
                server.url, server.root_public_key, keys, keys.registration_payload()
            )
            await client.recv()
        # the drop was used once: the next connection registers normally
        client, refs = await register(server.url, server.root_public_key, keys)
        assert len(refs) == 6
        await client.close()


@pytest.mark.parametrize(
    ("defect", "check"),
    [
        (ChainDefect.WRONG_ROOT, "intermediate-signature"),
        (ChainDefect.EXPIRED, "expired"),
        (ChainDefect.NOT_YET_VALID, "not-yet-valid"),
        (ChainDefect.LEAF_KEY_MISMATCH, "leaf-key-mismatch"),
        (ChainDefect.BAD_ISSUER_SERIAL, "issuer-serial"),
        (ChainDefect.BAD_LEAF_ISSUER_SERIAL, "leaf-issuer-serial"),
        (ChainDefect.BAD_LEAF_SIGNATURE, "leaf-signature"),
        (ChainDefect.SHORT_SIGNATURE, "signature-length"),
    ],
)
def test_chain_defects_fail_the_strict_check_they_name(defect: ChainDefect, check: str) -> None:
    root, static = generate_key_pair(), generate_key_pair()
    now = int(time.time())
    verify_cert_chain(build_chain(root, static.public, None, now), static.public, now, root.public)
    with pytest.raises(CertificateError) as info:
        verify_cert_chain(
            build_chain(root, static.public, defect, now), static.public, now, root.public
        )
    assert info.value.check == check


async def test_client_refuses_a_server_with_a_wrong_root() -> None:
    async with FakeServer() as server:
        server.faults.chain = ChainDefect.WRONG_ROOT
        keys = DeviceKeys()
        with pytest.raises(CertificateError):
            await MiniClient.connect(
                server.url, server.root_public_key, keys, keys.registration_payload()
            )


async def test_lenient_login_creates_unknown_accounts_and_devices() -> None:
    async with FakeServer(strict_login=False) as server:
        keys = DeviceKeys(user="15557770000", device=3)
        client, success = await login(server, keys)
        assert success.tag == "success"
        assert server.devices("15557770000")[3].noise_pub == keys.noise.public
        count = await client.query("encrypt", "get", [Node("count")])
        assert count.children("count")[0].attrs["value"] == "0"
        await client.close()


async def test_other_paths_get_404() -> None:
    async with FakeServer() as server:
        with pytest.raises(InvalidStatus) as info:
            async with connect(server.url.replace("/ws/chat", "/other")):
                pass
        assert info.value.response.status_code == 404


async def test_close_leaves_no_task_or_socket_behind() -> None:
    before = asyncio.all_tasks()
    server = FakeServer()
    await server.start()
    keys = DeviceKeys()
    await link(server, keys)
    client, _ = await login(server, keys)
    await server.close()
    assert await client.closed_by_server()
    assert all(c.closed.is_set() for c in server.connections)
    await asyncio.sleep(0)
    assert asyncio.all_tasks() - before <= {asyncio.current_task()}
    with pytest.raises(OSError):
        async with connect(server.url, open_timeout=2):
            pass


def test_threaded_server_runs_coroutines_and_stops() -> None:
    with FakeServer.start_in_thread(pair_refs=2) as srv:
        assert srv.url.startswith("ws://127.0.0.1:")
        phone = srv.call(lambda: srv.server.phone(PHONE))
        assert srv.call(lambda: PHONE in srv.server.accounts)
        assert srv.run(phone.unlink(1)) is False
        srv.wait_for(lambda: True)
        thread = srv._thread
    assert not thread.is_alive()


@pytest.mark.parametrize(
    ("defect", "check"),
    [
        (PairSuccessDefect.BAD_HMAC, "hmac"),
        (PairSuccessDefect.BAD_ACCOUNT_SIGNATURE, "account-signature"),
    ],
)
async def test_spoilt_pair_success_fails_the_strict_client_check(
    defect: PairSuccessDefect, check: str
) -> None:
    async with FakeServer() as server:
        keys = DeviceKeys()
        client, refs = await register(server.url, server.root_public_key, keys)
        phone = server.phone(PHONE)
        await phone.scan(qr_for(keys, refs[0]), defect=defect)
        iq = await client.expect("iq")
        success = iq.get_child("pair-success")
        identity = success.get_child("device-identity") if success is not None else None
        assert identity is not None
        with pytest.raises(PairingCheckError) as info:
            verify_pair_success(identity.content_bytes() or b"", keys.adv_secret, keys.identity)
        assert info.value.check == check
        await client.close()
        await server.wait_for(lambda: server.pairing_failures)
        assert [f.check for f in server.pairing_failures] == ["client-closed"]
        assert phone.devices == {}


async def test_client_error_reply_to_pair_success_is_a_refused_link() -> None:
    async with FakeServer() as server:
        keys = DeviceKeys()
        client, refs = await register(server.url, server.root_public_key, keys)
        phone = server.phone(PHONE)
        await phone.scan(qr_for(keys, refs[0]))
        iq = await client.expect("iq")
        error = Node("error", {"code": "401", "text": "hmac-mismatch"})
        await client.send(Node("iq", {"to": S_WA, "type": "error", "id": iq.attrs["id"]}, [error]))
        assert await client.closed_by_server()
        assert [f.check for f in server.pairing_failures] == ["client-refused"]
        assert "hmac-mismatch" in server.pairing_failures[0].reason
        assert phone.devices == {}
