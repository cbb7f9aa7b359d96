"""Benchmark logging in and idle connections: wamd side by side with Baileys, one run.

Both clients talk to one FakeServer that runs in its own process (``--serve``), in lenient
login mode: stored sessions are fabricated creds (an account and device the server
creates at first sight, already holding 812 one-time pre-keys, so neither client
uploads any: the "stored session" case).

- login time: ``connect()`` → ``Connected`` (wamd) and ``makeWASocket`` → ``connection:
  open`` (Baileys), one client at a time, median and p90 of ``--repeats`` logins;
- memory: RSS of a process holding 1, 100 and 1,000 idle logged-in connections, minus the
  same process before its first connection (per connection), and that baseline itself.
  wamd runs in its own Python process (``--wamd-memory``), Baileys in one node process.

Writes ``benchmarks/results/connect.json`` and ``connect.md``.

    .venv/bin/python benchmarks/bench_connect.py [--repeats 30] [--sizes 1,100,1000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
NODE_SCRIPT = HERE / "node" / "bench_connect.mjs"
SEEDED_PRE_KEYS = 812
WAMD_USERS = 15551000000
BAILEYS_USERS = 15552000000


# --- the server process ---------------------------------------------------------------


async def _serve() -> None:
    from wamd.testing import FakeServer
    from wamd.testing.state import Account, Device

    server = FakeServer(strict_login=False)
    create = server._create_on_the_fly

    def create_seeded(conn: Any, number: str, device_id: int) -> tuple[Account, Device]:
        account, device = create(conn, number, device_id)
        if not device.pre_keys:
            device.pre_keys = {i: bytes(32) for i in range(1, SEEDED_PRE_KEYS + 1)}
        return account, device

    server._create_on_the_fly = create_seeded  # type: ignore[method-assign]
    async with server:
        print(json.dumps({"url": server.url, "root": server.root_public_key.hex()}), flush=True)
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        loop.add_reader(sys.stdin.fileno(), done.set)  # stdin closes: stop
        await done.wait()
        loop.remove_reader(sys.stdin.fileno())


# --- wamd clients -----------------------------------------------------------------------


async def _stored_session(user: int) -> Any:
    import wamd
    from wamd.auth.creds import Contact

    handle = await wamd.memory_auth_state()
    creds = handle.state.creds
    creds.me = Contact(id=f"{user}:1@s.whatsapp.net")
    creds.account = b"\x0a\x00"  # lenient server: a placeholder signed identity
    return handle


async def wamd_login_times(url: str, root: bytes, repeats: int) -> list[float]:
    """Seconds from connect() to Connected, one fresh login at a time."""
    import wamd

    handle = await _stored_session(WAMD_USERS)
    times = []
    for _ in range(repeats + 3):
        t0 = time.perf_counter()
        conn = await wamd.connect(handle, url=url, server_root_key=root)
        await conn.wait_connected(30)
        times.append(time.perf_counter() - t0)
        await conn.close()
    return times[3:]  # the first logins warm up imports and caches


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def wamd_memory(url: str, root: bytes, sizes: list[int]) -> dict[str, Any]:
    """RSS before any connection and with each number of idle connections."""
    import wamd

    # Everything a connection needs is imported and warmed up by one throwaway login
    # of another account, so the baseline is the loaded library.
    warm = await wamd.connect(
        await _stored_session(WAMD_USERS + 999_999), url=url, server_root_key=root
    )
    await warm.wait_connected(30)
    await warm.close()
    gc.collect()
    await asyncio.sleep(0.5)
    baseline = _rss()
    conns: list[Any] = []
    rss: dict[str, int] = {}
    for size in sizes:
        while len(conns) < size:
            batch = range(len(conns), min(size, len(conns) + 50))
            states = [await _stored_session(WAMD_USERS + 1 + i) for i in batch]
            opened = await asyncio.gather(
                *(wamd.connect(s, url=url, server_root_key=root) for s in states)
            )
            await asyncio.gather(*(c.wait_connected(60) for c in opened))
            conns.extend(opened)
        gc.collect()
        await asyncio.sleep(1.0)  # idle: first-seconds work done, buffers settled
        rss[str(size)] = _rss()
    connected = sum(1 for c in conns if c.is_connected)
    await asyncio.gather(*(c.close() for c in conns))
    return {"baseline_rss": baseline, "rss": rss, "connected": connected}


# --- orchestration --------------------------------------------------------------------


def _start_server() -> tuple[subprocess.Popen[str], str, bytes]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    return proc, info["url"], bytes.fromhex(info["root"])


def _stats(times: list[float]) -> dict[str, float]:
    ordered = sorted(times)
    return {
        "median_ms": statistics.median(ordered) * 1000,
        "p90_ms": ordered[int(len(ordered) * 0.9) - 1] * 1000,
        "best_ms": ordered[0] * 1000,
        "n": len(ordered),
    }


def _per_connection(mem: dict[str, Any]) -> dict[str, float]:
    base = mem["baseline_rss"]
    return {size: (rss - base) / int(size) / 2**20 for size, rss in mem["rss"].items()}


def run(repeats: int, sizes: list[int]) -> dict[str, Any]:
    """Measure both clients against one server process; return the figures."""
    server, url, root = _start_server()
    try:
        login = asyncio.run(wamd_login_times(url, root, repeats))
        mem_proc = subprocess.run(
            [sys.executable, __file__, "--wamd-memory", url, root.hex(), ",".join(map(str, sizes))],
            capture_output=True,
            text=True,
            check=True,
        )
        wamd_mem = json.loads(mem_proc.stdout.strip().splitlines()[-1])
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as spec_file:
            json.dump(
                {
                    "url": url,
                    "root": root.hex(),
                    "repeats": repeats,
                    "sizes": sizes,
                    "firstUser": BAILEYS_USERS,
                },
                spec_file,
            )
        node = subprocess.run(
            ["node", "--expose-gc", str(NODE_SCRIPT), spec_file.name],
            capture_output=True,
            text=True,
            check=False,
            timeout=1800,
        )
        os.unlink(spec_file.name)
        if node.returncode:
            raise RuntimeError(f"bench_connect.mjs failed:\n{node.stderr[-3000:]}")
        baileys = json.loads(node.stdout.strip().splitlines()[-1])
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(30)
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "login": {"wamd": _stats(login), "baileys": _stats(baileys["login_s"])},
        "memory": {
            "wamd": {
                "baseline_mib": wamd_mem["baseline_rss"] / 2**20,
                "rss_mib": {k: v / 2**20 for k, v in wamd_mem["rss"].items()},
                "per_connection_mib": _per_connection(wamd_mem),
                "connected": wamd_mem["connected"],
            },
            "baileys": {
                "baseline_mib": baileys["baseline_rss"] / 2**20,
                "rss_mib": {k: v / 2**20 for k, v in baileys["rss"].items()},
                "per_connection_mib": _per_connection(baileys),
                "connected": baileys["connected"],
                "failed_opens": baileys.get("failed", 0),
                "error": baileys.get("error"),
                "node": baileys["node"],
            },
        },
    }


def write_results(result: dict[str, Any]) -> None:
    """Write connect.json and connect.md."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "connect.json").write_text(json.dumps(result, indent=2) + "\n")
    login, mem = result["login"], result["memory"]
    lines = [
        "# Connect: login time and memory per idle connection (wamd vs Baileys)",
        "",
        f"Run {result['date']}, Python {result['machine']['python']}, "
        f"node {mem['baileys']['node']}, {result['machine']['cpus']} CPUs; one FakeServer "
        "in its own process (lenient login, 812 pre-keys already on the server).",
        "Reproduce: `.venv/bin/python benchmarks/bench_connect.py`.",
        "",
        "## Login on a stored session (connect → Connected / connection: open)",
        "",
        "| client | median ms | p90 ms | best ms | logins |",
        "|---|---|---|---|---|",
    ]
    for name in ("wamd", "baileys"):
        s = login[name]
        lines.append(
            f"| {name} | {s['median_ms']:.1f} | {s['p90_ms']:.1f} | {s['best_ms']:.1f} | {s['n']} |"
        )
    lines += [
        "",
        "## Memory (RSS) with idle logged-in connections in one process",
        "",
        "| client | baseline MiB | connections | RSS MiB | MiB per connection |",
        "|---|---|---|---|---|",
    ]
    for name in ("wamd", "baileys"):
        m = mem[name]
        for size, rss in m["rss_mib"].items():
            lines.append(
                f"| {name} | {m['baseline_mib']:.1f} | {size} | {rss:.1f} | "
                f"{m['per_connection_mib'][size]:.3f} |"
            )
    lines += [
        "",
        "Still logged in when the largest size was measured: "
        f"wamd {mem['wamd']['connected']}, Baileys {mem['baileys']['connected']}.",
    ]
    if mem["baileys"].get("error"):
        lines += [
            "",
            f"Baileys stopped at {mem['baileys']['connected']} connections: "
            f"{mem['baileys']['error']} ({mem['baileys']['failed_opens']} opens failed).",
        ]
    lines += [
        "",
        "Baseline: the process after loading the library and one throwaway login, before",
        "the measured connections. Per connection: (RSS − baseline) / connections; with one",
        "connection that difference is within garbage-collector noise (it can be negative).",
        "",
    ]
    (RESULTS / "connect.md").write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--sizes", default="1,100,1000")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--wamd-memory", nargs=3, metavar="X", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve())
        return 0
    if args.wamd_memory:
        url, root_hex, sizes = args.wamd_memory
        figures = asyncio.run(
            wamd_memory(url, bytes.fromhex(root_hex), [int(s) for s in sizes.split(",")])
        )
        print(json.dumps(figures))
        return 0
    result = run(args.repeats, [int(s) for s in args.sizes.split(",")])
    write_results(result)
    print((RESULTS / "connect.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
