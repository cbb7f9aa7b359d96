"""``python -m wamd.testing serve``: run a FakeServer in its own process.

Prints one JSON line on stdout, ``{"url": ..., "root_public_key": "<hex>", "pid": ...}``,
then serves until SIGTERM or SIGINT (or end of input with ``--control``). Benchmarks and
other processes use it to get a server they do not share an event loop with.

With ``--control`` the server also reads JSON-line commands on stdin and answers each
with one JSON line on stdout (``{"ok": true, "result": ...}`` or ``{"ok": false,
"error": "..."}``):

- ``{"op": "scan", "phone": "155...", "qr": "..."}`` -> the new device id;
- ``{"op": "enter_code", "phone": "155...", "code": "ABCD1234"}``;
- ``{"op": "devices", "phone": "155..."}`` -> ``{device id: pre-key count}``;
- ``{"op": "stream_error", "phone": ..., "device": N, "code": 503}``, ``{"op": "drop", ...}``;
- ``{"op": "stop"}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from wamd.crypto import KeyPair
from wamd.errors import UsageError, WamdError
from wamd.testing.server import FakeServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m wamd.testing", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run a FakeServer until SIGTERM/SIGINT")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    serve.add_argument("--port", type=int, default=0, help="port to bind (0: any free one)")
    serve.add_argument(
        "--root-private-key",
        metavar="HEX",
        help="the test root's 32-byte private key in hex (default: a fresh one)",
    )
    serve.add_argument(
        "--lenient-login",
        action="store_true",
        help="create unknown accounts and devices at login (strict_login=False)",
    )
    serve.add_argument("--refs", type=int, default=6, help="QR refs per registration (6)")
    serve.add_argument(
        "--no-transcripts",
        action="store_true",
        help="keep no per-connection transcripts (long runs, many clients)",
    )
    serve.add_argument(
        "--control", action="store_true", help="read JSON-line commands on stdin (see above)"
    )
    return parser


async def _command(server: FakeServer, request: dict[str, Any], stop: asyncio.Event) -> Any:
    op = request.get("op")
    if op == "scan":
        return await server.phone(str(request["phone"])).scan(str(request["qr"]))
    if op == "enter_code":
        await server.phone(str(request["phone"])).enter_code(str(request["code"]))
        return None
    if op == "devices":
        devices = server.devices(str(request["phone"]))
        return {str(i): len(d.pre_keys) for i, d in devices.items()}
    if op == "stream_error":
        code = request.get("code", 515)
        return await server.send_stream_error(
            str(request["phone"]), int(request["device"]), code=None if code is None else int(code)
        )
    if op == "drop":
        return await server.drop(str(request["phone"]), int(request["device"]))
    if op == "stop":
        stop.set()
        return None
    raise UsageError(f"unknown control op {op!r}")


def _read_stdin(loop: asyncio.AbstractEventLoop, lines: asyncio.Queue[str]) -> None:
    # a daemon thread, so a blocked read never keeps the process alive after SIGTERM
    for line in sys.stdin:
        loop.call_soon_threadsafe(lines.put_nowait, line)
    loop.call_soon_threadsafe(lines.put_nowait, "")


async def _control(server: FakeServer, stop: asyncio.Event) -> None:
    lines: asyncio.Queue[str] = asyncio.Queue()
    reader = threading.Thread(
        target=_read_stdin, args=(asyncio.get_running_loop(), lines), daemon=True
    )
    reader.start()
    while True:
        line = await lines.get()
        if not line:
            stop.set()
            return
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            reply = {"ok": True, "result": await _command(server, request, stop)}
        except (WamdError, ValueError, KeyError, TypeError) as exc:
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


async def _serve(args: argparse.Namespace) -> None:
    root = (
        KeyPair.from_private(bytes.fromhex(args.root_private_key))
        if args.root_private_key
        else None
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with FakeServer(
        args.host,
        args.port,
        root=root,
        strict_login=not args.lenient_login,
        pair_refs=args.refs,
        record_transcripts=not args.no_transcripts,
    ) as server:
        line = {
            "url": server.url,
            "root_public_key": server.root_public_key.hex(),
            "pid": os.getpid(),
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        control = asyncio.create_task(_control(server, stop)) if args.control else None
        await stop.wait()
        if control is not None:
            control.cancel()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m wamd.testing``."""
    args = _parser().parse_args(argv)
    if args.command == "serve":
        if args.root_private_key is not None:
            try:
                if len(bytes.fromhex(args.root_private_key)) != 32:
                    raise ValueError
            except ValueError:
                sys.stderr.write("--root-private-key must be 64 hex digits\n")
                return 2
        asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
