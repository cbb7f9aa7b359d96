"""A seeded mutation fuzzer for the frame reader and the handshake message parsers.

Shared by the bounded CI test (``test_fuzz_frames.py``) and the long run in
``fuzz/fuzz_frames.py``. Each input goes to one target; a target may raise only
:class:`~wamd.errors.WamdError` subclasses, and the frame reader must also keep its
buffer within one partial frame and never hand out more bytes than it was given.
Anything else is recorded as a finding, with the input, for replay.
"""

from __future__ import annotations

import copy
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from wamd._proto.handshake_pb2 import HandshakeMessage
from wamd.crypto import KeyPair
from wamd.errors import WamdError
from wamd.noise import (
    MAX_FRAME_SIZE,
    FrameReader,
    NoiseInitiator,
    NoiseResponder,
    TransportCipher,
    encode_frame,
    intro_header,
    make_cert_chain,
    verify_cert_chain,
)

NOW = 1_764_000_000
_INTERESTING_LENGTHS = (0, 1, 2, 3, 16, 32, 48, 255, 256, 999, 1000, 1001, 0xFFFF, MAX_FRAME_SIZE)


@dataclass
class Finding:
    """An input that broke a target's contract."""

    target: str
    problem: str
    data: bytes
    chunks: tuple[int, ...]
    limit: int


@dataclass
class Stats:
    """What a run did: inputs per target, outcomes, slowest input, findings."""

    inputs: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    slowest: float = 0.0
    slowest_target: str = ""
    seconds: float = 0.0

    @property
    def total(self) -> int:
        """How many inputs were run."""
        return sum(self.inputs.values())


class Corpus:
    """Valid seeds for every target, built once from fixed keys."""

    def __init__(self) -> None:
        keys = [KeyPair.from_private(bytes([i]) * 32) for i in range(1, 7)]
        root, server_static, server_eph, client_eph, noise_key, inter = keys
        self.root = root
        self.server_static = server_static
        self.chain = make_cert_chain(root, server_static.public, NOW, intermediate=inter).chain
        initiator = NoiseInitiator(ephemeral=client_eph, routing_info=b"\x08\x01\x08\x02")
        responder = NoiseResponder(server_static, self.chain, ephemeral=server_eph)
        hello_wire = initiator.client_hello()
        reader = FrameReader(expect_intro=True)
        (hello,) = reader.feed(hello_wire)
        self.fresh_responder = copy.deepcopy(responder)
        self.fresh_initiator = copy.deepcopy(initiator)
        server_hello_wire = responder.process_client_hello(hello)
        self.answered_responder = copy.deepcopy(responder)
        done = initiator.process_server_hello(
            server_hello_wire[3:], noise_key, b"\x28\x01" * 40, now=NOW, root_key=root.public
        )
        server = responder.process_client_finish(done.message[3:])
        self.client_hello = hello
        self.server_hello = server_hello_wire[3:]
        self.client_finish = done.message[3:]
        transport = copy.deepcopy(server.transport)
        stanzas = [transport.encrypt_frame(bytes([i]) * (i * 13)) for i in range(12)]
        self.streams = [
            hello_wire,
            intro_header() + encode_frame(hello),
            server_hello_wire,
            done.message,
            b"".join(stanzas),
            server_hello_wire + b"".join(stanzas[:3]),
            encode_frame(b"") * 5,
        ]
        self.messages = [self.client_hello, self.server_hello, self.client_finish, self.chain]
        self.messages.append(HandshakeMessage().SerializeToString())


def mutate(rng: random.Random, data: bytes, corpus: Corpus) -> bytes:
    """One to four random edits of ``data``, sometimes spliced with another seed."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(9)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:  # flip a bit
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:  # set a byte to an edge value
            buf[rng.randrange(len(buf))] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        elif op == 2:  # insert random bytes
            buf[pos:pos] = rng.randbytes(rng.choice((1, 2, 3, 8, 40)))
        elif op == 3 and buf:  # delete a range
            buf[pos : pos + rng.randint(1, 40)] = b""
        elif op == 4 and buf:  # duplicate a range
            start = rng.randrange(len(buf))
            buf[pos:pos] = buf[start : start + rng.randint(1, 64)]
        elif op == 5:  # truncate
            del buf[pos:]
        elif op == 6:  # write a 3-byte length
            size = rng.choice(_INTERESTING_LENGTHS)
            buf[pos : pos + 3] = size.to_bytes(3, "big")
        elif op == 7:  # splice with another seed
            other = rng.choice(corpus.streams + corpus.messages)
            cut = rng.randrange(len(other) + 1)
            buf[pos:] = other[cut:]
        else:  # a protobuf varint of an edge value
            value = rng.choice((0, 1, 127, 128, 2**31, 2**32 - 1, 2**63, 2**64 - 1))
            out = bytearray()
            while True:
                byte = value & 0x7F
                value >>= 7
                out.append(byte | (0x80 if value else 0))
                if not value:
                    break
            buf[pos:pos] = out
    return bytes(buf)


def _chunks(rng: random.Random, size: int) -> tuple[int, ...]:
    out: list[int] = []
    left = size
    while left > 0:
        step = min(left, rng.choice((1, 2, 3, 5, 64, 1000, size)))
        out.append(step)
        left -= step
    return tuple(out)


def _feed_reader(data: bytes, chunks: tuple[int, ...], expect_intro: bool, limit: int) -> None:
    reader = FrameReader(expect_intro=expect_intro, max_frame_size=limit)
    given = returned = pos = 0
    for step in chunks:
        frames = reader.feed(data[pos : pos + step])
        pos += step
        given += step
        returned += sum(len(f) + 3 for f in frames)
        # A partial intro is at most ED block + routing info + WA header minus one byte;
        # a partial frame at most its header and body minus one byte.
        bound = 10 + limit if reader.intro_pending else 2 + limit
        if reader.buffered > bound:
            raise AssertionError(f"buffer holds {reader.buffered} bytes with limit {limit}")
        if returned > given:
            raise AssertionError(f"returned {returned} frame bytes from {given} input bytes")
        if any(len(f) > limit for f in frames):
            raise AssertionError(f"returned a frame over the limit {limit}")


TARGETS = (
    ("frame-reader", 40),
    ("frame-reader-intro", 25),
    ("client-hello", 10),
    ("server-hello", 10),
    ("client-finish", 5),
    ("cert-chain", 7),
    ("transport-decrypt", 3),
)
"""Every target and its share of the inputs."""


def run_one(name: str, data: bytes, chunks: tuple[int, ...], limit: int, corpus: Corpus) -> None:
    """Feed one input to one target (``chunks`` and ``limit`` matter to the readers)."""
    if name == "frame-reader":
        _feed_reader(data, chunks, False, limit)
    elif name == "frame-reader-intro":
        _feed_reader(data, chunks, True, limit)
    elif name == "client-hello":
        copy.deepcopy(corpus.fresh_responder).process_client_hello(data)
    elif name == "server-hello":
        copy.deepcopy(corpus.fresh_initiator).process_server_hello(
            data, corpus.server_static, b"", now=NOW, root_key=corpus.root.public
        )
    elif name == "client-finish":
        copy.deepcopy(corpus.answered_responder).process_client_finish(data)
    elif name == "cert-chain":
        verify_cert_chain(data, corpus.server_static.public, NOW, corpus.root.public)
    elif name == "transport-decrypt":
        TransportCipher(bytes(32), bytes(32)).decrypt(data)
    else:
        raise ValueError(f"unknown fuzz target {name}")


def run(inputs: int, seed: int, corpus: Corpus | None = None) -> Stats:
    """Run ``inputs`` fuzz inputs from ``seed``; return what happened."""
    corpus = corpus or Corpus()
    rng = random.Random(seed)
    stats = Stats()
    start = time.perf_counter()
    seeds: dict[str, list[bytes]] = {
        "frame-reader": corpus.streams,
        "frame-reader-intro": corpus.streams,
        "client-hello": [corpus.client_hello],
        "server-hello": [corpus.server_hello],
        "client-finish": [corpus.client_finish],
        "cert-chain": [corpus.chain],
        "transport-decrypt": [corpus.streams[4][3:40]],
    }
    names = [name for name, _ in TARGETS]
    weights = [weight for _, weight in TARGETS]
    for _ in range(inputs):
        name = rng.choices(names, weights)[0]
        kind = rng.random()
        if kind < 0.1:
            data = rng.randbytes(rng.choice((0, 1, 3, 4, 7, 11, 40, 300)))
        elif kind < 0.15:
            data = rng.choice(seeds[name])
        else:
            data = mutate(rng, rng.choice(seeds[name]), corpus)
        chunks = _chunks(rng, len(data))
        limit = rng.choice((MAX_FRAME_SIZE, MAX_FRAME_SIZE, 1000, 40, 0))
        stats.inputs[name] += 1
        t0 = time.perf_counter()
        try:
            run_one(name, data, chunks, limit, corpus)
            outcome = "ok"
        except WamdError as exc:
            outcome = type(exc).__name__
        except Exception as exc:  # anything else is exactly what the fuzzer looks for
            outcome = "FINDING"
            problem = f"{type(exc).__name__}: {exc}"
            stats.findings.append(Finding(name, problem, data, chunks, limit))
        elapsed = time.perf_counter() - t0
        if elapsed > stats.slowest:
            stats.slowest, stats.slowest_target = elapsed, name
        stats.outcomes[f"{name}: {outcome}"] += 1
    stats.seconds = time.perf_counter() - start
    return stats
