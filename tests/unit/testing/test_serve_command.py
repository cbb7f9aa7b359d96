"""``python -m wamd.testing serve``: a FakeServer in its own process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.unit.testing.mini_client import DeviceKeys, answer_pair_success, qr_for, register


@pytest.fixture
def serve() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "wamd.testing", "serve", "--port", "0", "--control", "--refs", "2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def command(proc: subprocess.Popen[str], **request: Any) -> dict[str, Any]:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(request) + "\n")
    proc.stdin.flush()
    reply: dict[str, Any] = json.loads(proc.stdout.readline())
    return reply


def test_serve_prints_one_json_line_then_links_through_control(
    serve: subprocess.Popen[str],
) -> None:
    assert serve.stdout is not None
    info = json.loads(serve.stdout.readline())
    assert info["url"].startswith("ws://127.0.0.1:") and info["url"].endswith("/ws/chat")
    root = bytes.fromhex(info["root_public_key"])
    assert len(root) == 32 and info["pid"] == serve.pid

    async def link() -> int:
        keys = DeviceKeys()
        client, refs = await register(info["url"], root, keys)
        assert len(refs) == 2  # --refs 2
        scan = await asyncio.to_thread(
            command, serve, op="scan", phone="15550001111", qr=qr_for(keys, refs[0])
        )
        assert scan == {"ok": True, "result": 1}
        await answer_pair_success(client, keys)
        assert (await client.expect("stream:error")).attrs == {"code": "515"}
        await client.close()
        return int(scan["result"])

    assert asyncio.run(link()) == 1
    assert command(serve, op="devices", phone="15550001111") == {"ok": True, "result": {"1": 0}}
    bad = command(serve, op="scan", phone="15550001111", qr="nonsense")
    assert bad["ok"] is False and "PairingError" in bad["error"]
    assert command(serve, op="stop") == {"ok": True, "result": None}
    assert serve.wait(timeout=10) == 0


def test_serve_stops_on_sigterm() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "wamd.testing", "serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["url"].startswith("ws://")
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_serve_refuses_a_malformed_root_key() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wamd.testing", "serve", "--root-private-key", "abc"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode == 2 and "64 hex digits" in result.stderr
