"""Benchmark wamd's group (sender-key) encryption side by side with Baileys in one run.

Both sides run their repository over a transactional in-memory key store, as an app
does: wamd's :class:`~wamd.signal.repository.SignalRepository` on
:class:`wamd.auth.keystore.KeyStore` (memory backend), Baileys'
``makeLibSignalRepository`` on its ``addTransactionCapability`` store
(``benchmarks/node/bench_signal_group.mjs``). One sender, one receiver, 100-byte
messages:

- encrypt/s and decrypt/s for a fresh sender key (the first ``--fresh`` messages);
- the same after ``--history`` messages sent and received (Baileys skips every other
  iteration on send and keeps the skipped keys in its own state, so its records grow and
  it slows down; wamd does not skip);
- the stored record sizes after that history.

wamd's sans-IO core (records kept in memory, no store) is timed too, for reference.
Writes ``benchmarks/results/signal_group.json`` and ``signal_group.md``.

    .venv/bin/python benchmarks/bench_signal_group.py [--quick]
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
from wamd.auth.keystore import KeyStore
from wamd.signal.group import (
    create_distribution_message,
    group_decrypt,
    group_encrypt,
    process_distribution_message,
)
from wamd.signal.keys import generate_identity_key_pair, generate_signed_pre_key
from wamd.signal.repository import LocalIdentity, SignalRepository
from wamd.signal.sender_key_record import SenderKeyRecord

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
NODE_SCRIPT = HERE / "node" / "bench_signal_group.mjs"
GROUP = "120363000000000000@g.us"
ME = "15550001111:2@s.whatsapp.net"
NAME = f"{GROUP}::15550001111::2"
SIZE = 100
PLAINTEXT = b"a" * SIZE


def _repo() -> SignalRepository:
    identity = generate_identity_key_pair()
    local = LocalIdentity(identity, 1234, generate_signed_pre_key(identity, 1))
    clock = iter(range(1_800_000_000_000, 1 << 62))
    return SignalRepository(KeyStore(MemoryBackend()), local, now_ms=lambda: next(clock))


async def _python_repository(fresh: int, history: int, after: int) -> dict[str, float]:
    sender, receiver = _repo(), _repo()

    async def encrypt_many(n: int) -> tuple[float, list[bytes], bytes]:
        out = []
        skdm = b""
        t0 = time.perf_counter()
        for _ in range(n):
            ct, skdm = await sender.encrypt_group_message(GROUP, ME, PLAINTEXT)
            out.append(ct)
        return n / (time.perf_counter() - t0), out, skdm

    async def decrypt_many(items: list[bytes]) -> float:
        t0 = time.perf_counter()
        for ct in items:
            if await receiver.decrypt_group_message(GROUP, ME, ct) != PLAINTEXT:
                raise RuntimeError("decrypt mismatch")
        return len(items) / (time.perf_counter() - t0)

    skdm = await sender.sender_key_distribution(GROUP, ME)
    await receiver.process_sender_key_distribution(GROUP, ME, skdm)
    enc_fresh, cts, _ = await encrypt_many(fresh)
    dec_fresh = await decrypt_many(cts)
    t0 = time.perf_counter()
    done = fresh
    while done < history:
        _, batch, _ = await encrypt_many(min(200, history - done))
        await decrypt_many(batch)
        done += len(batch)
    history_seconds = time.perf_counter() - t0
    enc_after, cts, _ = await encrypt_many(after)
    dec_after = await decrypt_many(cts)
    own = (await sender.store.get("sender-key", [NAME]))[NAME]
    theirs = (await receiver.store.get("sender-key", [NAME]))[NAME]
    return {
        "encrypt_fresh_per_s": enc_fresh,
        "decrypt_fresh_per_s": dec_fresh,
        "encrypt_after_per_s": enc_after,
        "decrypt_after_per_s": dec_after,
        "history_seconds": history_seconds,
        "ciphertext_bytes": len(cts[0]),
        "sender_record_bytes": len(own),
        "receiver_record_bytes": len(theirs),
        "sender_record_baileys_json_bytes": len(
            SenderKeyRecord.deserialize(own).to_baileys_bytes()
        ),
    }


def _python_core(n: int, repeats: int = 3) -> dict[str, float]:
    best = {"encrypt_per_s": 0.0, "decrypt_per_s": 0.0}
    for _ in range(repeats):
        sender = SenderKeyRecord()
        receiver = SenderKeyRecord()
        process_distribution_message(receiver, create_distribution_message(sender))
        t0 = time.perf_counter()
        cts = [group_encrypt(sender, PLAINTEXT) for _ in range(n)]
        t1 = time.perf_counter()
        for ct in cts:
            group_decrypt(receiver, ct)
        t2 = time.perf_counter()
        best["encrypt_per_s"] = max(best["encrypt_per_s"], n / (t1 - t0))
        best["decrypt_per_s"] = max(best["decrypt_per_s"], n / (t2 - t1))
    return best


def _baileys(fresh: int, history: int, after: int) -> dict[str, Any]:
    result: dict[str, Any] = run_node(NODE_SCRIPT, fresh, history, after, SIZE, timeout=1800)
    return result


def main() -> int:
    """Run both sides, print a summary and write the results files."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fresh", type=int, default=300)
    parser.add_argument("--history", type=int, default=2000)
    parser.add_argument("--after", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="100/500/100 messages")
    args = parser.parse_args()
    if args.quick:
        args.fresh, args.history, args.after = 100, 500, 100

    baileys = _baileys(args.fresh, args.history, args.after)
    wamd = asyncio.run(_python_repository(args.fresh, args.history, args.after))
    core_n = max(args.fresh, 1000)
    core = _python_core(core_n)
    keys = (
        "encrypt_fresh_per_s",
        "decrypt_fresh_per_s",
        "encrypt_after_per_s",
        "decrypt_after_per_s",
    )
    result = {
        "date": now_utc(),
        "command": "benchmarks/bench_signal_group.py" + (" --quick" if args.quick else ""),
        "machine": {**machine(), "node": baileys["node_version"]},
        "messages": {
            "fresh": args.fresh,
            "history": args.history,
            "after": args.after,
            "bytes": SIZE,
        },
        "wamd_repository": {k: round(v, 1) for k, v in wamd.items()},
        "wamd_core": {k: round(v, 1) for k, v in core.items()},
        "core_messages": core_n,
        "baileys": {k: (round(v, 1) if isinstance(v, float) else v) for k, v in baileys.items()},
        "ratio": {k.removesuffix("_per_s"): round(wamd[k] / baileys[k], 1) for k in keys},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "signal_group.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "signal_group.md").write_text(_markdown(result))
    print(json.dumps(result, indent=2))
    return 0


def _row(label: str, values: list[str]) -> str:
    return "| " + " | ".join([label, *values]) + " |"


def _markdown(r: dict[str, Any]) -> str:
    w, b, c, q, m = r["wamd_repository"], r["baileys"], r["wamd_core"], r["ratio"], r["messages"]
    phases = ("encrypt_fresh", "decrypt_fresh", "encrypt_after", "decrypt_after")
    h = f"{m['history']:,}"
    table = "\n".join(
        [
            _row(
                "messages/s",
                [
                    "encrypt (fresh key)",
                    "decrypt (fresh key)",
                    f"encrypt after {h}",
                    f"decrypt after {h}",
                ],
            ),
            "|---|---:|---:|---:|---:|",
            _row("wamd", [f"{w[k + '_per_s']:,.0f}" for k in phases]),
            _row(f"Baileys ({b['node_version']})", [f"{b[k + '_per_s']:,.1f}" for k in phases]),
            _row("ratio wamd / Baileys", [f"**{q[k]}x**" for k in phases]),
        ]
    )
    return f"""# Group (sender-key) encryption: wamd vs Baileys

Measured {r["date"]} by `.venv/bin/python {r["command"]}`, both sides in the same run.
One sender and one receiver, {m["bytes"]}-byte messages, each side through its repository
over a transactional in-memory key store (wamd: `SignalRepository` on `wamd.auth`
`KeyStore`; Baileys: `makeLibSignalRepository` on `addTransactionCapability`). Every
message is loaded from and written back to the store, signed on send and verified on
receive.

{table}

Fresh = the first {m["fresh"]} messages of a new sender key; after = {m["after"]} messages
once {h} had been sent and received. Baileys encrypts with iteration 0, then 2, 4, ...
and stores every skipped key in its own sender state (up to 2,000), and its receivers
store them too; each message then parses and rewrites that JSON, so it slows down as the
history grows. wamd uses each iteration in turn and keeps no skipped keys when nothing
is lost.

Stored records after the history: Baileys sender {b["sender_record_bytes"]:,} bytes,
receiver {b["receiver_record_bytes"]:,} bytes (UTF-8 JSON); wamd sender
{w["sender_record_bytes"]:,.0f} bytes, receiver {w["receiver_record_bytes"]:,.0f} bytes
(native form; the sender's in Baileys' JSON form is
{w["sender_record_baileys_json_bytes"]:,.0f} bytes). Sending and receiving the whole
history took Baileys {b["history_seconds"]:,.1f} s and wamd {w["history_seconds"]:,.1f} s.

wamd's sans-IO core alone (records in memory, no store; best of 3 runs of
{r["core_messages"]:,} messages): {c["encrypt_per_s"]:,.0f} encrypt/s,
{c["decrypt_per_s"]:,.0f} decrypt/s.

Machine: {r["machine"]["platform"]}, {r["machine"]["processor"]},
{r["machine"]["cpus"]} CPUs (shared with other jobs), Python {r["machine"]["python"]}.
"""


if __name__ == "__main__":
    sys.exit(main())
