"""connect() on the remote auth backends: link into PostgreSQL or Redis, restart from it.

Real servers (tests/servers.py) and the FakeServer, all on 127.0.0.1. A connection given
a remote-backed handle announces each durable creds save with ``RemoteSessionSaved``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

import wamd
from tests.integration.client_helpers import Recorder, scanner, server_kwargs
from tests.servers import require_postgres, require_redis
from wamd.testing import FakeServer


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    async with FakeServer() as srv:
        yield srv


async def _open(backend: str, client_id: str) -> wamd.AuthHandle:
    if backend == "postgres":
        return await wamd.auth.use_postgres_auth_state(require_postgres().dsn, client_id)
    return await wamd.auth.use_redis_auth_state(require_redis().url, client_id)


@pytest.mark.parametrize("backend", ["postgres", "redis"])
async def test_link_into_a_remote_store_then_restart_without_qr(
    server: FakeServer, backend: str
) -> None:
    client_id = f"remote-{uuid.uuid4().hex[:10]}"
    auth = await _open(backend, client_id)
    phone = server.phone("15550001111")
    recorder = Recorder()
    async with wamd.connect(auth, on_qr=scanner(phone), **server_kwargs(server)) as conn:
        conn.on(wamd.Event, recorder)
        await conn.wait_connected(15)
    saved = recorder.of(wamd.RemoteSessionSaved)
    updates = recorder.of(wamd.CredsUpdate)
    assert saved, "no RemoteSessionSaved after the creds were saved remotely"
    assert {(e.client_id, e.backend) for e in saved} == {(client_id, backend)}
    # One announcement per creds change seen by this recorder, each after its update.
    assert len(saved) == len(updates)
    kinds = [type(e).__name__ for e in recorder.events]
    assert kinds.index("CredsUpdate") < kinds.index("RemoteSessionSaved")
    me = auth.state.creds.me
    assert me is not None
    await auth.close()

    again = await _open(backend, client_id)
    try:
        assert again.state.creds.me is not None
        assert again.state.creds.me.id == me.id
        shown: list[str] = []
        async with wamd.connect(again, on_qr=shown.append, **server_kwargs(server)) as conn:
            await conn.wait_connected(15)
        assert shown == []
        assert [r.outcome for r in server.logins] == ["success", "success"]
    finally:
        await again.close()


async def test_local_stores_announce_no_remote_save(server: FakeServer) -> None:
    auth = await wamd.memory_auth_state()
    recorder = Recorder()
    async with wamd.connect(
        auth, on_qr=scanner(server.phone("15550001111")), **server_kwargs(server)
    ) as conn:
        conn.on(wamd.Event, recorder)
        await conn.wait_connected(15)
    assert recorder.of(wamd.CredsUpdate)
    assert recorder.of(wamd.RemoteSessionSaved) == []
