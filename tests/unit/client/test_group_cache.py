"""The application's group metadata cache: the adapter, the in-memory cache, the text form."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wamd.client.config import ClientConfig
from wamd.client.group_cache import (
    GroupMetadataCache,
    MemoryGroupMetadataCache,
    SharedGroupCache,
    check_source,
    metadata_from_json,
    metadata_to_json,
)
from wamd.errors import CorruptStoreError, UsageError
from wamd.events import GroupMetadata, GroupParticipant

GROUP = "120363095440186860@g.us"
OTHER = "120363000000000001@g.us"


def meta(group: str = GROUP, subject: str = "Test Group") -> GroupMetadata:
    return GroupMetadata(
        id=group,
        subject=subject,
        creator="100015550001111@lid",
        creation=1795440144,
        addressing_mode="lid",
        participants=(
            GroupParticipant("100015550001111@lid", "15550001111@s.whatsapp.net", True, True),
            GroupParticipant("100015550002222@lid", None),
        ),
        subject_owner="100015550001111@lid",
        subject_time=1795440150,
        creator_pn="15550001111@s.whatsapp.net",
    )


async def test_memory_cache_stores_and_forgets() -> None:
    cache = MemoryGroupMetadataCache()
    assert isinstance(cache, GroupMetadataCache)
    assert await cache.get(GROUP) is None
    await cache.set(GROUP, meta())
    assert await cache.get(GROUP) == meta() and GROUP in cache and len(cache) == 1
    await cache.set(GROUP, None)
    await cache.set(OTHER, None)  # forgetting an unknown group is fine
    assert await cache.get(GROUP) is None and len(cache) == 0


async def test_shared_cache_reads_and_writes_a_cache_object() -> None:
    backing = MemoryGroupMetadataCache()
    shared = SharedGroupCache(backing)
    assert shared.writable
    await shared.set(GROUP, meta())
    assert await backing.get(GROUP) == meta()
    assert await shared.get(GROUP) == meta()
    await shared.set(GROUP, None)
    assert GROUP not in backing


async def test_shared_cache_reads_sync_and_async_lookups_and_never_writes_them() -> None:
    known = {GROUP: meta()}
    asked: list[str] = []

    def lookup(group: str) -> GroupMetadata | None:
        asked.append(group)
        return known.get(group)

    async def alookup(group: str) -> GroupMetadata | None:
        return lookup(group)

    for source in (lookup, alookup):
        shared = SharedGroupCache(source)
        assert not shared.writable
        assert await shared.get(GROUP) == meta()
        assert await shared.get(OTHER) is None
        await shared.set(GROUP, None)  # read-only: nothing happens
        assert known[GROUP] == meta()
    assert asked == [GROUP, OTHER, GROUP, OTHER]


async def test_shared_cache_ignores_failures_and_wrong_answers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Down:
        async def get(self, group: str) -> GroupMetadata | None:
            raise OSError("no route to cache")

        async def set(self, group: str, metadata: GroupMetadata | None) -> None:
            raise OSError("no route to cache")

    with caplog.at_level(logging.WARNING, logger="wamd.client.group_cache"):
        down = SharedGroupCache(Down())
        assert await down.get(GROUP) is None
        await down.set(GROUP, meta())  # logged, not raised
        assert await SharedGroupCache(lambda g: meta(OTHER)).get(GROUP) is None
        careless: Any = {"id": GROUP}.get  # answers a dict, not a GroupMetadata
        assert await SharedGroupCache(careless).get("id") is None
    messages = [r.getMessage() for r in caplog.records]
    assert sum("no route to cache" in m for m in messages) == 2
    assert sum("ignored" in m for m in messages) == 2


def test_check_source_and_the_config_refuse_what_is_neither() -> None:
    check_source(MemoryGroupMetadataCache())
    check_source(lambda group: None)
    bad: Any
    for bad in ({}, "redis://", 5):
        with pytest.raises(UsageError, match="group_metadata_cache"):
            check_source(bad)
        with pytest.raises(UsageError, match="group_metadata_cache"):
            ClientConfig(group_metadata_cache=bad)
    shared = MemoryGroupMetadataCache()
    assert ClientConfig(group_metadata_cache=shared).group_metadata_cache is shared
    assert "group_metadata_cache" not in repr(ClientConfig(group_metadata_cache=shared))


def test_json_round_trip_keeps_every_field() -> None:
    text = metadata_to_json(meta())
    assert metadata_from_json(text) == meta()
    assert metadata_from_json(text.encode()) == meta()
    bare = GroupMetadata(GROUP, "", None, 0, "pn", ())
    assert metadata_from_json(metadata_to_json(bare)) == bare


_jids = st.from_regex(r"[0-9]{1,15}@(lid|s\.whatsapp\.net)", fullmatch=True)
_participants = st.builds(GroupParticipant, _jids, st.none() | _jids, st.booleans(), st.booleans())


@settings(max_examples=50)
@given(
    subject=st.text(max_size=40),
    creation=st.integers(min_value=0, max_value=2**40),
    members=st.lists(_participants, max_size=8),
    subject_time=st.none() | st.integers(min_value=0, max_value=2**40),
)
def test_json_round_trip_property(
    subject: str, creation: int, members: list[GroupParticipant], subject_time: int | None
) -> None:
    value = GroupMetadata(
        GROUP, subject, None, creation, "lid", tuple(members), subject_time=subject_time
    )
    assert metadata_from_json(metadata_to_json(value)) == value


@pytest.mark.parametrize(
    "text",
    [
        b"\xff\xfe",
        "not json",
        "[]",
        "{}",
        json.dumps({**json.loads(metadata_to_json(meta())), "creation": "1795440144"}),
        json.dumps({**json.loads(metadata_to_json(meta())), "creation": True}),
        json.dumps({**json.loads(metadata_to_json(meta())), "participants": [["x", None]]}),
        json.dumps({**json.loads(metadata_to_json(meta())), "participants": [[1, None, 0, 0]]}),
        json.dumps({**json.loads(metadata_to_json(meta())), "subject": None}),
    ],
)
def test_json_that_is_not_metadata_is_a_corrupt_store(text: str | bytes) -> None:
    with pytest.raises(CorruptStoreError, match="group metadata"):
        metadata_from_json(text)
