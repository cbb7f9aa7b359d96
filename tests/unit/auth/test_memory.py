"""The in-memory backend and memory_auth_state (NoAuth)."""

from __future__ import annotations

import pytest

from wamd.auth import memory_auth_state
from wamd.auth.backends.memory import MemoryBackend
from wamd.errors import AuthStateError


async def test_each_memory_state_is_fresh_and_independent() -> None:
    async with await memory_auth_state() as first, await memory_auth_state() as second:
        assert first.state.creds.noise_key != second.state.creds.noise_key
        await first.state.keys.set({"lid-mapping": {"a": b"1"}})
        assert await second.state.keys.get("lid-mapping", ["a"]) == {}
        assert await first.state.keys.get("lid-mapping", ["a"]) == {"a": b"1"}


async def test_saved_creds_are_a_snapshot() -> None:
    async with await memory_auth_state() as handle:
        handle.state.creds.next_pre_key_id = 5
        await handle.save_creds()
        handle.state.creds.next_pre_key_id = 9  # not saved
        stored = await handle.backend.load_creds()
        assert stored is not None and stored.next_pre_key_id == 5
        assert stored is not handle.state.creds


async def test_closed_memory_state_refuses_use() -> None:
    handle = await memory_auth_state()
    await handle.close()
    await handle.close()  # twice is fine
    with pytest.raises(AuthStateError, match="closed"):
        await handle.save_creds()
    with pytest.raises(AuthStateError, match="closed"):
        await handle.state.keys.get("session", ["a"])
    backend = MemoryBackend()
    await backend.close()
    with pytest.raises(AuthStateError, match="closed"):
        await backend.read("session", ["a"])
