"""Crash-safety harness: kill -9 a writer of auth-state transactions, again and again.

Usage::

    python tests/integration/crash_harness.py --backend native --dir DIR --rounds 200

Each round forks a *writer* process that opens the store and runs a stream of
transactions from several concurrent workers (so commits are grouped), writing
"<worker> <n>" to a pipe after transaction n of that worker has committed (its
``async with`` has exited). After a random delay the harness kills the writer with
SIGKILL, then forks a *verifier* process that reopens the store and checks that:

- it loads (creds and keys);
- every transaction reported committed is there (durability);
- no transaction is half-applied: worker w's transaction n writes pre-key
  ``w*10**6+n``, replaces identity-key ``w.{n-1}`` by ``w.{n}`` and sets its counter
  (lid-mapping ``w{w}``) to n, and all of that is present for n <= counter and absent
  beyond it (atomicity), with at most one unreported transaction per worker;
- creds saved by worker 0 (``next_pre_key_id``) are at least the last reported save.

Writers and verifiers are forked from this process, which never runs asyncio itself,
so a round costs milliseconds rather than an interpreter start. The last line printed
is a JSON summary; the exit status is 0 only if every round verified.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import select
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from wamd.auth import AuthHandle, use_multi_file_auth_state, use_native_file_auth_state

WORKERS = 4
CREDS_EVERY = 7


async def _open_native(folder: Path) -> AuthHandle:
    return await use_native_file_auth_state(folder / "store.db", "crash")


async def _open_native_encrypted(folder: Path) -> AuthHandle:
    return await use_native_file_auth_state(folder / "store.db", "crash", encryption_key=b"k" * 32)


async def _open_baileys(folder: Path) -> AuthHandle:
    return await use_multi_file_auth_state(folder / "baileys")


OPENERS: dict[str, Callable[[Path], Awaitable[AuthHandle]]] = {
    "native": _open_native,
    "native-encrypted": _open_native_encrypted,
    "baileys": _open_baileys,
}


def pre_key_id(worker: int, n: int) -> str:
    """The pre-key id transaction ``n`` of ``worker`` writes."""
    return str(worker * 1_000_000 + n)


def pre_key_value(worker: int, n: int) -> bytes:
    """64 bytes (private || public in form) unique to the transaction."""
    return hashlib.sha512(f"pre-key {worker} {n}".encode()).digest()


def identity_value(worker: int, n: int) -> bytes:
    """33 bytes (0x05 || key in form) unique to the transaction."""
    return b"\x05" + hashlib.sha256(f"identity {worker} {n}".encode()).digest()


async def _counter(handle: AuthHandle, worker: int) -> int:
    found = await handle.state.keys.get("lid-mapping", [f"w{worker}"])
    return int(found[f"w{worker}"].decode()) if found else 0


async def _write_forever(
    opener: Callable[[Path], Awaitable[AuthHandle]], folder: Path, fd: int
) -> None:
    handle = await opener(folder)
    keys = handle.state.keys

    async def worker(w: int) -> None:
        while True:
            async with keys.transaction(f"w{w}"):
                n = await _counter(handle, w) + 1
                changes: dict[str, dict[str, bytes | None]] = {
                    "pre-key": {pre_key_id(w, n): pre_key_value(w, n)},
                    "identity-key": {f"{w}.{n}": identity_value(w, n)},
                    "lid-mapping": {f"w{w}": str(n).encode()},
                }
                if n > 1:
                    changes["identity-key"][f"{w}.{n - 1}"] = None
                await keys.set(changes)
            os.write(fd, f"{w} {n}\n".encode())
            if w == 0 and n % CREDS_EVERY == 0:
                handle.state.creds.next_pre_key_id = n
                await handle.save_creds()
                os.write(fd, f"c {n}\n".encode())

    await asyncio.gather(*(worker(w) for w in range(WORKERS)))


async def _verify(
    opener: Callable[[Path], Awaitable[AuthHandle]],
    folder: Path,
    reported: dict[int, int],
    creds_reported: int,
    seen: dict[int, int],
) -> str:
    """'ok <counters>' if the store is sound, else '! <what is wrong>'.

    ``seen`` holds each worker's counter found by the previous verification: those
    transactions were on disk then, so they must still be, and values up to them
    were checked already.
    """
    counters: list[str] = []
    async with await opener(folder) as handle:
        keys = handle.state.keys
        backend = handle.backend
        if handle.state.creds.next_pre_key_id < creds_reported:
            have = handle.state.creds.next_pre_key_id
            return f"! creds next_pre_key_id {have} < saved {creds_reported}"
        pre_ids = set(await backend.list_ids("pre-key"))
        identity_ids = set(await backend.list_ids("identity-key"))
        for w in range(WORKERS):
            c = await _counter(handle, w)
            floor = max(reported.get(w, 0), seen.get(w, 0))
            if c < floor:
                return f"! worker {w}: counter {c} < {floor} committed before (lost commit)"
            if c > floor + 1:
                return f"! worker {w}: counter {c} > {floor} + 1 (more than one unreported)"
            mine = {i for i in pre_ids if int(i) // 1_000_000 == w}
            if mine != {pre_key_id(w, n) for n in range(1, c + 1)}:
                return f"! worker {w}: pre-keys do not match counter {c} (half-applied?)"
            start = seen.get(w, 0) + 1
            wanted = {pre_key_id(w, n): pre_key_value(w, n) for n in range(start, c + 1)}
            if await keys.get("pre-key", list(wanted)) != wanted:
                return f"! worker {w}: pre-key values {start}..{c} differ"
            my_ids = {i for i in identity_ids if i.startswith(f"{w}.")}
            if my_ids != ({f"{w}.{c}"} if c else set()):
                return (
                    f"! worker {w}: identity keys {sorted(my_ids)} for counter {c} (half-applied?)"
                )
            if c and await keys.get("identity-key", [f"{w}.{c}"]) != {
                f"{w}.{c}": identity_value(w, c)
            }:
                return f"! worker {w}: identity value {c} differs"
            counters.append(str(c))
    return "ok " + " ".join(counters)


def _child(fn: Callable[[int], None]) -> tuple[int, int]:
    """Fork a child running ``fn(write_fd)``; returns (pid, read_fd)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        code = 0
        try:
            fn(write_fd)
        except BaseException as exc:
            os.write(write_fd, f"! {type(exc).__name__}: {exc}\n".encode())
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    return pid, read_fd


def _read_lines(
    fd: int, until: float | None, head: bytes | bytearray = b""
) -> tuple[list[str], bool]:
    """Lines from ``fd`` (after ``head``) until the deadline or EOF; returns (lines, eof)."""
    data = bytes(head)
    eof = False
    while True:
        timeout = None if until is None else max(0.0, until - time.monotonic())
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            eof = True
            break
        data += chunk
    return data.decode().splitlines(), eof


EARLY_KILL_SHARE = 0.1
FIRST_COMMIT_WAIT_S = 20.0


def _read_until_a_line(fd: int, buf: bytearray, until: float) -> bool:
    """Append to ``buf`` until it holds a whole line, EOF, or ``until``; True on EOF."""
    while b"\n" not in buf:
        ready, _, _ = select.select([fd], [], [], max(0.0, until - time.monotonic()))
        if not ready:
            return False
        chunk = os.read(fd, 65536)
        if not chunk:
            return True
        buf += chunk
    return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="native")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--min-ms", type=float, default=5.0)
    parser.add_argument("--max-ms", type=float, default=150.0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    if args.backend not in OPENERS:
        parser.error(f"unknown backend {args.backend!r}; have {sorted(OPENERS)}")
    opener = OPENERS[args.backend]
    rng = random.Random(args.seed)
    args.dir.mkdir(parents=True, exist_ok=True)
    reported: dict[int, int] = {}
    creds_reported = 0
    seen: dict[int, int] = {}
    kills_mid_stream = 0
    failures: list[str] = []
    started = time.monotonic()
    for round_no in range(args.rounds):
        pid, fd = _child(lambda w: asyncio.run(_write_forever(opener, args.dir, w)))
        head = bytearray()
        eof = False
        # Most rounds start the kill clock once the writer has reported a commit, so the
        # kill lands mid-stream however slow the machine is; a tenth are killed while the
        # store may still be opening (or recovering from the previous kill).
        if rng.random() >= EARLY_KILL_SHARE:
            eof = _read_until_a_line(fd, head, time.monotonic() + FIRST_COMMIT_WAIT_S)
        lines: list[str] = []
        if not eof:
            deadline = time.monotonic() + rng.uniform(args.min_ms, args.max_ms) / 1000
            lines, eof = _read_lines(fd, deadline, head)
        else:
            lines = head.decode().splitlines()
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        more, _ = _read_lines(fd, None) if not eof else ([], True)
        os.close(fd)
        committed_this_round = 0
        for line in lines + more:
            tag, _, value = line.partition(" ")
            if tag == "!":
                failures.append(f"round {round_no}: writer failed: {value}")
            elif tag == "c":
                creds_reported = max(creds_reported, int(value))
            else:
                reported[int(tag)] = max(reported.get(int(tag), 0), int(value))
                committed_this_round += 1
        kills_mid_stream += committed_this_round > 0

        def verify(write_fd: int, saved: int = creds_reported, seen: dict[int, int] = seen) -> None:
            verdict = asyncio.run(_verify(opener, args.dir, reported, saved, seen))
            os.write(write_fd, f"{verdict}\n".encode())

        vpid, vfd = _child(verify)
        verdict, _ = _read_lines(vfd, None)
        os.waitpid(vpid, 0)
        os.close(vfd)
        if len(verdict) != 1 or not verdict[0].startswith("ok "):
            tail = [line for line in lines + more if line.startswith(("0 ", "c "))][-3:]
            failures.append(
                f"round {round_no}: {' '.join(verdict) or 'verifier died'} (last lines {tail})"
            )
            break
        seen = {w: int(n) for w, n in enumerate(verdict[0].split()[1:])}
    summary = {
        "backend": args.backend,
        "rounds": args.rounds,
        "kills_after_some_commits": kills_mid_stream,
        "transactions_reported": sum(reported.values()),
        "creds_saves_reported": creds_reported // CREDS_EVERY,
        "seconds": round(time.monotonic() - started, 2),
        "failures": failures,
    }
    print(json.dumps(summary))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
