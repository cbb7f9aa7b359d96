"""A child process that holds an account open until it is killed (for lock tests)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


@contextlib.asynccontextmanager
async def held_by_child(import_line: str, open_expr: str) -> AsyncIterator[None]:
    """Hold an account in a child process; SIGKILL the child when the block exits.

    The child runs ``import_line``, awaits ``open_expr`` (a backend), writes
    ``session/x = b"held"`` through it, and the block starts once that write is done.
    """
    script = textwrap.dedent(
        f"""
        import asyncio
        {import_line}
        async def main():
            backend = await {open_expr}
            await backend.write({{"session": {{"x": b"held"}}}})
            print("ready", flush=True)
            await asyncio.sleep(60)
        asyncio.run(main())
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, env=env, cwd=ROOT
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 30)
        assert line.strip() == b"ready"
        yield
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
