"""Fuzz wamd.binary's decoder: random and mutated inputs must only raise WamdError.

    .venv/bin/python fuzz/fuzz_binary.py [--count 1000000] [--seed 1] [--mem-mb 1024]

Inputs: 25% random bytes (after a flags byte), 65% mutations of valid encodings (byte
flips, inserted tag bytes, truncations, deletions, splices), 10% zlib-compressed
mutations. Every input that decodes is re-encoded and decoded again, which must give the
same node up to ``_canon``. Any other exception, a decode slower than --max-seconds, or a
memory error is a failure and the input is printed in hex. Address space is limited with
RLIMIT_AS.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from wamd.binary import Node, decode_node, encode_node
from wamd.errors import WamdError

_TAG_BYTES = [0, 1, 3, 236, 239, 240, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255]


def _seed_nodes(rng: random.Random) -> list[bytes]:
    """Valid encodings covering every tag the encoder writes."""
    nodes = [
        Node(
            "iq",
            {"id": "123.45-6", "to": "@s.whatsapp.net", "type": "get", "xmlns": "w:p"},
            [Node("ping")],
        ),
        Node(
            "message",
            {"to": "15551234567:12@s.whatsapp.net", "id": "3EB0ABCDEF", "t": "17"},
            [Node("enc", {"v": "2", "type": "pkmsg"}, rng.randbytes(200))],
        ),
        Node(
            "receipt",
            {"from": "123456789012345:3@lid", "type": "read-self"},
            [Node("list", {}, [Node("item", {"id": f"A{i}"}) for i in range(5)])],
        ),
        Node("x", {"name": "Zoë 🌻", "jid": "120363000000000000@g.us", "e": ""}, "hello"),
        Node("iq", {"xmlns": "w:m"}, [Node("media_conn", {"k": "1961"})]),
        Node("enc", {"v": "2"}, rng.randbytes(300)),
        Node("list", {}, [Node("item", {"jid": f"{i}@s.whatsapp.net"}) for i in range(260)]),
        Node("n", {"a": "1:99@hosted", "b": "2:3@hosted.lid", "c": "status@broadcast"}, []),
    ]
    seeds = [encode_node(n) for n in nodes]
    # Decode-only shapes: FB_JID and INTEROP_JID.
    seeds.append(bytes.fromhex("00f8031908f6fc03616263000203"))
    seeds.append(bytes.fromhex("00f8041908f5ff815f00010007f801f80119"))
    return seeds


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randrange(1, 5)):
        op = rng.randrange(6)
        n = len(buf)
        if op == 0 and n > 1:
            buf[rng.randrange(1, n)] = rng.randrange(256)
        elif op == 1 and n > 1:
            buf[rng.randrange(1, n)] = rng.choice(_TAG_BYTES)
        elif op == 2 and n > 1:
            del buf[rng.randrange(1, n) :]
        elif op == 3 and n > 2:
            start = rng.randrange(1, n)
            del buf[start : start + rng.randrange(1, 16)]
        elif op == 4:
            pos = rng.randrange(1, n + 1) if n > 1 else 1
            buf[pos:pos] = rng.randbytes(rng.randrange(1, 8))
        else:
            other = rng.randrange(1, n + 1) if n > 1 else 1
            buf[other:other] = bytes([rng.choice(_TAG_BYTES), rng.randrange(256)])
    if not buf:
        buf.append(0)
    return bytes(buf)


def _canon(node: Node) -> Node:
    """The node up to the two documented re-encoding changes.

    Text content becomes UTF-8 bytes (a decoded FB or INTEROP JID is re-encoded as UTF-8,
    those forms being decode-only, so it comes back as bytes), and a ``:0`` device is
    dropped (AD_JID does not keep it, e.g. from an FB_JID with device 0).
    """

    def text(value: str) -> str:
        return value.replace(":0@", "@")

    content = node.content
    if isinstance(content, list):
        content = [_canon(c) for c in content]
    elif isinstance(content, str):
        content = text(content).encode()
    return Node(text(node.tag), {text(k): text(v) for k, v in node.attrs.items()}, content)


def main() -> int:
    """Run the fuzz loop and print a summary line; exit 1 on any failure."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mem-mb", type=int, default=1024, help="RLIMIT_AS in MiB")
    parser.add_argument("--max-seconds", type=float, default=0.5, help="per-input limit")
    args = parser.parse_args()

    limit = args.mem_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    rng = random.Random(args.seed)
    seeds = _seed_nodes(rng)
    decoded = rejected = failures = 0
    slowest = 0.0
    errors: dict[str, int] = {}
    start = time.perf_counter()
    for i in range(args.count):
        r = rng.random()
        if r < 0.25:
            data = bytes([rng.choice((0, 0, 2))]) + rng.randbytes(rng.randrange(0, 64))
        elif r < 0.9:
            data = _mutate(rng, rng.choice(seeds))
        else:
            body = _mutate(rng, rng.choice(seeds))[1:]
            data = b"\x02" + zlib.compress(body)
            if rng.random() < 0.3:
                data = _mutate(rng, data)
        t0 = time.perf_counter()
        try:
            node = decode_node(data)
        except WamdError as exc:
            rejected += 1
            kind = type(exc).__name__
            errors[kind] = errors.get(kind, 0) + 1
        except BaseException as exc:
            failures += 1
            print(f"FAIL input {i}: {type(exc).__name__}: {exc} data={data.hex()}", flush=True)
        else:
            decoded += 1
            try:
                again = decode_node(encode_node(node))
            except BaseException as exc:
                failures += 1
                print(f"FAIL re-encode {i}: {type(exc).__name__}: {exc} data={data.hex()}")
            else:
                if _canon(again) != _canon(node):
                    failures += 1
                    print(f"FAIL round trip {i}: data={data.hex()}")
        elapsed = time.perf_counter() - t0
        slowest = max(slowest, elapsed)
        if elapsed > args.max_seconds:
            failures += 1
            print(f"FAIL slow input {i}: {elapsed:.3f}s data={data[:200].hex()}...")
        if (i + 1) % 100_000 == 0:
            rate = (i + 1) / (time.perf_counter() - start)
            print(
                f"{i + 1:,} inputs, {decoded:,} decoded, {rejected:,} rejected, "
                f"{failures} failures, {rate:,.0f}/s",
                flush=True,
            )
    total = time.perf_counter() - start
    print(
        f"done: {args.count:,} inputs in {total:.1f}s (seed {args.seed}, RLIMIT_AS "
        f"{args.mem_mb} MiB): {decoded:,} decoded and re-encoded, {rejected:,} rejected "
        f"({', '.join(f'{k} {v:,}' for k, v in sorted(errors.items()))}), slowest input "
        f"{slowest * 1000:.2f} ms, failures: {failures}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
