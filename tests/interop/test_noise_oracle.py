"""Baileys' makeNoiseHandler (the pinned oracle) as the client of our NoiseResponder.

Baileys completes the handshake with our responder, and transport frames then go both
ways. With the same ephemeral, noise key, payload and ServerHello, our NoiseInitiator
writes byte-identical ClientHello, ClientFinish and transport frames.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import Oracle, OracleError
from wamd._proto.client_payload_pb2 import ClientPayload
from wamd._proto.handshake_pb2 import CertChain
from wamd.crypto import KeyPair, generate_key_pair
from wamd.noise import (
    FrameReader,
    NoiseInitiator,
    NoiseResponder,
    ServerFinished,
    make_cert_chain,
)

pytestmark = pytest.mark.interop

ROOT = generate_key_pair()


@dataclass
class Session:
    """A Baileys client (by handle) connected to our responder."""

    handle: int
    server: ServerFinished
    reader: FrameReader
    noise_public: bytes
    payload: bytes


@pytest.fixture
def handles(oracle: Oracle) -> Iterator[list[int]]:
    opened: list[int] = []
    yield opened
    for handle in opened:
        oracle.call("noise_client_close", handle=handle)


def _now() -> int:
    return int(time.time())


def _connect(
    oracle: Oracle,
    handles: list[int],
    *,
    routing_info: bytes | None = None,
    split: int | None = None,
    **finish_args: Any,
) -> Session:
    server_static = generate_key_pair()
    chain = make_cert_chain(ROOT, server_static.public, _now()).chain
    responder = NoiseResponder(server_static, chain)
    start = oracle.call("noise_client_start", rootKey=ROOT.public, routingInfo=routing_info)
    handles.append(start["handle"])
    reader = FrameReader(expect_intro=True)
    (hello,) = reader.feed(start["data"])
    server_hello = responder.process_client_hello(hello)
    frames: list[bytes] = []
    step = split or len(server_hello)
    for pos in range(0, len(server_hello), step):
        frames += oracle.call(
            "noise_client_receive", handle=start["handle"], data=server_hello[pos : pos + step]
        )
    assert len(frames) == 1
    done = oracle.call(
        "noise_client_finish", handle=start["handle"], serverHello=frames[0], **finish_args
    )
    (finish,) = reader.feed(done["data"])
    server = responder.process_client_finish(finish)
    return Session(start["handle"], server, reader, done["noisePublic"], done["payload"])


def test_baileys_completes_a_registration_handshake_with_our_responder(
    oracle: Oracle, handles: list[int]
) -> None:
    session = _connect(oracle, handles)
    assert session.server.client_static == session.noise_public
    assert session.server.payload == session.payload
    payload = ClientPayload.FromString(session.server.payload)
    assert payload.HasField("devicePairingData")
    assert len(payload.devicePairingData.eIdent) == 32
    assert payload.devicePairingData.eKeytype == b"\x05"
    assert not payload.HasField("username")


def test_baileys_login_payload_arrives_intact(oracle: Oracle, handles: list[int]) -> None:
    session = _connect(oracle, handles, loginJid="15550001111:7@s.whatsapp.net")
    payload = ClientPayload.FromString(session.server.payload)
    assert (payload.username, payload.device, payload.passive) == (15550001111, 7, True)


def test_baileys_routing_info_is_read_from_its_intro(oracle: Oracle, handles: list[int]) -> None:
    info = os.urandom(40)
    session = _connect(oracle, handles, routing_info=info, split=7)
    assert session.reader.routing_info == info


def test_frames_from_baileys_decrypt_in_order_whatever_the_chunking(
    oracle: Oracle, handles: list[int]
) -> None:
    session = _connect(oracle, handles)
    rng = random.Random(3)
    sent = [os.urandom(rng.randrange(0, 2000)) for _ in range(150)]
    sent.append(os.urandom(300_000))
    wire = b"".join(oracle.call("noise_client_send", handle=session.handle, data=p) for p in sent)
    received: list[bytes] = []
    pos = 0
    while pos < len(wire):
        step = rng.choice((1, 3, 100, 5000, 70_000))
        received += [
            session.server.transport.decrypt(f) for f in session.reader.feed(wire[pos : pos + step])
        ]
        pos += step
    assert received == sent


def test_frames_from_us_decode_as_nodes_in_baileys(oracle: Oracle, handles: list[int]) -> None:
    session = _connect(oracle, handles)
    rng = random.Random(4)
    nodes: list[dict[str, Any]] = [
        {"tag": "iq", "attrs": {"id": f"1.2-{i}", "type": "result"}} for i in range(40)
    ]
    nodes.append({"tag": "message", "attrs": {"id": "big"}, "content": os.urandom(200_000)})
    encoded = [oracle.call("noise_encode_node", node=n) for n in nodes]
    wire = b"".join(session.server.transport.encrypt_frame(e) for e in encoded)
    received: list[dict[str, Any]] = []
    pos = 0
    while pos < len(wire):
        step = rng.choice((2, 50, 4000, 100_000))
        received += oracle.call(
            "noise_client_receive", handle=session.handle, data=wire[pos : pos + step]
        )
        pos += step
    assert [(n["tag"], n["attrs"]) for n in received] == [(n["tag"], n["attrs"]) for n in nodes]
    assert received[-1]["content"] == nodes[-1]["content"]


def test_baileys_and_our_initiator_write_identical_bytes(
    oracle: Oracle, handles: list[int]
) -> None:
    ephemeral = generate_key_pair()
    noise_key = generate_key_pair()
    payload = ClientPayload(username=15550001111, device=3, passive=True).SerializeToString()
    server_static = generate_key_pair()
    responder = NoiseResponder(
        server_static, make_cert_chain(ROOT, server_static.public, _now()).chain
    )
    key_arg = {"private": ephemeral.private, "public": ephemeral.public}
    start = oracle.call("noise_client_start", rootKey=ROOT.public, ephemeral=key_arg)
    handles.append(start["handle"])
    ours = NoiseInitiator(ephemeral=ephemeral)
    assert ours.client_hello() == start["data"]

    (hello,) = FrameReader(expect_intro=True).feed(start["data"])
    (server_hello,) = FrameReader().feed(responder.process_client_hello(hello))
    theirs = oracle.call(
        "noise_client_finish",
        handle=start["handle"],
        serverHello=server_hello,
        noiseKey={"private": noise_key.private, "public": noise_key.public},
        payload=payload,
    )
    done = ours.process_server_hello(
        server_hello, noise_key, payload, now=_now(), root_key=ROOT.public
    )
    assert done.message == theirs["data"]
    for i in range(20):
        data = os.urandom(i * 37)
        assert done.transport.encrypt_frame(data) == oracle.call(
            "noise_client_send", handle=start["handle"], data=data
        )


def _issue(**defect: Any) -> tuple[KeyPair, bytes]:
    server_static = generate_key_pair()
    return server_static, make_cert_chain(ROOT, server_static.public, _now(), **defect).chain


def test_baileys_refuses_an_intermediate_with_a_foreign_issuer_serial(
    oracle: Oracle, handles: list[int]
) -> None:
    server_static, chain = _issue(intermediate_issuer_serial=5)
    responder = NoiseResponder(server_static, chain)
    start = oracle.call("noise_client_start", rootKey=ROOT.public)
    handles.append(start["handle"])
    (hello,) = FrameReader(expect_intro=True).feed(start["data"])
    (server_hello,) = FrameReader().feed(responder.process_client_hello(hello))
    with pytest.raises(OracleError, match="certification match failed"):
        oracle.call("noise_client_finish", handle=start["handle"], serverHello=server_hello)


def test_chain_signatures_verify_with_curve25519_js(oracle: Oracle) -> None:
    server_static, chain = _issue()
    msg = CertChain.FromString(chain)
    details = CertChain.NoiseCertificate.Details.FromString(msg.intermediate.details)
    for public, cert in ((ROOT.public, msg.intermediate), (details.key, msg.leaf)):
        assert oracle.call("verify", public=public, message=cert.details, signature=cert.signature)
        forged = bytes([cert.signature[0] ^ 1]) + cert.signature[1:]
        assert not oracle.call("verify", public=public, message=cert.details, signature=forged)
    leaf = CertChain.NoiseCertificate.Details.FromString(msg.leaf.details)
    assert leaf.key == server_static.public
