"""``wamd pair`` and ``wamd demo`` end to end (FakeServer in a thread, the command in-process)."""

from __future__ import annotations

import asyncio
import io
import re
import threading
from collections.abc import Callable
from pathlib import Path

import wamd
from wamd.cli import main
from wamd.testing import FakePhone, FakeServer, ServerThread

PHONE = "15550001111"


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_demo_links_restarts_and_exits_cleanly() -> None:
    code, out, err = _run("demo")
    assert code == 0, err
    steps = [line for line in out.splitlines() if line.startswith("[demo]")]
    joined = "\n".join(steps)
    order = ["QR code to scan", "scans it", "linked as", "(515)", "Connected", "restarting"]
    positions = [joined.index(word) for word in order]
    assert positions == sorted(positions)
    assert joined.count("logged in: Connected") == 2
    assert "server saw logins: success, success" in joined
    assert steps[-1] == "[demo] done: clean exit"
    assert "█" in out or "#" in out  # the QR code itself was printed


def test_pair_by_qr_links_into_a_native_store(tmp_path: Path) -> None:
    store = tmp_path / "pair.db"
    with FakeServer.start_in_thread() as srv:
        phone = srv.call(lambda: srv.server.phone(PHONE))
        scanner = _QrScanner(srv, phone)
        scanner.start()
        out = _Capture(scanner.feed)
        err = io.StringIO()
        code = main(
            [
                "pair",
                "--store",
                str(store),
                "--client-id",
                "bot",
                "--server",
                srv.url,
                "--root-key",
                srv.root_public_key.hex(),
                "--timeout",
                "30",
                "--qr-text",
            ],
            stdout=out,
            stderr=err,
        )
        scanner.join(5)
        assert code == 0, err.getvalue()
        assert "connected as 15550001111:1@s.whatsapp.net" in out.getvalue()
        # A second run logs in from the store, no QR.
        code2, text2, _ = _run(
            "pair",
            "--store",
            str(store),
            "--client-id",
            "bot",
            "--server",
            srv.url,
            "--root-key",
            srv.root_public_key.hex(),
        )
        assert code2 == 0
        assert "already linked as 15550001111:1@s.whatsapp.net" in text2
        assert "scan this QR" not in text2

    async def load() -> str | None:
        async with await wamd.use_native_file_auth_state(store, client_id="bot") as handle:
            me = handle.state.creds.me
            return me.id if me else None

    assert asyncio.run(load()) == "15550001111:1@s.whatsapp.net"


def test_pair_by_code_prints_the_code(tmp_path: Path) -> None:
    with FakeServer.start_in_thread() as srv:
        phone = srv.call(lambda: srv.server.phone("15550004444"))
        entered = threading.Event()

        def on_line(line: str) -> None:
            match = re.search(r"enter this code: (\w{4}-\w{4})", line)
            if match and not entered.is_set():
                entered.set()
                number = phone.phone_number
                srv.wait_for(lambda: number in srv.server.linking.code_requests)
                srv.run(phone.enter_code(match.group(1)))

        out = _Capture(lambda line: threading.Thread(target=on_line, args=(line,)).start())
        code = main(
            [
                "pair",
                "--store",
                str(tmp_path / "code.db"),
                "--phone",
                "+15550004444",
                "--server",
                srv.url,
                "--root-key",
                srv.root_public_key.hex(),
                "--timeout",
                "30",
            ],
            stdout=out,
            stderr=io.StringIO(),
        )
        assert code == 0
        assert entered.is_set()
        assert "connected as 15550004444:1@s.whatsapp.net" in out.getvalue()


def test_pair_rejects_a_bad_root_key(tmp_path: Path) -> None:
    code, _, err = _run(
        "pair", "--store", str(tmp_path / "x.db"), "--server", "ws://127.0.0.1:1/ws/chat",
        "--root-key", "abcd",
    )  # fmt: skip
    assert code == 2
    assert "--root-key must be 32 bytes" in err
    code, _, err = _run("pair", "--store", str(tmp_path / "x.db"), "--server", "ws://x/ws/chat")
    assert code == 2
    assert "go together" in err


class _Capture(io.StringIO):
    """A stdout that also hands each complete line to ``on_line``."""

    def __init__(self, on_line: Callable[[str], object]) -> None:
        super().__init__()
        self._on_line = on_line
        self._partial = ""

    def write(self, text: str) -> int:
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            self._on_line(line)
        return super().write(text)


class _QrScanner(threading.Thread):
    """Scans the first QR string ``wamd pair --qr-text`` prints, on the server's loop."""

    def __init__(self, srv: ServerThread, phone: FakePhone) -> None:
        super().__init__(daemon=True)
        self._srv = srv
        self._phone = phone
        self._qr: str | None = None
        self._ready = threading.Event()

    def feed(self, line: str) -> None:
        if line.startswith("https://wa.me/settings/linked_devices#") and self._qr is None:
            self._qr = line
            self._ready.set()

    def run(self) -> None:
        if self._ready.wait(20) and self._qr is not None:
            self._srv.run(self._phone.scan(self._qr))
