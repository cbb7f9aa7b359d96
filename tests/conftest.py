"""Shared fixtures: the Baileys oracle (one node process per test session)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

INTEROP_DIR = Path(__file__).parent / "interop"
SHARED_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"


def to_buffer_json(value: Any) -> Any:
    """Python value -> JSON-able value, bytes as {"type": "Buffer", "data": b64}."""
    if isinstance(value, bytes | bytearray | memoryview):
        return {"type": "Buffer", "data": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, dict):
        return {k: to_buffer_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_buffer_json(v) for v in value]
    return value


def from_buffer_json(value: Any) -> Any:
    """The inverse of :func:`to_buffer_json`."""
    if isinstance(value, dict):
        if value.get("type") == "Buffer" and isinstance(value.get("data"), str):
            return base64.b64decode(value["data"])
        return {k: from_buffer_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_buffer_json(v) for v in value]
    return value


class OracleError(Exception):
    """The oracle answered a request with an error."""


class Oracle:
    """A long-running node process that answers JSON-line requests with Baileys."""

    def __init__(self, timeout: float = 60.0) -> None:
        self._proc = subprocess.Popen(
            ["node", str(INTEROP_DIR / "oracle.mjs")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=INTEROP_DIR,
            text=True,
            bufsize=1,
        )
        self._timeout = timeout
        self._next_id = 1
        self._lock = threading.Lock()
        ready = self._read_line()
        if ready.get("result") != "ready":
            raise RuntimeError(f"oracle did not start: {ready}")

    def _read_line(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        result: list[str] = []
        reader = threading.Thread(target=lambda: result.append(self._proc.stdout.readline()))  # type: ignore[union-attr]
        reader.start()
        reader.join(self._timeout)
        if not result or not result[0]:
            raise RuntimeError("oracle did not answer in time (or exited)")
        return json.loads(result[0])  # type: ignore[no-any-return]

    def call(self, op: str, **args: Any) -> Any:
        """Run one op in the oracle; bytes in ``args`` and in the result are ``bytes``."""
        with self._lock:
            req_id = self._next_id
            self._next_id += 1
            assert self._proc.stdin is not None
            line = json.dumps({"id": req_id, "op": op, "args": to_buffer_json(args)})
            self._proc.stdin.write(line + "\n")
            self._proc.stdin.flush()
            reply = self._read_line()
        if reply.get("id") != req_id:
            raise RuntimeError(f"oracle answered out of order: {reply.get('id')} != {req_id}")
        if not reply.get("ok"):
            raise OracleError(reply.get("error"))
        return from_buffer_json(reply.get("result"))

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=10)


def _oracle_unavailable_reason() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (INTEROP_DIR / "node_modules" / "baileys").is_dir():
        return "tests/interop/node_modules is missing (run `make install`)"
    return None


@pytest.fixture(scope="session")
def oracle() -> Iterator[Oracle]:
    """The Baileys oracle. In CI its absence is a failure, never a skip."""
    reason = _oracle_unavailable_reason()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"interop oracle unavailable in CI: {reason}")
        pytest.skip(f"INTEROP ORACLE UNAVAILABLE: {reason}; cross-checks not run")
    proc = Oracle()
    try:
        yield proc
    finally:
        proc.close()


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """The folder of data fixtures written by real Baileys (../shared/fixtures)."""
    if not SHARED_FIXTURES.is_dir():
        pytest.fail(f"shared fixtures not found at {SHARED_FIXTURES}")
    return SHARED_FIXTURES
