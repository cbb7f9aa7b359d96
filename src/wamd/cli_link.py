"""The ``wamd pair`` and ``wamd demo`` commands (linking a device; the whole flow on a FakeServer).

Part of the command line (the top layer): it may use :mod:`wamd.testing`, which the
client never does.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import wamd
from wamd.auth import AuthHandle, use_native_file_auth_state
from wamd.binary import Jid
from wamd.errors import ConnectionClosedError, UsageError
from wamd.noise import WA_ROOT_KEY
from wamd.pairing import normalize_phone_number, print_qr

__all__ = [
    "add_pair_command",
    "run_demo",
    "run_pair",
]

if TYPE_CHECKING:
    from wamd.testing import FakeServer

_DEMO_PHONE = "15550001111"
_SECOND_PHONE = "15550002222"
_WAIT = 10.0
E = TypeVar("E", bound=wamd.Event)

Say = Callable[[str], None]


def add_pair_command(commands: argparse._SubParsersAction[Any]) -> None:
    """Add ``wamd pair`` to the command parser."""
    pair = commands.add_parser(
        "pair",
        help="link this computer as a companion device and keep it in a native store",
        description="Link a new device by QR code (printed here) or, with --phone, by an "
        "8-character code to type on the phone (Linked devices > Link with phone number). "
        "The creds are saved in the native store as soon as they change; the command "
        "exits once the device is logged in. An already linked store just logs in.",
    )
    pair.add_argument("--store", required=True, metavar="PATH", help="native store file")
    pair.add_argument("--client-id", default="default", metavar="ID", help="account in it")
    pair.add_argument("--phone", metavar="NUMBER", help="link by code for this number")
    pair.add_argument("--server", metavar="URL", help="chat server URL (a FakeServer)")
    pair.add_argument(
        "--root-key", metavar="HEX", help="the server's certificate root key (64 hex digits)"
    )
    pair.add_argument(
        "--qr-text",
        action="store_true",
        help="print the QR data as one line of text instead of drawing the code",
    )
    pair.add_argument(
        "--timeout", type=float, default=300.0, metavar="S", help="give up after S seconds"
    )


def _connect_target(args: argparse.Namespace) -> tuple[str, bytes]:
    if (args.server is None) != (args.root_key is None):
        raise UsageError("pair: --server and --root-key go together")
    if args.server is None:
        return wamd.DEFAULT_URL, WA_ROOT_KEY
    try:
        root = bytes.fromhex(args.root_key)
    except ValueError:
        raise UsageError("pair: --root-key must be hex") from None
    if len(root) != 32:
        raise UsageError(f"pair: --root-key must be 32 bytes (64 hex digits), got {len(root)}")
    return args.server, root


async def run_pair(args: argparse.Namespace, out: TextIO) -> int:
    """``wamd pair``: link (or log in) and exit once Connected."""
    url, root = _connect_target(args)
    phone = normalize_phone_number(args.phone) if args.phone else None
    handle = await use_native_file_auth_state(Path(args.store), client_id=args.client_id)
    async with handle:
        creds = handle.state.creds
        if creds.me is not None and creds.account is not None:
            out.write(f"already linked as {creds.me.id}; logging in\n")

        def show_qr(qr: str) -> None:
            out.write("scan this QR code with WhatsApp (Linked devices > Link a device):\n")
            if args.qr_text:
                out.write(f"{qr}\n")
            else:
                print_qr(qr, file=out)
            out.flush()

        def show_code(code: str) -> None:
            out.write(f"on the phone, enter this code: {code[:4]}-{code[4:]}\n")
            out.flush()

        async with wamd.connect(
            handle,
            on_qr=show_qr if phone is None else None,
            pairing_phone=phone,
            on_pairing_code=show_code,
            url=url,
            server_root_key=root,
        ) as conn:
            conn.on(wamd.Authenticated, lambda e: out.write(f"linked as {e.me}\n"))
            conn.on(wamd.AuthFailure, lambda e: out.write(f"linking failed: {e.reason}\n"))
            try:
                await conn.wait_connected(args.timeout)
            except ConnectionClosedError as exc:
                out.write(f"not connected: {exc}\n")
                return 1
            me = handle.state.creds.me
            out.write(f"connected as {me.id if me else '?'}; creds saved in {args.store}\n")
    return 0


async def run_demo(out: TextIO) -> int:
    """``wamd demo``: link, restart and log in again, on an in-process FakeServer."""
    from wamd.testing import FakeServer  # noqa: PLC0415 - only the demo needs it

    def say(text: str) -> None:
        out.write(f"[demo] {text}\n")
        out.flush()

    async with FakeServer() as server:
        say(f"fake WhatsApp server listening on {server.url}")
        phone = server.phone(_DEMO_PHONE)
        url, root = server.url, server.root_public_key
        with tempfile.TemporaryDirectory(prefix="wamd-demo-") as folder:
            store = Path(folder) / "wamd.db"
            say(f"fresh native store {store}")

            async def scan(qr: str) -> None:
                say("QR code to scan:")
                print_qr(qr, file=out)
                say(f"the phone +{_DEMO_PHONE} scans it")
                await phone.scan(qr)

            async with await use_native_file_auth_state(store, client_id="demo") as handle:
                async with wamd.connect(handle, on_qr=scan, url=url, server_root_key=root) as conn:
                    _narrate(conn, say)
                    await conn.wait_connected(30)
                say("closed; restarting the client from the native store (no QR this time)")
            async with await use_native_file_auth_state(store, client_id="demo") as handle:
                shown: list[str] = []
                await _login_again(handle, shown, url, root, say)
                if shown:
                    say("unexpected: a QR code was shown on restart")
                    return 1
                say("logging in again to message a second account")
                async with wamd.connect(handle, url=url, server_root_key=root) as conn:
                    await conn.wait_connected(30)
                    if not await _exchange_texts(conn, server, say):
                        return 1
        logins = [r.outcome for r in server.logins]
        say(f"server saw logins: {', '.join(logins)}")
    say("done: clean exit")
    return 0


async def _login_again(
    handle: AuthHandle, shown: list[str], url: str, root: bytes, say: Say
) -> None:
    async with wamd.connect(handle, on_qr=shown.append, url=url, server_root_key=root) as conn:
        _narrate(conn, say)
        await conn.wait_connected(30)
    await asyncio.sleep(0)


def _narrate(conn: wamd.Connection, say: Say) -> None:
    def tell(event: wamd.Event) -> None:
        text = _describe(event)
        if text is not None:
            say(text)

    conn.on(wamd.Event, tell)


def _describe(event: wamd.Event) -> str | None:
    if isinstance(event, wamd.Authenticated):
        return f"linked as {event.me} (phone platform: {event.platform})"
    if isinstance(event, wamd.Disconnected):
        what = "reconnecting" if event.will_reconnect else "stopping"
        return f"server closed the stream: {event.reason.value} ({event.status_code}), {what}"
    if isinstance(event, wamd.Connected):
        return "logged in: Connected"
    if isinstance(event, wamd.CredsUpdate):
        return f"creds saved ({', '.join(sorted(event.changed))})"
    if isinstance(event, wamd.AuthFailure):
        return f"linking failed: {event.reason}"
    return None


# -- the messaging part of the demo: a second account, texts both ways -------------------


class _Inbox:
    """The Message and Receipt events of one connection, to wait on."""

    def __init__(self, conn: wamd.Connection) -> None:
        self.events: list[wamd.Event] = []
        self._changed = asyncio.Event()
        conn.on(wamd.Message, self._add)
        conn.on(wamd.Receipt, self._add)

    def _add(self, event: wamd.Event) -> None:
        self.events.append(event)
        self._changed.set()

    async def wait(self, kind: type[E], match: Callable[[E], bool]) -> E:
        async with asyncio.timeout(_WAIT):
            while True:
                for event in self.events:
                    if isinstance(event, kind) and match(event):
                        return event
                self._changed.clear()
                await self._changed.wait()


async def _one_way(
    sender: wamd.Connection,
    sender_inbox: _Inbox,
    receiver_inbox: _Inbox,
    to: str,
    text: str,
    *,
    say: Say,
) -> None:
    msg_id = await sender.send_text(to, text)
    say(f"sent {text!r} to {to} (id {msg_id}); the server acked it")
    got = await receiver_inbox.wait(wamd.Message, lambda m: m.id == msg_id)
    say(f"decrypted on the other side: {got.text!r} from {got.sender} ({got.push_name})")
    receipt = await sender_inbox.wait(
        wamd.Receipt, lambda r: msg_id in r.ids and r.type == "delivery"
    )
    say(f"delivery receipt for {msg_id} from {receipt.sender}")


async def _exchange_texts(first: wamd.Connection, server: FakeServer, say: Say) -> bool:
    """Link a second account (memory store) and trade texts with ``first`` both ways.

    Returns True when both texts were decrypted and both delivery receipts came back.
    """
    me = first.state.creds.me
    if me is None:
        say("unexpected: the first device is not linked")
        return False
    phone = server.phone(_SECOND_PHONE, push_name="Second Phone")
    first_user = str(Jid.parse(me.id).to_non_ad())

    async def scan(qr: str) -> None:
        say(f"second account: QR code, scanned by the phone +{_SECOND_PHONE}")
        await phone.scan(qr)

    auth = await wamd.memory_auth_state()
    async with wamd.connect(
        auth, on_qr=scan, url=server.url, server_root_key=server.root_public_key
    ) as second:
        await second.wait_connected(_WAIT)
        second_me = auth.state.creds.me
        assert second_me is not None
        second_user = str(Jid.parse(second_me.id).to_non_ad())
        say(f"second account linked and logged in as {second_me.id}")
        first_inbox, second_inbox = _Inbox(first), _Inbox(second)
        try:
            await _one_way(first, first_inbox, second_inbox, second_user, "Hello, second!", say=say)
            await _one_way(
                second, second_inbox, first_inbox, first_user, "Hi first, got it", say=say
            )
        except TimeoutError:
            say("unexpected: a message or receipt did not arrive in time")
            return False
    return True
