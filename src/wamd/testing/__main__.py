"""``python -m wamd.testing serve``: run a FakeServer in its own process.

Prints one JSON line on stdout, ``{"url": ..., "root_public_key": "<hex>", "pid": ...}``,
then serves until SIGTERM or SIGINT. Benchmarks and other processes use it to get a
server they do not share an event loop with.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence

from wamd.crypto import KeyPair
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
    return parser


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
    ) as server:
        line = {
            "url": server.url,
            "root_public_key": server.root_public_key.hex(),
            "pid": os.getpid(),
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
        await stop.wait()


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
