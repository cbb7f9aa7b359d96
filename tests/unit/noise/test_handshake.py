"""Our Noise initiator against our responder, and how each side refuses bad input."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import pytest

from wamd._proto.client_payload_pb2 import ClientPayload
from wamd._proto.handshake_pb2 import HandshakeMessage
from wamd.crypto import KeyPair, generate_key_pair
from wamd.errors import CertificateError, HandshakeError
from wamd.noise import (
    WA_HEADER,
    ClientFinished,
    FrameReader,
    NoiseInitiator,
    NoiseResponder,
    ServerFinished,
    make_cert_chain,
)

NOW = 1_764_000_000
ROOT = generate_key_pair()


@dataclass
class Link:
    """Both ends of one connection after the handshake, each with its receive buffer."""

    client: ClientFinished
    server: ServerFinished
    client_reader: FrameReader
    server_reader: FrameReader


def _payload() -> bytes:
    return ClientPayload(
        username=15550001111, device=7, passive=True, pushName="wamd"
    ).SerializeToString()


def _connect(
    noise_key: KeyPair | None = None,
    payload: bytes | None = None,
    routing_info: bytes | None = None,
) -> Link:
    server_static = generate_key_pair()
    chain = make_cert_chain(ROOT, server_static.public, NOW).chain
    responder = NoiseResponder(server_static, chain)
    initiator = NoiseInitiator(routing_info=routing_info)
    server_reader = FrameReader(expect_intro=True)
    client_reader = FrameReader()
    (hello,) = server_reader.feed(initiator.client_hello())
    (server_hello,) = client_reader.feed(responder.process_client_hello(hello))
    client = initiator.process_server_hello(
        server_hello,
        noise_key or generate_key_pair(),
        _payload() if payload is None else payload,
        now=NOW,
        root_key=ROOT.public,
    )
    (finish,) = server_reader.feed(client.message)
    server = responder.process_client_finish(finish)
    return Link(client, server, client_reader, server_reader)


def test_full_handshake_delivers_the_client_payload_and_static_key() -> None:
    noise_key = generate_key_pair()
    link = _connect(noise_key=noise_key)
    assert link.server.client_static == noise_key.public
    payload = ClientPayload.FromString(link.server.payload)
    assert (payload.username, payload.device, payload.passive) == (15550001111, 7, True)
    assert payload.pushName == "wamd"
    assert link.client.chain is not None
    assert link.client.chain.leaf.key == link.client.server_static


def test_routing_info_reaches_the_server_reader() -> None:
    link = _connect(routing_info=b"\x08\x02\x08\x05")
    assert link.server_reader.routing_info == b"\x08\x02\x08\x05"


def test_client_hello_is_the_wa_header_and_a_36_byte_frame() -> None:
    eph = generate_key_pair()
    hello = NoiseInitiator(ephemeral=eph).client_hello()
    assert hello == WA_HEADER + b"\x00\x00\x24" + b"\x12\x22\x0a\x20" + eph.public


def test_transport_frames_flow_both_ways_in_order() -> None:
    link = _connect()
    rng = random.Random(1)
    for i in range(300):
        up = os.urandom(rng.randrange(0, 3000))
        (frame,) = link.server_reader.feed(link.client.transport.encrypt_frame(up))
        assert link.server.transport.decrypt(frame) == up
        down = b"\x00" + i.to_bytes(2, "big")
        (frame,) = link.client_reader.feed(link.server.transport.encrypt_frame(down))
        assert link.client.transport.decrypt(frame) == down
    assert link.client.transport.write_counter == link.server.transport.read_counter == 300


def test_many_frames_survive_random_splitting_and_coalescing() -> None:
    link = _connect()
    rng = random.Random(2)
    sent = [os.urandom(rng.randrange(0, 700)) for _ in range(2000)]
    wire = b"".join(link.server.transport.encrypt_frame(p) for p in sent)
    received: list[bytes] = []
    pos = 0
    while pos < len(wire):
        step = rng.choice((1, 2, 3, 17, 500, 4096, 60_000))
        for frame in link.client_reader.feed(wire[pos : pos + step]):
            received.append(link.client.transport.decrypt(frame))
        pos += step
    assert received == sent


def test_a_split_server_hello_then_coalesced_stanzas_are_read_with_one_reader() -> None:
    server_static = generate_key_pair()
    chain = make_cert_chain(ROOT, server_static.public, NOW).chain
    responder = NoiseResponder(server_static, chain)
    initiator = NoiseInitiator()
    server_reader = FrameReader(expect_intro=True)
    (hello,) = server_reader.feed(initiator.client_hello())
    server_hello = responder.process_client_hello(hello)
    client_reader = FrameReader()
    assert client_reader.feed(server_hello[:10]) == []
    (frame,) = client_reader.feed(server_hello[10:])
    done = initiator.process_server_hello(
        frame, generate_key_pair(), b"", now=NOW, root_key=ROOT.public
    )
    server = responder.process_client_finish(server_reader.feed(done.message)[0])
    assert server.payload == b""
    two = server.transport.encrypt_frame(b"one") + server.transport.encrypt_frame(b"two")
    assert [done.transport.decrypt(f) for f in client_reader.feed(two)] == [b"one", b"two"]


def test_each_connection_gets_fresh_transport_keys() -> None:
    a, b = _connect(), _connect()
    assert a.client.transport.encrypt(b"same") != b.client.transport.encrypt(b"same")


def test_fixed_keys_give_identical_handshakes() -> None:
    keys = [KeyPair.from_private(bytes([i]) * 32) for i in range(1, 5)]
    chain = make_cert_chain(ROOT, keys[1].public, NOW).chain
    runs = []
    for _ in range(2):
        initiator = NoiseInitiator(ephemeral=keys[0])
        responder = NoiseResponder(keys[1], chain, ephemeral=keys[2])
        hello = FrameReader(expect_intro=True).feed(initiator.client_hello())[0]
        server_hello = responder.process_client_hello(hello)
        done = initiator.process_server_hello(
            server_hello[3:], keys[3], b"p", now=NOW, root_key=ROOT.public
        )
        runs.append((server_hello, done.message, done.transport.encrypt(b"x")))
    assert runs[0] == runs[1]


def test_a_chain_from_another_root_stops_the_client() -> None:
    server_static = generate_key_pair()
    other_root = generate_key_pair()
    responder = NoiseResponder(
        server_static, make_cert_chain(other_root, server_static.public, NOW).chain
    )
    initiator = NoiseInitiator()
    hello = FrameReader(expect_intro=True).feed(initiator.client_hello())[0]
    server_hello = responder.process_client_hello(hello)[3:]
    with pytest.raises(CertificateError) as info:
        initiator.process_server_hello(
            server_hello, generate_key_pair(), b"", now=NOW, root_key=ROOT.public
        )
    assert info.value.check == "intermediate-signature"
    with pytest.raises(HandshakeError, match="step 'failed'"):
        initiator.process_server_hello(
            server_hello, generate_key_pair(), b"", now=NOW, root_key=ROOT.public
        )


def test_a_chain_for_another_static_key_stops_the_client() -> None:
    server_static = generate_key_pair()
    chain = make_cert_chain(ROOT, generate_key_pair().public, NOW).chain
    responder = NoiseResponder(server_static, chain)
    initiator = NoiseInitiator()
    hello = FrameReader(expect_intro=True).feed(initiator.client_hello())[0]
    with pytest.raises(CertificateError) as info:
        initiator.process_server_hello(
            responder.process_client_hello(hello)[3:],
            generate_key_pair(),
            b"",
            now=NOW,
            root_key=ROOT.public,
        )
    assert info.value.check == "leaf-key-mismatch"


def test_verification_can_be_switched_off_for_servers_without_a_real_chain() -> None:
    server_static = generate_key_pair()
    chain = make_cert_chain(generate_key_pair(), server_static.public, NOW).chain
    responder = NoiseResponder(server_static, chain)
    initiator = NoiseInitiator()
    hello = FrameReader(expect_intro=True).feed(initiator.client_hello())[0]
    done = initiator.process_server_hello(
        responder.process_client_hello(hello)[3:],
        generate_key_pair(),
        b"payload",
        now=NOW,
        verify_chain=False,
    )
    assert done.chain is None
    assert responder.process_client_finish(done.message[3:]).payload == b"payload"


def _started() -> tuple[NoiseInitiator, NoiseResponder, bytes]:
    server_static = generate_key_pair()
    responder = NoiseResponder(
        server_static, make_cert_chain(ROOT, server_static.public, NOW).chain
    )
    initiator = NoiseInitiator()
    hello = FrameReader(expect_intro=True).feed(initiator.client_hello())[0]
    return initiator, responder, responder.process_client_hello(hello)[3:]


def _hello(**fields: bytes) -> bytes:
    return HandshakeMessage(serverHello=HandshakeMessage.ServerHello(**fields)).SerializeToString()


@pytest.mark.parametrize("part", ["static", "payload", "ephemeral"])
def test_a_tampered_server_hello_fails_the_handshake(part: str) -> None:
    initiator, _, server_hello = _started()
    msg = HandshakeMessage.FromString(server_hello)
    value = bytearray(getattr(msg.serverHello, part))
    value[5] ^= 0x40
    setattr(msg.serverHello, part, bytes(value))
    with pytest.raises(HandshakeError, match="failed to decrypt"):
        initiator.process_server_hello(
            msg.SerializeToString(), generate_key_pair(), b"", now=NOW, root_key=ROOT.public
        )


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (b"\xff\xff", "not a valid"),
        (b"", "expected a ServerHello, got an empty HandshakeMessage"),
        (
            HandshakeMessage(
                clientHello=HandshakeMessage.ClientHello(ephemeral=bytes(32))
            ).SerializeToString(),
            "got clientHello",
        ),
        (_hello(static=bytes(48), payload=bytes(20)), "ephemeral is missing"),
        (_hello(ephemeral=bytes(31), static=bytes(48), payload=bytes(20)), "31 bytes"),
        (_hello(ephemeral=os.urandom(32), payload=bytes(20)), "static is missing"),
        (_hello(ephemeral=os.urandom(32), static=bytes(48)), "payload is missing"),
        (_hello(ephemeral=bytes(32), static=bytes(48), payload=bytes(20)), "key agreement"),
    ],
)
def test_the_client_refuses_malformed_server_hellos(frame: bytes, match: str) -> None:
    initiator, _, _ = _started()
    with pytest.raises(HandshakeError, match=match):
        initiator.process_server_hello(
            frame, generate_key_pair(), b"", now=NOW, root_key=ROOT.public
        )


def _client_hello(ephemeral: bytes | None = None) -> bytes:
    hello = HandshakeMessage.ClientHello(ephemeral=ephemeral)
    return HandshakeMessage(clientHello=hello).SerializeToString()


@pytest.mark.parametrize(
    ("frame", "match"),
    [
        (b"\x0a", "not a valid"),
        (b"", "expected a ClientHello"),
        (_hello(ephemeral=os.urandom(32)), "got serverHello"),
        (_client_hello(), "ephemeral is missing"),
        (_client_hello(ephemeral=os.urandom(33)), "33 bytes"),
        (_client_hello(ephemeral=bytes(32)), "key agreement"),
    ],
)
def test_the_server_refuses_malformed_client_hellos(frame: bytes, match: str) -> None:
    server_static = generate_key_pair()
    responder = NoiseResponder(server_static, b"")
    with pytest.raises(HandshakeError, match=match):
        responder.process_client_hello(frame)
    with pytest.raises(HandshakeError, match="step 'failed'"):
        responder.process_client_hello(_client_hello(ephemeral=os.urandom(32)))


@pytest.mark.parametrize("part", ["static", "payload"])
def test_a_tampered_client_finish_fails_the_handshake(part: str) -> None:
    initiator, responder, server_hello = _started()
    done = initiator.process_server_hello(
        server_hello, generate_key_pair(), _payload(), now=NOW, root_key=ROOT.public
    )
    msg = HandshakeMessage.FromString(done.message[3:])
    value = bytearray(getattr(msg.clientFinish, part))
    value[-1] ^= 1
    setattr(msg.clientFinish, part, bytes(value))
    with pytest.raises(HandshakeError, match=f"ClientFinish.{part} .* failed to decrypt"):
        responder.process_client_finish(msg.SerializeToString())
    # The responder is spent: even the untampered ClientFinish is refused now.
    with pytest.raises(HandshakeError, match="step 'failed'"):
        responder.process_client_finish(done.message[3:])


def test_the_server_refuses_a_client_finish_with_parts_missing() -> None:
    _, responder, _ = _started()
    finish = HandshakeMessage(clientFinish=HandshakeMessage.ClientFinish(static=bytes(48)))
    with pytest.raises(HandshakeError, match=r"ClientFinish\.payload is missing"):
        responder.process_client_finish(finish.SerializeToString())


def test_calls_out_of_order_are_refused() -> None:
    initiator = NoiseInitiator()
    with pytest.raises(HandshakeError, match=r"process_server_hello\(\) called in .* 'start'"):
        initiator.process_server_hello(b"", generate_key_pair(), b"", now=NOW)
    initiator.client_hello()
    with pytest.raises(HandshakeError, match="client_hello"):
        initiator.client_hello()
    responder = NoiseResponder(generate_key_pair(), b"")
    with pytest.raises(HandshakeError, match="process_client_finish"):
        responder.process_client_finish(b"")


def test_reprs_and_errors_do_not_show_keys() -> None:
    noise_key = generate_key_pair()
    link = _connect(noise_key=noise_key)
    texts = [repr(link.client), repr(link.server), repr(NoiseInitiator())]
    texts.append(repr(NoiseResponder(noise_key, b"")))
    for text in texts:
        assert noise_key.private.hex() not in text
        assert repr(noise_key.private) not in text
    assert "payload" not in repr(link.server)
