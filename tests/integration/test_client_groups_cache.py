"""The application's group metadata cache (``group_metadata_cache``) on the FakeServer.

Connections given one cache share what each learnt: the metadata queries each client sent
(the server's transcript) show who asked the server, the messages each decrypted show
that the sends that used the shared entries reached the right members.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import wamd
from tests.integration.client_helpers import Recorder, pn, received, server_kwargs
from tests.integration.test_client_groups import (
    ALICE,
    BOB,
    CAROL,
    metadata_queries,
)
from tests.integration.test_client_messaging import Peer, linked, wait_text
from tests.servers import require_redis
from wamd.client.group_cache import (
    MemoryGroupMetadataCache,
    metadata_from_json,
    metadata_to_json,
)
from wamd.client.group_metadata import parse_group
from wamd.errors import MessageRejectedError, UsageError
from wamd.events import GroupMetadata
from wamd.testing import FakeServer


async def start_with(
    srv: FakeServer, auth: wamd.AuthState | wamd.AuthHandle, number: str, cache: Any
) -> Peer:
    """Connect a linked device with ``group_metadata_cache=cache``; logged in."""
    recorder = Recorder()
    conn = await wamd.connect(auth, **server_kwargs(srv, group_metadata_cache=cache))
    conn.on(wamd.Event, recorder)
    await conn.wait_connected(10)
    return Peer(number, auth, conn, recorder)


@pytest.fixture
async def linked_trio() -> AsyncIterator[tuple[FakeServer, list[wamd.AuthHandle]]]:
    async with FakeServer() as srv:
        auths = [
            await linked(srv, number, name)
            for number, name in ((ALICE, "Alice"), (BOB, "Bob"), (CAROL, "Carol"))
        ]
        yield srv, auths


async def test_connections_share_metadata_through_one_cache(
    linked_trio: tuple[FakeServer, list[wamd.AuthHandle]],
) -> None:
    srv, auths = linked_trio
    shared = MemoryGroupMetadataCache()
    alice, bob, carol = [
        await start_with(srv, auth, number, shared)
        for auth, number in zip(auths, (ALICE, BOB, CAROL), strict=True)
    ]
    try:
        group = srv.groups.create(srv.accounts[BOB], "shared", [srv.accounts[ALICE]])
        group.members[CAROL] = ""
        await alice.conn.send_text(group.jid, "from alice")
        await wait_text(carol, "from alice")
        assert metadata_queries(srv, ALICE, group.jid) == 1
        stored = await shared.get(group.jid)
        assert stored is not None and len(stored.participants) == 3

        await carol.conn.send_text(group.jid, "from carol")  # Carol never asked the server
        await wait_text(alice, "from carol")
        await wait_text(bob, "from carol")
        assert metadata_queries(srv, CAROL, group.jid) == 0
        assert (await bob.conn.group_metadata(group.jid)) == stored
        assert metadata_queries(srv, BOB, group.jid) == 0

        # A change one connection learns reaches the shared entry (or clears it).
        await bob.conn.groups.update_participants(group.jid, [pn(CAROL)], "remove")
        await alice.events.wait_for(wamd.GroupParticipantsUpdate)
        await asyncio.sleep(0.1)
        after = await shared.get(group.jid)
        assert after is None or pn(CAROL) not in {p.phone_number for p in after.participants}
        sent = await alice.conn.send_text(group.jid, "without carol")
        await wait_text(bob, "without carol")
        await asyncio.sleep(0.2)
        assert sent not in [m.id for m in carol.events.of(wamd.Message)]
    finally:
        for peer in (alice, bob, carol):
            await peer.conn.close()


async def test_a_restarted_connection_asks_the_cache_not_the_server(
    linked_trio: tuple[FakeServer, list[wamd.AuthHandle]],
) -> None:
    srv, auths = linked_trio
    shared = MemoryGroupMetadataCache()
    group = srv.groups.create(srv.accounts[BOB], "kept", [srv.accounts[ALICE]])
    alice = await start_with(srv, auths[0], ALICE, shared)
    await alice.conn.group_metadata(group.jid)
    await alice.conn.close()
    assert metadata_queries(srv, ALICE, group.jid) == 1
    again = await start_with(srv, auths[0], ALICE, shared)
    bob = await start_with(srv, auths[1], BOB, None)
    try:
        await again.conn.send_text(group.jid, "after the restart")
        await wait_text(bob, "after the restart")
        assert metadata_queries(srv, ALICE, group.jid) == 1
        # Leaving forgets the group in the shared cache too.
        await again.conn.groups.leave(group.jid)
        assert group.jid not in shared
    finally:
        await again.conn.close()
        await bob.conn.close()


@pytest.mark.parametrize("is_async", [False, True])
async def test_a_lookup_function_is_read_and_a_refusal_bypasses_it(
    linked_trio: tuple[FakeServer, list[wamd.AuthHandle]], is_async: bool
) -> None:
    srv, auths = linked_trio
    group = srv.groups.create(srv.accounts[BOB], "looked up", [srv.accounts[ALICE]])
    known = {group.jid: parse_group(group.node(srv))}
    asked: list[str] = []

    def lookup(jid: str) -> GroupMetadata | None:
        asked.append(jid)
        return known.get(jid)

    async def alookup(jid: str) -> GroupMetadata | None:
        return lookup(jid)

    alice = await start_with(srv, auths[0], ALICE, alookup if is_async else lookup)
    bob = await start_with(srv, auths[1], BOB, None)
    try:
        await alice.conn.send_text(group.jid, "one")
        await wait_text(bob, "one")
        await alice.conn.send_text(group.jid, "two")
        await wait_text(bob, "two")
        assert asked == [group.jid]  # then our own cache had it
        assert metadata_queries(srv, ALICE, group.jid) == 0

        srv.messaging.reject_next(ALICE, 1, 479)
        with pytest.raises(MessageRejectedError):
            await alice.conn.send_text(group.jid, "refused")
        await alice.conn.send_text(group.jid, "three")
        await wait_text(bob, "three")
        assert metadata_queries(srv, ALICE, group.jid) == 1  # the server, not the lookup
        assert asked == [group.jid]
    finally:
        await alice.conn.close()
        await bob.conn.close()


class BrokenCache:
    """A cache whose backend is down: every call raises."""

    def __init__(self) -> None:
        self.calls = 0

    async def get(self, group: str) -> GroupMetadata | None:
        self.calls += 1
        raise ConnectionRefusedError("cache down")

    async def set(self, group: str, metadata: GroupMetadata | None) -> None:
        self.calls += 1
        raise ConnectionRefusedError("cache down")


async def test_a_failing_or_confused_cache_falls_back_to_the_server(
    linked_trio: tuple[FakeServer, list[wamd.AuthHandle]],
) -> None:
    srv, auths = linked_trio
    one = srv.groups.create(srv.accounts[BOB], "one", [srv.accounts[ALICE]])
    two = srv.groups.create(srv.accounts[BOB], "two", [srv.accounts[ALICE]])
    broken = BrokenCache()
    alice = await start_with(srv, auths[0], ALICE, broken)
    # A lookup that answers with the wrong group's metadata is not believed.
    confused = await start_with(srv, auths[2], CAROL, lambda jid: parse_group(one.node(srv)))
    bob = await start_with(srv, auths[1], BOB, None)
    try:
        await alice.conn.send_text(one.jid, "despite the cache")
        await wait_text(bob, "despite the cache")
        assert metadata_queries(srv, ALICE, one.jid) == 1
        assert broken.calls == 2  # one get, one set
        two.members[CAROL] = ""
        meta = await confused.conn.group_metadata(two.jid)
        assert meta.id == two.jid and meta.subject == "two"
        assert metadata_queries(srv, CAROL, two.jid) == 1
    finally:
        for peer in (alice, confused, bob):
            await peer.conn.close()


async def test_a_bad_option_is_refused_at_once() -> None:
    auth = await wamd.memory_auth_state()
    with pytest.raises(UsageError, match="group_metadata_cache"):
        wamd.connect(auth, group_metadata_cache={})  # type: ignore[arg-type]


class RedisGroupCache:
    """The Redis-backed cache of docs/messaging.md ("Your own cache")."""

    def __init__(self, client: Any, prefix: str = "wamd:group:", ttl: int = 3600) -> None:
        self.client, self.prefix, self.ttl = client, prefix, ttl

    async def get(self, group: str) -> GroupMetadata | None:
        raw = await self.client.get(self.prefix + group)
        return None if raw is None else metadata_from_json(raw)

    async def set(self, group: str, metadata: GroupMetadata | None) -> None:
        if metadata is None:
            await self.client.delete(self.prefix + group)
        else:
            await self.client.set(self.prefix + group, metadata_to_json(metadata), ex=self.ttl)


async def test_connections_share_metadata_through_redis(
    linked_trio: tuple[FakeServer, list[wamd.AuthHandle]],
) -> None:
    import redis.asyncio as redis

    srv, auths = linked_trio
    client = redis.from_url(require_redis().url)
    prefix = f"wamd-test:{os.urandom(6).hex()}:"
    try:
        alice = await start_with(srv, auths[0], ALICE, RedisGroupCache(client, prefix))
        bob = await start_with(srv, auths[1], BOB, RedisGroupCache(client, prefix))
        group = srv.groups.create(srv.accounts[BOB], "in redis", [srv.accounts[ALICE]])
        try:
            await alice.conn.send_text(group.jid, "alice asks")
            await wait_text(bob, "alice asks")
            stored = await client.get(prefix + group.jid)
            assert stored is not None and metadata_from_json(stored).subject == "in redis"
            await bob.conn.send_text(group.jid, "bob does not")
            await wait_text(alice, "bob does not")
            assert metadata_queries(srv, ALICE, group.jid) == 1
            assert metadata_queries(srv, BOB, group.jid) == 0
            await alice.conn.groups.leave(group.jid)
            assert await client.get(prefix + group.jid) is None
        finally:
            await alice.conn.close()
            await bob.conn.close()
    finally:
        keys = await client.keys(prefix + "*")
        if keys:
            await client.delete(*keys)
        await client.aclose()


class ArmedCache(MemoryGroupMetadataCache):
    """A memory cache that, once armed, runs ``hook`` inside its next write of ``group``."""

    def __init__(self) -> None:
        super().__init__()
        self.armed: tuple[str, Callable[[], Awaitable[None]]] | None = None

    async def set(self, group: str, metadata: GroupMetadata | None) -> None:
        if self.armed is not None and self.armed[0] == group:
            hook, self.armed = self.armed[1], None
            await hook()
        await super().set(group, metadata)


async def test_a_change_during_a_slow_cache_write_is_not_overwritten(
    linked_trio: tuple[FakeServer, list[wamd.AuthHandle]],
) -> None:
    srv, auths = linked_trio
    first = srv.groups.create(srv.accounts[BOB], "first", [srv.accounts[ALICE]])
    second = srv.groups.create(srv.accounts[BOB], "second old", [srv.accounts[ALICE]])
    cache = ArmedCache()
    alice = await start_with(srv, auths[0], ALICE, cache)
    bob = await start_with(srv, auths[1], BOB, None)
    try:
        for group in (first, second):
            await alice.conn.group_metadata(group.jid)

        async def rename_second() -> None:
            # The refresh is writing the first group; the answer it holds for the second
            # still has the old subject when the renaming reaches Alice.
            await bob.conn.groups.set_subject(second.jid, "second new")
            await alice.events.wait_for(wamd.GroupUpdate)

        cache.armed = (first.jid, rename_second)
        assert await srv.send_dirty(ALICE, 1, "groups")
        await srv.wait_for(
            lambda: any(
                n.tag == "iq" and n.attrs.get("xmlns") == "urn:xmpp:whatsapp:dirty"
                for n in received(srv, ALICE)
            )
        )
        assert cache.armed is None  # the hook ran
        assert (await alice.conn.group_metadata(second.jid)).subject == "second new"
        stored = await cache.get(second.jid)
        assert stored is None or stored.subject == "second new"
    finally:
        await alice.conn.close()
        await bob.conn.close()
