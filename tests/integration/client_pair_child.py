"""Child process for the kill -9 test: links a device into a native store, then idles.

Usage: client_pair_child.py URL ROOT_HEX STORE. Prints ``QR <string>`` for each QR code,
``CONNECTED <me>`` once logged in (and ``LOGIN`` when the store was already linked).
"""

from __future__ import annotations

import asyncio
import sys

import wamd


async def main(url: str, root_hex: str, store: str) -> None:
    handle = await wamd.use_native_file_auth_state(store, client_id="crash")
    if handle.state.creds.me is not None and handle.state.creds.account is not None:
        print("LOGIN", flush=True)

    def on_qr(qr: str) -> None:
        print(f"QR {qr}", flush=True)

    async with (
        handle,
        wamd.connect(handle, on_qr=on_qr, url=url, server_root_key=bytes.fromhex(root_hex)) as conn,
    ):
        await conn.wait_connected(30)
        me = handle.state.creds.me
        print(f"CONNECTED {me.id if me else '?'}", flush=True)
        await asyncio.sleep(60)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
