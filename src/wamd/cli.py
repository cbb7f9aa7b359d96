"""The ``wamd`` command: inspect and migrate auth state, and a small demo.

Run ``wamd --help`` (or ``wamd COMMAND --help``). Exit codes: 0 success, 1 a wamd error
(a damaged, locked or foreign store, a refused migration…), 2 a bad command line,
130 interrupted. Errors print one line to stderr, never a traceback, never a secret.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from wamd import __version__
from wamd.auth.backend import StorageBackend
from wamd.auth.backends.baileys import BaileysFolderBackend
from wamd.auth.backends.native import NativeBackend
from wamd.auth.creds import AuthCreds, init_auth_creds
from wamd.auth.migrate import (
    MigrationReport,
    account_label,
    migrate_stores,
    native_accounts,
    open_store,
    parse_store,
)
from wamd.cli_link import add_pair_command, run_demo, run_pair
from wamd.crypto import generate_key_pair, prefixed, verify
from wamd.errors import UsageError, WamdError
from wamd.signal.store import KeyCategory

__all__ = ["main"]

STORE_HELP = """\
stores:
  PATH            a Baileys multi-file auth folder (useMultiFileAuthState)
  PATH.db         wamd's native SQLite store, account "default"
  PATH.db#ID      account ID in that native store
  sqlite:PATH     a native store whatever its file name (also sqlite:PATH#ID)
  postgres://USER@HOST/DB#ID   account ID in a PostgreSQL database (needs wamd[postgres])
  redis://HOST:PORT/N#ID       account ID in a Redis database (needs wamd[redis])

key files (encrypted native stores): 32 raw bytes, 64 hex digits or base64 of 32 bytes
"""


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, but bad arguments raise UsageError (exit code 2 from main)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        command = self.prog.removeprefix("wamd").strip()
        raise UsageError(f"{command}: {message}" if command else message)


def _parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = _ArgumentParser(
        prog="wamd",
        description="wamd: a WhatsApp multi-device client in Python. "
        "This command inspects and migrates auth state (including Baileys auth folders).",
        epilog=STORE_HELP + "\nexamples:\n"
        "  wamd inspect auth_info_baileys\n"
        "  wamd migrate auth_info_baileys wamd.db          # Baileys folder -> native\n"
        "  wamd migrate --dry-run wamd.db#bot baileys_out  # preview native -> Baileys\n",
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"wamd {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    mig = commands.add_parser(
        "migrate",
        help="copy an account's auth state from one store to another",
        description="Copy creds and every key from SRC to DST, so that DST mirrors SRC. "
        "SRC is never written. Only what differs is written, so a second run changes "
        "nothing. Everything is read back and compared. On any error DST is left as it "
        "was and the exit code is non-zero.",
        epilog=STORE_HELP,
        formatter_class=formatter,
    )
    mig.add_argument("src", metavar="SRC", help="the store to read")
    mig.add_argument("dst", metavar="DST", help="the store to write (created if missing)")
    mig.add_argument(
        "--dry-run", action="store_true", help="report what would change; write nothing"
    )
    mig.add_argument(
        "--force", action="store_true", help="replace a different account found in DST"
    )
    mig.add_argument(
        "--src-key-file", metavar="FILE", help="encryption key of an encrypted native SRC"
    )
    mig.add_argument(
        "--dst-key-file",
        metavar="FILE",
        help="encryption key of an encrypted native DST (a new DST is created encrypted)",
    )
    mig.add_argument(
        "--progress",
        action="store_true",
        help="show a progress bar even when stderr is not a terminal",
    )

    ins = commands.add_parser(
        "inspect",
        help="show what an auth store holds (no secrets)",
        description="Show the account, platform, registration, key counts per category "
        "and (for a Baileys folder) files that are not auth files. Prints no secret; "
        "writes nothing.",
        epilog=STORE_HELP,
        formatter_class=formatter,
    )
    ins.add_argument("path", metavar="STORE", help="the store to inspect")
    ins.add_argument(
        "--key-file", metavar="FILE", help="encryption key of an encrypted native store"
    )

    add_pair_command(commands)
    demo = commands.add_parser(
        "demo",
        help="pair, log in, restart and exchange messages on an embedded fake server",
        description="Start a local fake WhatsApp server, link a fresh device to a fake "
        "phone by QR code, take the 515 restart, log in, restart from the native store "
        "without a QR code, then link a second account and exchange end-to-end encrypted "
        "messages and receipts. With --pre-keys N, only create a fresh device identity "
        "(creds and N one-time pre-keys) in a native store and print its public parts.",
    )
    demo.add_argument(
        "--store",
        metavar="PATH",
        help="the native store file to use (default: a new temporary folder)",
    )
    demo.add_argument("--pre-keys", type=int, default=None, metavar="N", help="pre-keys to make")
    return parser


# --- progress --------------------------------------------------------------------------------


class _ProgressBar:
    """A one-line progress bar on a stream, redrawn at most ten times a second."""

    def __init__(self, stream: TextIO, label: str) -> None:
        self._stream = stream
        self._label = label
        self._last = 0.0
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < 0.1:
            return
        self._last = now
        width = 30
        filled = width * done // total if total else width
        bar = "#" * filled + "." * (width - filled)
        self._stream.write(f"\r{self._label} [{bar}] {done}/{total} keys")
        self._stream.flush()
        self._drawn = True

    def finish(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()


# --- commands --------------------------------------------------------------------------------


def _read_key_file(path: str | None) -> bytes | None:
    """A 32-byte key from a file: raw bytes, hex or base64 (surrounding whitespace ignored)."""
    if path is None:
        return None
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read key file {path}: {exc.strerror}") from None
    if len(raw) == 32:
        return raw
    text = raw.strip()
    try:
        if len(text) == 64:
            return bytes.fromhex(text.decode("ascii"))
        key = base64.b64decode(text, validate=True)
    except (ValueError, UnicodeDecodeError):
        key = b""
    if len(key) != 32:
        raise UsageError(f"key file {path} must hold 32 bytes (raw, hex or base64)")
    return key


async def _migrate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    source_key = _read_key_file(args.src_key_file)
    destination_key = _read_key_file(args.dst_key_file)
    bar = _ProgressBar(err, "migrating") if args.progress or err.isatty() else None
    try:
        report: MigrationReport = await migrate_stores(
            args.src,
            args.dst,
            dry_run=args.dry_run,
            force=args.force,
            progress=bar,
            source_key=source_key,
            destination_key=destination_key,
        )
    finally:
        if bar is not None:
            bar.finish()
    out.write(f"migrate {parse_store(args.src)} -> {parse_store(args.dst)}\n")
    for line in report.lines():
        out.write(line + "\n")
    return 0


def _describe_creds(creds: AuthCreds | None, out: TextIO) -> None:
    if creds is None:
        out.write("account: none (no creds stored)\n")
        return
    out.write(f"account: {account_label(creds)}\n")
    if creds.me is not None and creds.me.lid:
        out.write(f"lid: {creds.me.lid}\n")
    if creds.me is not None and creds.me.name:
        out.write(f"name: {creds.me.name}\n")
    out.write(f"platform: {creds.platform or '-'}\n")
    out.write(f"registered: {'yes' if creds.registered else 'no'}\n")
    out.write(f"paired: {'yes' if creds.account is not None else 'no'}\n")
    out.write(f"registration id: {creds.registration_id}\n")
    out.write(
        f"pre-key ids: next {creds.next_pre_key_id}, "
        f"first not uploaded {creds.first_unuploaded_pre_key_id}\n"
    )


async def _counts(backend: StorageBackend) -> dict[str, int]:
    return {c.value: len(await backend.list_ids(c.value)) for c in KeyCategory}


async def _inspect(args: argparse.Namespace, out: TextIO) -> int:
    spec = parse_store(args.path)
    backend = await open_store(spec, source=True, encryption_key=_read_key_file(args.key_file))
    try:
        out.write(f"store: {spec} ({'Baileys folder' if spec.kind == 'baileys' else 'native'})\n")
        if spec.kind == "native":
            others = [a for a in native_accounts(spec.path) if a != spec.client_id]
            if others:
                out.write(f"other accounts in this file: {', '.join(others)}\n")
        _describe_creds(await backend.load_creds(), out)
        counts = await _counts(backend)
        unknown: list[str] = []
        if isinstance(backend, BaileysFolderBackend):
            unknown = (await backend.inventory()).unknown
    finally:
        await backend.close()
    out.write(f"keys: {sum(counts.values())}\n")
    width = max(len(c) for c in counts)
    for category, n in counts.items():
        out.write(f"  {category:<{width}}  {n}\n")
    if unknown:
        out.write(f"unknown files (left alone): {len(unknown)}\n")
        for name in unknown:
            out.write(f"  {name}\n")
    return 0


async def _demo_keys(store: Path, pre_keys: int, out: TextIO) -> None:
    """Create fresh creds and ``pre_keys`` one-time pre-keys in a native store; print public parts.

    ``wamd demo --pre-keys N`` (or ``--store``); without them the demo runs the linking flow.
    """
    if pre_keys < 0 or pre_keys > 10000:
        raise UsageError("--pre-keys must be between 0 and 10000")
    backend = await NativeBackend.open(store)
    try:
        creds = await backend.load_creds()
        fresh = creds is None
        if creds is None:
            creds = init_auth_creds()
        first = creds.next_pre_key_id
        new = {str(first + i): generate_key_pair() for i in range(pre_keys)}
        await backend.write({"pre-key": {k: p.private + p.public for k, p in new.items()}})
        creds.next_pre_key_id = first + pre_keys
        await backend.save_creds(creds)
        counts = await _counts(backend)
    finally:
        await backend.close()
    spk = creds.signed_pre_key
    valid = verify(creds.signed_identity_key.public, prefixed(spk.key_pair.public), spk.signature)
    out.write(f"store: {store}\n")
    out.write(f"creds: {'created' if fresh else 'loaded'}\n")
    out.write(f"registration id: {creds.registration_id}\n")
    out.write(f"identity key (public): {creds.signed_identity_key.public.hex()}\n")
    out.write(f"noise key (public): {creds.noise_key.public.hex()}\n")
    out.write(
        f"signed pre-key {spk.key_id} (public): {spk.key_pair.public.hex()} "
        f"signature {'valid' if valid else 'INVALID'}\n"
    )
    for key_id, pair in new.items():
        out.write(f"pre-key {key_id} (public): {pair.public.hex()}\n")
    out.write("keys: " + ", ".join(f"{c} {n}" for c, n in counts.items() if n) + "\n")


async def _demo(args: argparse.Namespace, out: TextIO) -> int:
    if args.pre_keys is None and not args.store:
        return await run_demo(out)
    if args.pre_keys is None:
        args.pre_keys = 5
    if args.store:
        spec = parse_store(args.store if ":" in args.store else f"sqlite:{args.store}")
        if spec.kind != "native":
            raise UsageError("--store must be a native store file")
        await _demo_keys(spec.path, args.pre_keys, out)
        return 0
    with tempfile.TemporaryDirectory(prefix="wamd-demo-") as folder:
        await _demo_keys(Path(folder) / "demo.db", args.pre_keys, out)
        out.write("(temporary store, removed on exit; use --store PATH to keep one)\n")
    return 0


async def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.command == "migrate":
        return await _migrate(args, out, err)
    if args.command == "inspect":
        return await _inspect(args, out)
    if args.command == "pair":
        return await run_pair(args, out)
    return await _demo(args, out)


def main(
    argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run the ``wamd`` command; returns the exit code."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        return asyncio.run(_run(args, out, err))
    except UsageError as exc:
        err.write(f"wamd: error: {exc}\nrun 'wamd --help' for usage\n")
        return 2
    except WamdError as exc:
        err.write(f"wamd: error: {exc}\n")
        return 1
    except OSError as exc:  # a file system problem no layer below turned into a WamdError
        err.write(f"wamd: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        err.write("wamd: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
